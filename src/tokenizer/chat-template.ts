// Chat templates: turn OpenAI-shaped chat messages into the prompt string a model was trained
// on, by running the model's Jinja chat template the way HF transformers' apply_chat_template
// does (same variables, same globals), on the @huggingface/jinja interpreter.
//
// Real templates disagree on small conventions: whether tool-call arguments are an object or a
// JSON string, whether a tool-call turn may have null content, whether `tools` must be a list
// even when there are none, whether content may be a list of parts. Rather than keep a table of
// model names, the constructor renders a few probe conversations and records what the template
// accepts (`TemplateCapabilities`); render() then shapes each request to fit. llama.cpp's minja
// does the same.

import { Environment, Interpreter, Template } from "@huggingface/jinja";

export interface TextContentPart {
  type: "text";
  text: string;
}

/** A non-text part (image_url, input_audio, ...), passed through to templates that take lists. */
export interface OtherContentPart {
  type: string;
  [key: string]: unknown;
}

export type ContentPart = TextContentPart | OtherContentPart;

export interface ToolCall {
  id?: string;
  type: "function";
  function: {
    name: string;
    /** A JSON string (the OpenAI wire format) or the parsed object. */
    arguments: string | Record<string, unknown>;
  };
}

export type ChatRole = "system" | "user" | "assistant" | "tool" | (string & {});

export interface ChatMessage {
  role: ChatRole;
  content: string | null | ContentPart[];
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  reasoning_content?: string;
}

export interface ToolSpec {
  type: "function";
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments object. */
    parameters?: Record<string, unknown>;
  };
}

/** Special-token texts; each one given is visible to the template as `bos_token`, `eos_token`, ... */
export interface SpecialTokens {
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  sepToken?: string;
  clsToken?: string;
  maskToken?: string;
}

export interface RenderOptions {
  /** End the prompt with the header of an assistant turn (HF `add_generation_prompt`). Default false. */
  addGenerationPrompt?: boolean;
  /** Tools the model may call. An empty list is the same as none. */
  tools?: ToolSpec[];
  /** Further template variables: enable_thinking, custom_tools, tools_in_user_message, documents, ... */
  extra?: Record<string, unknown>;
  /** The clock behind strftime_now and the date variables. Default: now. */
  now?: Date;
}

/** What a template accepts, found by probe renders at construction. */
export interface TemplateCapabilities {
  /** A leading system message renders (false for Gemma, which raises). */
  readonly systemRole: boolean;
  /** A `tools` list shows up in the prompt. */
  readonly tools: boolean;
  /** An assistant turn with tool_calls shows its arguments. */
  readonly toolCalls: boolean;
  /** Tool-call arguments are given as objects (HF convention); false: as JSON strings. */
  readonly objectArguments: boolean;
  /** A tool-call turn may have content null; false: null content is sent as "". */
  readonly nullContent: boolean;
  /** Content may be a plain string. */
  readonly stringContent: boolean;
  /** Content may be a list of parts ({type: "text", text}, ...). */
  readonly typedContent: boolean;
  /** The template loops over `tools` unconditionally, so "no tools" is sent as [] rather than left undefined. */
  readonly toolsAlwaysList: boolean;
}

export type ChatTemplateErrorKind =
  | "parse"  // the template source is not valid Jinja
  | "raised" // the template called raise_exception: the message is the template's own
  | "render" // the template failed while running (bad variable, unsupported operation)
  | "input"; // the request cannot be given to this template

export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
  constructor(readonly kind: ChatTemplateErrorKind, message: string) {
    super(message);
  }
}

/**
 * Template variables that some templates read but HF does not pass (the caller has to), filled
 * in here when the template's source names them and `extra` does not set them.
 */
const derivedVariables: Record<string, (tools: ToolSpec[] | undefined, now: Date) => string> = {
  // Llama 3.x: "Today Date: 26 Jul 2024" (3.1/3.3 fall back to that fixed date without it).
  date_string: (_tools, now) => strftime(now, "%d %b %Y", false),
  // Firefunction v2: the date line and the tool list as JSON (its template ignores `tools`).
  datetime: (_tools, now) => strftime(now, "%b %d %Y %H:%M:%S GMT", true),
  functions: (tools) => (tools?.length ? JSON.stringify(tools, null, 2) : ""),
};

