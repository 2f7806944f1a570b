// A Responses request in the chat terms the rest of the server speaks: input items become chat
// messages (message items by role, function_call items the assistant's tool_calls,
// function_call_output items tool results, reasoning items the next assistant turn's
// reasoning_content), the flat function tools become chat tools, text.format becomes
// response_format, and what this server cannot do is refused with a 400 naming it.
import type { ChatMessage, ContentPart, ToolCall, ToolSpec } from "../tokenizer/chat-template.js";
import { badRequest } from "./errors.js";
import { newId } from "./generation.js";
import type { ContentPartIn, InputItem, ResponsesBody, ResponseTool, ResponseToolChoice } from "./responses-schema.js";
import { openaiGrammar, type ToolChoice } from "./structured.js";
import type { GrammarSpec } from "../structured/grammar.js";

/** An item as the Responses API lists it back (input_items, output), ids included. */
export type Item = Record<string, unknown> & { readonly type: string; readonly id: string };

export interface InputConversation {
  /** The items' chat messages, in order. */
  readonly messages: ChatMessage[];
  /** The items with ids and typed content parts, for input_items. */
  readonly items: Item[];
}

const ROLES = ["user", "system", "developer", "assistant"] as const;
const TEXT_PARTS = new Set(["input_text", "output_text", "text", "reasoning_text", "summary_text", "refusal"]);

/** Fields this server refuses when set, with why. */
export function refuseUnsupported(b: ResponsesBody): void {
  if (b.background === true) throw badRequest("background", "Background responses are not supported: this server answers within the request ('stream' shows progress).", "unsupported_parameter");
  if (b.conversation != null) throw badRequest("conversation", "The Conversations API is not served; chain responses with 'previous_response_id'.", "unsupported_parameter");
  if (b.prompt != null) throw badRequest("prompt", "Stored prompt templates are not served; send 'instructions' and 'input'.", "unsupported_parameter");
  if (b.moderation != null) throw badRequest("moderation", "Moderation is not served.", "unsupported_parameter");
  if (Array.isArray(b.context_management) && b.context_management.length > 0) {
    throw badRequest("context_management", "Context management (compaction) is not served.", "unsupported_parameter");
  }
  if ((b.top_logprobs ?? 0) > 0) throw badRequest("top_logprobs", "Log-probabilities are not served on /v1/responses yet; /v1/chat/completions has them.", "unsupported_parameter");
  // Reasoning comes back in the clear (reasoning items with content), so a client that asks
  // for the encrypted form to pass back with store: false can pass those items back instead.
  for (const [i, inc] of (b.include ?? []).entries()) {
    if (inc !== "reasoning.encrypted_content") throw badRequest(`include[${i}]`, `'${inc}' cannot be included: this server serves no ${inc.split(".")[0]} output.`, "unsupported_parameter");
  }
}

function partsText(parts: readonly ContentPartIn[], param: string): ContentPart[] {
  return parts.map((p, k) => {
    if (!TEXT_PARTS.has(p.type)) throw badRequest(`${param}[${k}].type`, `Content of type '${p.type}' is not supported: the model reads text only.`, "unsupported_value");
    const text = p.type === "refusal" ? ((p as { refusal?: unknown }).refusal ?? p.text) : p.text;
    if (typeof text !== "string") throw badRequest(`${param}[${k}].text`, `Missing required parameter: '${param}[${k}].text'.`, "missing_required_parameter");
    return { type: "text", text };
  });
}

/** A message's content for the chat template: one text as a string, several as a list of parts. */
function chatContent(content: string | readonly ContentPartIn[], param: string): string | ContentPart[] {
  if (typeof content === "string") return content;
  const parts = partsText(content, param);
  return parts.length === 1 ? (parts[0] as { text: string }).text : parts;
}

/** Content as the API lists it back: typed parts. */
function listedParts(content: string | readonly ContentPartIn[], type: string): ContentPartIn[] {
  return typeof content === "string" ? [{ type, text: content }] : content.map((p) => ({ ...p }));
}

function required<T>(v: T | null | undefined, param: string): T {
  if (v === null || v === undefined) throw badRequest(param, `Missing required parameter: '${param}'.`, "missing_required_parameter");
  return v;
}

/**
 * The chat messages and listed items of `input` (a string is one user message). `param` names
 * the list in errors. Calls and their outputs keep the caller's call_id, which ties a tool
 * result to its call in the template.
 */
