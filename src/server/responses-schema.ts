// The JSON schema of a /v1/responses body and its type as the handler reads it. The schema
// checks shapes and bounds (each a 400 naming the parameter); what an item of a given type
// must hold, and which fields this server refuses, responses-input.ts checks with messages
// of its own.
import { MAX_MODEL_LENGTH, MAX_TOOLS, sampling } from "./schema.js";

type Schema = Record<string, unknown>;

/** Items in `input` (messages, calls, call outputs), as many as a chat request's messages. */
export const MAX_INPUT_ITEMS = 10_000;
/** Content parts in one message or call output. */
export const MAX_CONTENT_PARTS = 1_000;
/** Characters of `instructions`. */
export const MAX_INSTRUCTIONS_LENGTH = 1 << 20;
/** Characters of an id a request names (previous_response_id, call_id, an item's id) or of a function name. */
export const MAX_ID_LENGTH = 256;
/** Characters of `user`, `safety_identifier` and `prompt_cache_key`. */
export const MAX_USER_LENGTH = 256;
/** OpenAI's bounds of `metadata`: 16 pairs, keys of at most 64 characters, values of at most 512. */
export const MAX_METADATA_ENTRIES = 16;
export const MAX_METADATA_KEY_LENGTH = 64;
export const MAX_METADATA_VALUE_LENGTH = 512;
/** Entries of `include`. */
export const MAX_INCLUDE = 16;

const opt = (type: string, description: string, extra: Schema = {}): Schema => ({ type: [type, "null"], description, ...extra });
const bool = opt("boolean", "a boolean");
const idString = opt("string", `a string of at most ${MAX_ID_LENGTH} characters`, { maxLength: MAX_ID_LENGTH });

/** The sampling fields of the chat routes that mean the same here (SGLang's extras included). */
const SAMPLING_FIELDS = ["model", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
  "seed", "stop", "stop_token_ids", "logit_bias", "ignore_eos", "min_tokens", "cache_salt", "regex", "ebnf"] as const;

const part: Schema = {
  type: "object",
  required: ["type"],
  description: "a content part",
  properties: { type: { type: "string", maxLength: 64, description: "a string" }, text: { type: "string", description: "a string" } },
};

const parts = (orNull: boolean): Schema => ({
  anyOf: [{ type: "string" }, { type: "array", maxItems: MAX_CONTENT_PARTS, items: part }, ...(orNull ? [{ type: "null" }] : [])],
  description: `a string or a list of at most ${MAX_CONTENT_PARTS} content parts`,
});

const inputItem: Schema = {
  type: "object",
  description: "an input item (a message, a function_call or a function_call_output)",
  properties: {
    type: opt("string", "an item type", { maxLength: 64 }),
    role: opt("string", "a role", { maxLength: 64 }),
    content: parts(true),
    id: idString,
    call_id: idString,
    name: idString,
    arguments: opt("string", "a JSON text"),
    output: parts(false),
    summary: opt("array", `a list of at most ${MAX_CONTENT_PARTS} summary parts`, { maxItems: MAX_CONTENT_PARTS, items: part }),
  },
};

const tool: Schema = {
  type: "object",
  required: ["type"],
  description: "a tool",
  properties: {
    type: { type: "string", maxLength: 64, description: "a string" },
    name: idString,
    description: opt("string", "a string"),
    parameters: opt("object", "a JSON schema (an object)"),
    strict: bool,
  },
};

const toolChoice: Schema = {
  anyOf: [
    { type: "string", enum: ["none", "auto", "required"] },
    { type: "object", required: ["type"], properties: { type: { type: "string", maxLength: 64 }, name: { type: "string", maxLength: MAX_ID_LENGTH } } },
    { type: "null" },
  ],
  description: "'none', 'auto', 'required' or {\"type\": \"function\", \"name\": ...}",
};

const textConfig: Schema = opt("object", "an object", {
  properties: {
    format: opt("object", "an object with 'type' text, json_object or json_schema", {
      required: ["type"],
      properties: {
        type: { type: "string", enum: ["text", "json_object", "json_schema"], description: "one of text, json_object, json_schema" },
        name: opt("string", "a string of at most 64 characters", { maxLength: 64 }),
        schema: { type: ["object", "boolean"], description: "a JSON schema (an object)" },
        strict: bool,
        description: opt("string", "a string"),
      },
      if: { properties: { type: { const: "json_schema" } } },
      then: { required: ["type", "schema"] },
    }),
    verbosity: opt("string", "one of low, medium, high", { enum: ["low", "medium", "high", null] }),
  },
});