const reservedVariables = new Set([
  "messages", "tools", "add_generation_prompt",
  "raise_exception", "strftime_now", "range", "namespace",
  "true", "false", "none", "True", "False", "None",
]);

/**
 * A model's chat template. Like HF's apply_chat_template, render() gives the template `messages`,
 * `add_generation_prompt`, `tools` (left undefined when there are none), the special tokens
 * (`bos_token`, `eos_token`, ...) and the globals `raise_exception`, `strftime_now`, `range`,
 * `namespace`; `custom_tools`, `tools_in_user_message`, `enable_thinking`, `documents` and the
 * like are not set unless `extra` sets them, so each template's own defaults apply (Llama 3.x:
 * tools go in the first user message). A template that rejects a conversation (Gemma and a system
 * turn) throws its own message as a ChatTemplateError of kind "raised", as HF lets it through.
 */
export class ChatTemplate {
  readonly capabilities: TemplateCapabilities;
  private readonly template: Template;
  private readonly tokenVariables: Record<string, string>;
  private readonly derived: string[];

  constructor(readonly source: string, tokens: SpecialTokens = {}) {
    try {
      this.template = new Template(source);
    } catch (err) {
      // The parser crashes with a TypeError when it runs out of tokens inside an open block.
      const why = err instanceof TypeError ? "unexpected end of template (is a block left open?)" : oneLine(err);
      throw new ChatTemplateError("parse", `chat template failed to parse: ${why}`);
    }
    tuplesToLists(this.template.parsed, false);
    // HF passes every special token the tokenizer has; a missing bos/eos becomes "" so that
    // `bos_token + ...` still works.
    this.tokenVariables = {
      bos_token: tokens.bosToken ?? "",
      eos_token: tokens.eosToken ?? "",
    };
    const rest = { unk_token: tokens.unkToken, pad_token: tokens.padToken, sep_token: tokens.sepToken,
      cls_token: tokens.clsToken, mask_token: tokens.maskToken };
    for (const [name, text] of Object.entries(rest)) if (text !== undefined) this.tokenVariables[name] = text;
    this.derived = Object.keys(derivedVariables).filter((name) => new RegExp(`\\b${name}\\b`).test(source));
    const now = new Date();
    this.capabilities = probeCapabilities((messages, tools) => {
      try {
        return this.run(this.variables(messages, tools, false, {}, now), now);
      } catch {
        return undefined;
      }
    });
  }

  /** Renders the conversation; throws ChatTemplateError when the template rejects it. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const now = options.now ?? new Date();
    const tools = options.tools?.length ? options.tools : this.capabilities.toolsAlwaysList ? [] : undefined;
    const extra = options.extra ?? {};
    for (const name of Object.keys(extra)) {
      if (reservedVariables.has(name)) {
        throw new ChatTemplateError("input", `extra template variable "${name}" is reserved; pass it through render's own arguments`);
      }
    }
    const converted = messages.map((m) => this.templateMessage(m));
    const vars = this.variables(converted, tools, options.addGenerationPrompt ?? false, extra, now);
    try {
      return this.run(vars, now);
    } catch (err) {
      if (err instanceof ChatTemplateError) throw err;
      throw new ChatTemplateError("render", `chat template failed to render: ${oneLine(err)}`);
    }
  }

  private variables(messages: unknown[], tools: ToolSpec[] | undefined, addGenerationPrompt: boolean,
    extra: Record<string, unknown>, now: Date): Record<string, unknown> {
    const vars: Record<string, unknown> = { ...this.tokenVariables };
    for (const name of this.derived) vars[name] = derivedVariables[name]!(tools, now);
    Object.assign(vars, extra);
    vars.messages = messages;
    vars.add_generation_prompt = addGenerationPrompt;
    // HF passes None without tools; here `tools` stays undefined, which the `is defined`,
    // `is none` and `if tools` tests of real templates treat the same way.
    if (tools) vars.tools = tools;
    return vars;
  }

  private run(vars: Record<string, unknown>, now: Date): string {
    const env = new Environment();
    env.set("true", true);
    env.set("false", false);
    env.set("none", null);
    env.set("True", true);
    env.set("False", false);
    env.set("None", null);
    env.set("range", range);
    env.set("raise_exception", (message: unknown) => {
      throw new ChatTemplateError("raised", String(message));
    });
    env.set("strftime_now", (format: unknown) => strftime(now, String(format), false));
    for (const [name, value] of Object.entries(vars)) {
      if (value !== undefined) env.set(name, value);
    }
    const result = new Interpreter(env).run(this.template.parsed).value;
    return typeof result === "string" ? result : String(result);
  }

  /** The message as the template wants it: only the keys that are set, content and arguments reshaped. */
  private templateMessage(m: ChatMessage): Record<string, unknown> {
    const caps = this.capabilities;
    const out: Record<string, unknown> = { role: m.role, content: this.templateContent(m) };
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((call) => ({
        ...(call.id !== undefined ? { id: call.id } : {}),
        type: call.type,
        function: { name: call.function.name, arguments: templateArguments(call.function.arguments, caps.objectArguments) },
      }));
    }
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.reasoning_content !== undefined) out.reasoning_content = m.reasoning_content;
    return out;
  }

  private templateContent(m: ChatMessage): string | null | ContentPart[] {
    const caps = this.capabilities;
    const content = m.content;
    if (content === null) return caps.nullContent ? null : "";
    if (typeof content === "string") {
      return caps.stringContent || !caps.typedContent ? content : [{ type: "text", text: content }];
    }
    if (caps.typedContent) return content;
    // Text-only template: join the text parts, as vLLM does.
    const texts = content.map((part) => {
      if (!isTextPart(part)) {
        throw new ChatTemplateError("input", `a ${m.role} message has a "${part.type}" content part, which this chat template cannot show`);
      }
      return part.text;
    });
    return texts.join("\n");
  }
}

