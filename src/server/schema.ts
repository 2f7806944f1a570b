// JSON schemas of the request bodies, checked by fastify (ajv) before a handler runs. Each
// parameter carries a `description` of what it may be: errors.ts quotes it, so a bad value
// gets a message naming the parameter and what it should have been. Unknown fields are
// ignored, as OpenAI does; null is accepted wherever a field is optional.
import { CHAT_ROLES } from "../engine/chat.js";

type Schema = Record<string, unknown>;

// Bounds of what a body may hold, beyond the body size (--max-body-bytes) and the engine's own
// checks (context length, cache_salt, stop strings, prompts × n): each is a 400 naming the
// parameter. The README's Serving section lists them.
/** Messages in one chat request (far above any real conversation). */
export const MAX_MESSAGES = 10_000;
/** Tools in one chat request. */
export const MAX_TOOLS = 512;
/** Prompts in one request (a list of texts or of token id lists). */
export const MAX_PROMPTS = 128;
/** Characters of a request id (`rid`): kept while the request runs and echoed in its output. */
export const MAX_RID_LENGTH = 256;
/** Characters of `model`: echoed in the 404 for an unknown one (a served name or the model's path). */
export const MAX_MODEL_LENGTH = 4096;
/** Roles a chat message may have (the engine checks its own `messages` inputs against the same list). */
export { CHAT_ROLES };

const opt = (type: string, description: string, extra: Schema = {}): Schema => ({ type: [type, "null"], description, ...extra });
const num = (description: string, extra: Schema = {}): Schema => opt("number", description, extra);
const int = (description: string, extra: Schema = {}): Schema => opt("integer", description, extra);
const bool = opt("boolean", "a boolean");
const str = opt("string", "a string");

/** Sampling fields shared by the OpenAI routes (SGLang's extras included). */
export const sampling: Schema = {
  model: opt("string", `a string of at most ${MAX_MODEL_LENGTH} characters`, { maxLength: MAX_MODEL_LENGTH }),
  temperature: num("a number in [0, 2]", { minimum: 0, maximum: 2 }),
  top_p: num("a number in (0, 1]", { exclusiveMinimum: 0, maximum: 1 }),
  top_k: int("an integer >= -1 (0 or -1: no cut)", { minimum: -1 }),
  min_p: num("a number in [0, 1]", { minimum: 0, maximum: 1 }),
  repetition_penalty: num("a number > 0", { exclusiveMinimum: 0 }),
  presence_penalty: num("a number in [-2, 2]", { minimum: -2, maximum: 2 }),
  frequency_penalty: num("a number in [-2, 2]", { minimum: -2, maximum: 2 }),
  n: int("an integer in [1, 128]", { minimum: 1, maximum: 128 }),
  max_tokens: int("an integer >= 1", { minimum: 1 }),
  min_tokens: int("an integer >= 0", { minimum: 0 }),
  seed: int("an integer"),
  stop: {
    anyOf: [{ type: "string", minLength: 1 }, { type: "array", items: { type: "string", minLength: 1 }, maxItems: 16 }, { type: "null" }],
    description: "a non-empty string or a list of at most 16 of them",
  },
  stop_token_ids: { anyOf: [{ type: "array", items: { type: "integer", minimum: 0 } }, { type: "null" }], description: "a list of token ids" },
  logit_bias: opt("object", "an object mapping token ids to numbers in [-100, 100]", {
    additionalProperties: { type: "number", minimum: -100, maximum: 100, description: "a number in [-100, 100]" },
  }),
  ignore_eos: bool,
  stream: bool,
  stream_options: opt("object", "an object", { properties: { include_usage: bool } }),
  user: str,
  cache_salt: str,
  // SGLang's extras: the output matches a regular expression or an EBNF grammar.
  regex: opt("string", "a regular expression"),
  ebnf: opt("string", "an EBNF grammar"),
};

const responseFormat: Schema = opt("object", "an object", {
  required: ["type"],
  properties: {
    type: { type: "string", enum: ["text", "json_object", "json_schema"], description: "one of text, json_object, json_schema" },
    json_schema: opt("object", "an object with 'name' and 'schema'", {
      properties: { name: { type: "string", description: "a string" }, schema: { type: ["object", "boolean"], description: "a JSON schema (an object)" },
        strict: bool, description: str },
    }),
  },
});

const toolChoice: Schema = {
  anyOf: [
    { type: "string", enum: ["none", "auto", "required"] },
    { type: "object", required: ["function"], properties: { type: { type: "string" }, function: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } },
    { type: "null" },
  ],
  description: "'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}",
};