const metadata: Schema = opt("object", `an object of at most ${MAX_METADATA_ENTRIES} string values`, {
  maxProperties: MAX_METADATA_ENTRIES,
  propertyNames: { maxLength: MAX_METADATA_KEY_LENGTH },
  additionalProperties: { type: "string", maxLength: MAX_METADATA_VALUE_LENGTH, description: `a string of at most ${MAX_METADATA_VALUE_LENGTH} characters` },
});

const user = opt("string", `a string of at most ${MAX_USER_LENGTH} characters`, { maxLength: MAX_USER_LENGTH });

export const responsesSchema = {
  type: "object",
  required: ["input"],
  description: "a JSON object",
  properties: {
    ...Object.fromEntries(SAMPLING_FIELDS.map((k) => [k, sampling[k]])),
    model: opt("string", `a string of at most ${MAX_MODEL_LENGTH} characters`, { maxLength: MAX_MODEL_LENGTH }),
    input: {
      anyOf: [{ type: "string" }, { type: "array", maxItems: MAX_INPUT_ITEMS, items: inputItem }],
      description: `a string or a list of at most ${MAX_INPUT_ITEMS} input items`,
    },
    instructions: opt("string", `a string of at most ${MAX_INSTRUCTIONS_LENGTH} characters`, { maxLength: MAX_INSTRUCTIONS_LENGTH }),
    max_output_tokens: opt("integer", "an integer >= 1", { minimum: 1 }),
    tools: opt("array", `a list of at most ${MAX_TOOLS} tools`, { maxItems: MAX_TOOLS, items: tool }),
    tool_choice: toolChoice,
    parallel_tool_calls: bool,
    text: textConfig,
    reasoning: opt("object", "an object", {
      properties: { effort: opt("string", "a string", { maxLength: 64 }), summary: opt("string", "a string", { maxLength: 64 }), generate_summary: opt("string", "a string", { maxLength: 64 }) },
    }),
    stream: bool,
    stream_options: opt("object", "an object"),
    store: bool,
    background: bool,
    previous_response_id: idString,
    metadata,
    user,
    safety_identifier: user,
    prompt_cache_key: user,
    truncation: opt("string", "'auto' or 'disabled'", { enum: ["auto", "disabled", null] }),
    include: opt("array", `a list of at most ${MAX_INCLUDE} strings`, { maxItems: MAX_INCLUDE, items: { type: "string", maxLength: 128 } }),
    service_tier: opt("string", "a string", { maxLength: 64 }),
    top_logprobs: opt("integer", "an integer in [0, 20]", { minimum: 0, maximum: 20 }),
    chat_template_kwargs: opt("object", "an object"),
  },
} satisfies Schema;

export interface ContentPartIn {
  type: string;
  text?: string;
}

export interface InputItem {
  type?: string | null;
  role?: string | null;
  content?: string | ContentPartIn[] | null;
  id?: string | null;
  call_id?: string | null;
  name?: string | null;
  arguments?: string | null;
  output?: string | ContentPartIn[];
  summary?: ContentPartIn[] | null;
}

export interface ResponseTool {
  type: string;
  name?: string | null;
  description?: string | null;
  parameters?: Record<string, unknown> | null;
  strict?: boolean | null;
}

export type ResponseToolChoice = "none" | "auto" | "required" | { type: string; name?: string };

export interface TextFormat {
  type: "text" | "json_object" | "json_schema";
  name?: string | null;
  schema?: Record<string, unknown> | boolean;
  strict?: boolean | null;
  description?: string | null;
}

export interface ResponsesBody extends Omit<import("./schema.js").SamplingBody, "n" | "max_tokens" | "stream_options" | "user"> {
  input: string | InputItem[];
  instructions?: string | null;
  max_output_tokens?: number | null;
  tools?: ResponseTool[] | null;
  tool_choice?: ResponseToolChoice | null;
  parallel_tool_calls?: boolean | null;
  text?: { format?: TextFormat | null; verbosity?: string | null } | null;
  reasoning?: { effort?: string | null; summary?: string | null; generate_summary?: string | null } | null;
  store?: boolean | null;
  background?: boolean | null;
  previous_response_id?: string | null;
  metadata?: Record<string, string> | null;
  user?: string | null;
  safety_identifier?: string | null;
  prompt_cache_key?: string | null;
  truncation?: "auto" | "disabled" | null;
  include?: string[] | null;
  service_tier?: string | null;
  top_logprobs?: number | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  conversation?: unknown;
  prompt?: unknown;
  context_management?: unknown;
  moderation?: unknown;
}