/**
 * The ChatML source (`<|im_start|>role\n...<|im_end|>`) used for models that ship no chat
 * template, as HF transformers did before templates became mandatory. Tools and tool calls use
 * the Hermes/Qwen convention: a <tools> list in the system turn, <tool_call> JSON in assistant
 * turns, results in `tool` turns.
 */
export const CHATML_TEMPLATE = `{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages and messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}
{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' + tool | tojson }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if not (tools and loop.first and message['role'] == 'system') %}
{{- '<|im_start|>' + message['role'] + '\\n' }}
{%- if message['content'] %}{{- message['content'] }}{%- endif %}
{%- if message['tool_calls'] is defined %}
{%- for call in message['tool_calls'] %}
{%- if message['content'] or not loop.first %}{{- '\\n' }}{%- endif %}
{{- '<tool_call>\\n{"name": "' + call['function']['name'] + '", "arguments": ' + call['function']['arguments'] | tojson + '}\\n</tool_call>' }}
{%- endfor %}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;

/** A ChatML template (see CHATML_TEMPLATE) for models without one of their own. */
export function defaultChatTemplate(tokens: SpecialTokens = {}): ChatTemplate {
  return new ChatTemplate(CHATML_TEMPLATE, tokens);
}

// --- probes ------------------------------------------------------------------------------

const userNeedle = "probe user text";
const systemNeedle = "probe system text";
const probeTool = "probe_tool_name";
const argumentNeedles = [`"probe_argument":`, `'probe_argument':`];

type TryRender = (messages: unknown[], tools: ToolSpec[] | undefined) => string | undefined;

function probeCapabilities(tryRender: TryRender): TemplateCapabilities {
  const strUser = { role: "user", content: userNeedle };
  const partsUser = { role: "user", content: [{ type: "text", text: userNeedle }] };
  const toolsAlwaysList = tryRender([strUser], undefined) === undefined && tryRender([partsUser], undefined) === undefined
    && (tryRender([strUser], []) !== undefined || tryRender([partsUser], []) !== undefined);
  const plain = (messages: unknown[]) => tryRender(messages, toolsAlwaysList ? [] : undefined);

  const stringContent = plain([strUser])?.includes(userNeedle) ?? false;
  const typedOut = plain([partsUser]);
  const typedContent = (typedOut?.includes(userNeedle) ?? false) && !/["']type["']/.test(typedOut ?? "");
  const user = stringContent || !typedContent ? strUser : partsUser;
  const systemRole = plain([{ role: "system", content: systemNeedle }, user])?.includes(systemNeedle) ?? false;

  const spec: ToolSpec = { type: "function", function: { name: probeTool, description: "probe",
    parameters: { type: "object", properties: { probe_argument: { type: "string", description: "probe" } }, required: ["probe_argument"] } } };
  const tools = tryRender([user], [spec])?.includes(probeTool) ?? false;

  // Prefer object arguments (HF convention) and null content (OpenAI); take the first pairing
  // under which the arguments show up unescaped.
  const args = { probe_argument: "probe value" };
  for (const [objectArguments, nullContent] of [[true, true], [false, true], [true, false], [false, false]] as const) {
    const call = { id: "call12345", type: "function", function: { name: probeTool, arguments: objectArguments ? args : JSON.stringify(args) } };
    const out = plain([user, { role: "assistant", content: nullContent ? null : "", tool_calls: [call] }]);
    if (out !== undefined && argumentNeedles.some((needle) => out.includes(needle))) {
      return { systemRole, tools, toolCalls: true, objectArguments, nullContent, stringContent, typedContent, toolsAlwaysList };
    }
  }
  const nullContent = plain([user, { role: "assistant", content: null }]) !== undefined
    || plain([user, { role: "assistant", content: "" }]) === undefined;
  return { systemRole, tools, toolCalls: false, objectArguments: true, nullContent, stringContent, typedContent, toolsAlwaysList };
}

// --- helpers -----------------------------------------------------------------------------

function isTextPart(part: ContentPart): part is TextContentPart {
  return part.type === "text" && typeof part.text === "string";
}

/** Parses JSON-string arguments into an object for templates that want one (keeping a string that is not a JSON object), or serializes objects for templates that want strings. */
function templateArguments(args: string | Record<string, unknown>, asObject: boolean): string | Record<string, unknown> {
  if (!asObject) return typeof args === "string" ? args : JSON.stringify(args);
  if (typeof args !== "string") return args;
  try {
    const parsed: unknown = JSON.parse(args);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: the template gets the raw string
  }
  return args;
}

/**
 * Works around @huggingface/jinja 0.5.x, which evaluates a tuple literal to a TupleValue that
 * `for a, b in [("x", "X")]` then refuses to unpack (functionary v3.2 does this): tuple literals
 * used as values become list literals. Loop variables and set targets stay tuples.
 */
function tuplesToLists(node: unknown, isTarget: boolean): void {
  if (node instanceof Map) {
    for (const [key, value] of node) {
      tuplesToLists(key, false);
      tuplesToLists(value, false);
    }
  } else if (Array.isArray(node)) {
    for (const child of node) tuplesToLists(child, false);
  } else if (typeof node === "object" && node !== null) {
    const record = node as Record<string, unknown>;
    if (record.type === "TupleLiteral" && !isTarget) record.type = "ArrayLiteral";
    for (const [key, child] of Object.entries(record)) {
      tuplesToLists(child, (key === "loopvar" && record.type === "For") || (key === "assignee" && record.type === "Set"));
    }
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** Python's range(stop) / range(start, stop[, step]). */
function range(...args: unknown[]): number[] {
  const nums = args.filter((a): a is number => typeof a === "number");
  const [start, stop, step] = nums.length === 1 ? [0, nums[0]!, 1] : [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 1];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];

/** Python's strftime in the C locale, for the directives templates use; local time unless utc. */
function strftime(date: Date, format: string, utc: boolean): string {
  const year = utc ? date.getUTCFullYear() : date.getFullYear();
  const month = utc ? date.getUTCMonth() : date.getMonth();
  const day = utc ? date.getUTCDate() : date.getDate();
  const weekday = utc ? date.getUTCDay() : date.getDay();
  const hours = utc ? date.getUTCHours() : date.getHours();
  const minutes = utc ? date.getUTCMinutes() : date.getMinutes();
  const seconds = utc ? date.getUTCSeconds() : date.getSeconds();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const dayOfYear = Math.floor((Date.UTC(year, month, day) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
  return format.replace(/%([aAbBdjmyYHIMSpe%])/g, (_match, directive: string) => {
    switch (directive) {
      case "a": return dayNames[weekday]!.slice(0, 3);
      case "A": return dayNames[weekday]!;
      case "b": return monthNames[month]!.slice(0, 3);
      case "B": return monthNames[month]!;
      case "d": return pad(day);
      case "e": return String(day).padStart(2, " ");
      case "j": return pad(dayOfYear, 3);
      case "m": return pad(month + 1);
      case "y": return pad(year % 100);
      case "Y": return String(year);
      case "H": return pad(hours);
      case "I": return pad(hours % 12 === 0 ? 12 : hours % 12);
      case "M": return pad(minutes);
      case "S": return pad(seconds);
      case "p": return hours < 12 ? "AM" : "PM";
      default: return "%";
    }
  });
}