export function inputConversation(input: string | readonly InputItem[], param = "input"): InputConversation {
  if (typeof input === "string") {
    return { messages: [{ role: "user", content: input }], items: [{ id: newId("msg_"), type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: input }] }] };
  }
  const messages: ChatMessage[] = [];
  const items: Item[] = [];
  const callNames = new Map<string, string>();
  let reasoning: string | null = null;
  // A call that follows an assistant's text or call (no other turn between) joins that turn:
  // the model wrote them as one.
  const assistant = (forCall: boolean): ChatMessage => {
    const last = messages[messages.length - 1];
    const joinable = forCall && last?.role === "assistant";
    const m: ChatMessage = joinable ? last! : { role: "assistant", content: null };
    if (!joinable) messages.push(m);
    if (reasoning !== null) m.reasoning_content = reasoning;
    reasoning = null;
    return m;
  };
  for (const [i, item] of input.entries()) {
    const at = `${param}[${i}]`;
    const type = item.type ?? (item.role != null ? "message" : null);
    if (type === "message") {
      const role = required(item.role, `${at}.role`);
      if (!(ROLES as readonly string[]).includes(role)) throw badRequest(`${at}.role`, `Invalid value for '${at}.role': expected one of ${ROLES.join(", ")}, got '${role.slice(0, 64)}'.`);
      const content = chatContent(required(item.content, `${at}.content`), `${at}.content`);
      if (role === "assistant") assistant(false).content = content;
      else messages.push({ role, content });
      items.push({ ...item, id: item.id ?? newId("msg_"), type, role, status: "completed", content: listedParts(item.content!, role === "assistant" ? "output_text" : "input_text") });
    } else if (type === "function_call") {
      const callId = required(item.call_id, `${at}.call_id`);
      const name = required(item.name, `${at}.name`);
      const args = required(item.arguments, `${at}.arguments`);
      const m = assistant(true);
      const call: ToolCall = { id: callId, type: "function", function: { name, arguments: args } };
      m.tool_calls = [...(m.tool_calls ?? []), call];
      callNames.set(callId, name);
      items.push({ ...item, id: item.id ?? newId("fc_"), type, status: "completed" });
    } else if (type === "function_call_output") {
      const callId = required(item.call_id, `${at}.call_id`);
      const output = chatContent(required(item.output, `${at}.output`), `${at}.output`);
      const name = callNames.get(callId);
      messages.push({ role: "tool", tool_call_id: callId, content: output, ...(name ? { name } : {}) });
      items.push({ ...item, id: item.id ?? newId("fco_"), type, status: "completed" });
    } else if (type === "reasoning") {
      const parts = item.content ?? item.summary ?? [];
      const text = typeof parts === "string" ? parts : partsText(parts, `${at}.content`).map((p) => (p as { text: string }).text).join("\n");
      reasoning = text;
      items.push({ ...item, id: item.id ?? newId("rs_"), type });
    } else if (type === "item_reference") {
      throw badRequest(`${at}.type`, "Item references are not supported: pass the item itself, or chain with 'previous_response_id'.", "unsupported_value");
    } else {
      const what = type === null ? `'${at}' has no 'type' (and no 'role')` : `Items of type '${String(type).slice(0, 64)}' are not supported`;
      throw badRequest(`${at}.type`, `${what}: this server takes message, function_call, function_call_output and reasoning items.`, "unsupported_value");
    }
  }
  return { messages, items };
}

/** The chat tools of the Responses' flat function tools; any other tool type is a 400. */
export function chatTools(tools: readonly ResponseTool[] | null | undefined): ToolSpec[] | undefined {
  if (!tools || tools.length === 0) return undefined;
  return tools.map((t, i) => {
    if (t.type !== "function") {
      throw badRequest(`tools[${i}].type`, `Tools of type '${t.type.slice(0, 64)}' are not supported: this server runs no hosted tools; give function tools.`, "unsupported_value");
    }
    const name = required(t.name, `tools[${i}].name`);
    return { type: "function", function: { name, ...(t.description != null ? { description: t.description } : {}), ...(t.parameters != null ? { parameters: t.parameters } : {}) } };
  });
}

/** The tools as a response echoes them. */
export function listedTools(tools: readonly ResponseTool[] | null | undefined): Record<string, unknown>[] {
  return (tools ?? []).map((t) => ({ type: "function", name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null }));
}

/** The chat tool_choice of a Responses one; hosted-tool and allowed-tools choices are a 400. */
export function chatToolChoice(choice: ResponseToolChoice | null | undefined): ToolChoice | undefined {
  if (choice === null || choice === undefined) return undefined;
  if (typeof choice === "string") return choice;
  if (choice.type !== "function") {
    throw badRequest("tool_choice.type", `'tool_choice' of type '${choice.type.slice(0, 64)}' is not supported: give 'none', 'auto', 'required' or a function.`, "unsupported_value");
  }
  return { type: "function", function: { name: required(choice.name, "tool_choice.name") } };
}

/** The output constraint: text.format, or SGLang's regex / ebnf extras, as on the chat route; null for text. */
export function responsesGrammar(b: ResponsesBody): { spec: GrammarSpec; param: string } | null {
  const f = b.text?.format;
  const responseFormat = f ? { type: f.type, ...(f.type === "json_schema" ? { json_schema: { name: f.name ?? undefined, schema: f.schema, strict: f.strict } } : {}) } : null;
  const g = openaiGrammar({ response_format: responseFormat, regex: b.regex, ebnf: b.ebnf });
  return g && g.param === "response_format" ? { spec: g.spec, param: "text.format" } : g;
}
