// Tool calls in model output: which format a model family writes, the grammar that forces a
// valid call (tool_choice "required" or a named function), and the parsers that turn the
// text into OpenAI `tool_calls`, whole or while it streams.
//
// Formats:
// - hermes (Qwen 2.5/3, Hermes, ChatML default): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, repeated;
// - llama3 (Llama 3.1-3.3 JSON tool calling): the whole answer is `{"name": ..., "parameters": {...}}`;
// - mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]` ([TOOL_CALLS] is a control
//   token that the detokenizer drops, so a bare leading JSON array counts too).
import type { ToolSpec } from "../tokenizer/chat-template.js";
import type { GrammarSpec } from "./grammar.js";

export type ToolCallFormat = "hermes" | "llama3" | "mistral";

export interface ParsedToolCall {
  readonly name: string;
  /** The arguments as a JSON text (what OpenAI's `function.arguments` holds). */
  readonly arguments: string;
}

export interface ParsedOutput {
  /** Text outside the calls; null when there is none. */
  readonly content: string | null;
  readonly calls: ParsedToolCall[];
}

/** The format a chat template's model writes, from the template text. */
export function toolCallFormat(template: string | null): ToolCallFormat {
  if (template === null) return "hermes";
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  if (template.includes("<tool_call>")) return "hermes";
  if (template.includes("<|python_tag|>") || template.includes("ipython")) return "llama3";
  return "hermes";
}

const argsSchema = (t: ToolSpec): Record<string, unknown> => t.function.parameters ?? { type: "object" };

/**
 * The grammar of exactly one valid call of one of `tools` (all of them for "required", the
 * named one otherwise), in the model's format.
 */
export function toolCallGrammar(format: ToolCallFormat, tools: readonly ToolSpec[]): GrammarSpec {
  const argKey = format === "llama3" ? "parameters" : "arguments";
  const one = (t: ToolSpec): Record<string, unknown> => ({
    type: "object",
    properties: { name: { const: t.function.name }, [argKey]: argsSchema(t) },
    required: ["name", argKey],
  });
  const call = tools.length === 1 ? one(tools[0]!) : { anyOf: tools.map(one) };
  switch (format) {
    case "hermes":
      return { kind: "json_schema", schema: call, prefix: "<tool_call>\n", suffix: "\n</tool_call>" };
    case "llama3":
      return { kind: "json_schema", schema: call };
    case "mistral":
      return { kind: "json_schema", schema: { type: "array", items: call, minItems: 1, maxItems: 1 }, prefix: "[TOOL_CALLS]" };
  }
}

function asCall(v: unknown, names: ReadonlySet<string>): ParsedToolCall | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const args = o.arguments ?? o.parameters ?? {};
  if (typeof o.name !== "string" || !names.has(o.name)) return null;
  if (typeof args === "string") return { name: o.name, arguments: args };
  if (args === null || typeof args !== "object" || Array.isArray(args)) return null;
  return { name: o.name, arguments: JSON.stringify(args) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const TAG_OPEN = "<tool_call>";
const TAG_CLOSE = "</tool_call>";

/** Splits a finished output into content and tool calls (names must be among `names`). */
export function parseToolCalls(format: ToolCallFormat, text: string, names: ReadonlySet<string>): ParsedOutput {
  const none: ParsedOutput = { content: text, calls: [] };
  if (format === "hermes") {
    const calls: ParsedToolCall[] = [];
    let content = "";
    let at = 0;
    for (;;) {
      const open = text.indexOf(TAG_OPEN, at);
      if (open < 0) break;
      const close = text.indexOf(TAG_CLOSE, open);
      const body = text.slice(open + TAG_OPEN.length, close < 0 ? text.length : close);
      const call = asCall(parseJson(body.trim()), names);
      if (!call) break;
      content += text.slice(at, open);
      calls.push(call);
      at = close < 0 ? text.length : close + TAG_CLOSE.length;
    }
    if (calls.length === 0) return none;
    content += text.slice(at);
    return { content: content.trim() === "" ? null : content.trim(), calls };
  }
  const trimmed = text.trim();
  if (format === "mistral") {
    const body = trimmed.startsWith("[TOOL_CALLS]") ? trimmed.slice("[TOOL_CALLS]".length).trim() : trimmed;
    const v = parseJson(body);
    if (!Array.isArray(v)) return none;
    const calls = v.map((c) => asCall(c, names));
    return calls.length > 0 && calls.every((c) => c !== null) ? { content: null, calls: calls as ParsedToolCall[] } : none;
  }
  const body = trimmed.startsWith("<|python_tag|>") ? trimmed.slice("<|python_tag|>".length) : trimmed;
  const v = parseJson(body);
  const list = Array.isArray(v) ? v : [v];
  const calls = list.map((c) => asCall(c, names));
  return calls.length > 0 && calls.every((c) => c !== null) ? { content: null, calls: calls as ParsedToolCall[] } : none;
}

/**
 * Streams content while no tool call can have begun, and holds the rest back for
 * parseToolCalls at the end: for hermes, from the first "<tool_call>" (or a partial one at
 * the end of the text so far); for the JSON formats, from a first non-space "{" or "[".
 */
export class ToolCallStreamer {
  private text = "";
  private sent = 0;
  private held = false;

  constructor(private readonly format: ToolCallFormat) {}

  /** Adds a text delta; returns the content that can go out now. */
  push(delta: string): string {
    this.text += delta;
    if (this.held) return "";
    if (this.format !== "hermes") {
      const lead = this.text.trimStart();
      if (lead === "") return "";
      if (this.sent === 0 && (lead.startsWith("{") || lead.startsWith("[") || lead.startsWith("<|python_tag|>"))) {
        this.held = true;
        return "";
      }
      return this.release(this.text.length);
    }
    const open = this.text.indexOf(TAG_OPEN, this.sent);
    if (open >= 0) {
      this.held = true;
      return this.release(open);
    }
    // Keep back a tail that could still become "<tool_call>".
    let keep = 0;
    for (let k = Math.min(TAG_OPEN.length - 1, this.text.length - this.sent); k > 0; k--) {
      if (TAG_OPEN.startsWith(this.text.slice(this.text.length - k))) {
        keep = k;
        break;
      }
    }
    return this.release(this.text.length - keep);
  }

  /** At the end: the calls, and the content not yet sent (null when none). */
  finish(names: ReadonlySet<string>): ParsedOutput {
    const rest = this.text.slice(this.sent);
    const parsed = parseToolCalls(this.format, rest, names);
    if (parsed.calls.length === 0) return { content: rest === "" ? null : rest, calls: [] };
    return parsed;
  }

  private release(end: number): string {
    const out = this.text.slice(this.sent, end);
    this.sent = end;
    return out;
  }
}