const contentPart: Schema = {
  type: "object",
  required: ["type"],
  properties: { type: { type: "string" }, text: { type: "string" } },
};

const message: Schema = {
  type: "object",
  required: ["role"],
  description: "a message object",
  properties: {
    role: { type: "string", enum: CHAT_ROLES, description: `one of ${CHAT_ROLES.join(", ")}` },
    content: {
      anyOf: [{ type: "string" }, { type: "null" }, { type: "array", items: contentPart }],
      description: "a string, null or a list of content parts",
    },
    name: str,
    tool_calls: opt("array", "a list of tool calls", {
      items: {
        type: "object",
        required: ["function"],
        properties: {
          id: { type: "string" },
          type: { type: "string" },
          function: {
            type: "object",
            required: ["name"],
            properties: { name: { type: "string" }, arguments: { anyOf: [{ type: "string" }, { type: "object" }] } },
          },
        },
      },
    }),
    tool_call_id: str,
    reasoning_content: str,
  },
};

const tool: Schema = {
  type: "object",
  required: ["function"],
  properties: {
    type: { type: "string" },
    function: {
      type: "object",
      required: ["name"],
      properties: { name: { type: "string" }, description: { type: "string" }, parameters: { type: "object" } },
    },
  },
};

export const chatSchema = {
  type: "object",
  required: ["messages"],
  description: "a JSON object",
  properties: {
    ...sampling,
    messages: { type: "array", minItems: 1, maxItems: MAX_MESSAGES, items: message, description: `a non-empty list of at most ${MAX_MESSAGES} messages` },
    max_completion_tokens: int("an integer >= 1", { minimum: 1 }),
    logprobs: bool,
    top_logprobs: int("an integer in [0, 20]", { minimum: 0, maximum: 20 }),
    tools: opt("array", `a list of at most ${MAX_TOOLS} tools`, { items: tool, maxItems: MAX_TOOLS }),
    tool_choice: toolChoice,
    parallel_tool_calls: bool,
    response_format: responseFormat,
    chat_template_kwargs: opt("object", "an object"),
    // OpenAI's predicted outputs: speculative decoding drafts from it first.
    prediction: opt("object", `{"type": "content", "content": text or a list of text parts}`, {
      required: ["type", "content"],
      properties: {
        type: { type: "string", enum: ["content"], description: `"content"` },
        content: { anyOf: [{ type: "string" }, { type: "array", items: contentPart }], description: "a string or a list of text parts" },
      },
    }),
  },
} satisfies Schema;

export const completionSchema: Schema = {
  type: "object",
  required: ["prompt"],
  description: "a JSON object",
  properties: {
    ...sampling,
    // 0 only computes (and caches) the prompt, as SGLang and OpenAI's legacy completions allow.
    max_tokens: int("an integer >= 0", { minimum: 0 }),
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", minItems: 1, maxItems: MAX_PROMPTS, items: { type: "string" } },
        { type: "array", minItems: 1, items: { type: "integer" } },
        { type: "array", minItems: 1, maxItems: MAX_PROMPTS, items: { type: "array", minItems: 1, items: { type: "integer" } } },
      ],
      description: `a string, a list of strings, a list of token ids or a list of token id lists (at most ${MAX_PROMPTS} prompts)`,
    },
    logprobs: int("an integer in [0, 20]", { minimum: 0, maximum: 20 }),
    echo: bool,
    best_of: int("an integer >= 1", { minimum: 1 }),
    suffix: str,
    response_format: responseFormat,
  },
};

/** Fields of the OpenAI sampling block, as the handlers read them (after validation). */
export interface SamplingBody {
  model?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  n?: number | null;
  max_tokens?: number | null;
  min_tokens?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  logit_bias?: Record<string, number> | null;
  ignore_eos?: boolean | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  user?: string | null;
  cache_salt?: string | null;
  regex?: string | null;
  ebnf?: string | null;
}

export interface ChatBody extends SamplingBody {
  messages: import("../tokenizer/chat-template.js").ChatMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  tools?: import("../tokenizer/chat-template.js").ToolSpec[] | null;
  tool_choice?: import("./structured.js").ToolChoice | null;
  parallel_tool_calls?: boolean | null;
  response_format?: import("./structured.js").ResponseFormat | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  prediction?: { type: "content"; content: string | { type: string; text?: string }[] } | null;
}

export interface CompletionBody extends SamplingBody {
  prompt: string | string[] | number[] | number[][];
  logprobs?: number | null;
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
  response_format?: import("./structured.js").ResponseFormat | null;
}
