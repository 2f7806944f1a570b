// Tool calls in model output: which format a model family writes, the grammars that force
// valid calls (tool_choice "required" or a named function), and the whole-output parser
// (the streaming one is tool-call-stream.ts; this one runs it over the finished text).
//
// Formats, and how each writes several calls in one message:
// - hermes (Qwen 2.5/3, Hermes, ChatML default): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
//   blocks one after another, "\n" between them (Qwen's template renders them so);
// - llama3 (Llama 3.1-3.3 JSON tool calling): the answer is `{"name": ..., "parameters": {...}}`, optionally after
//   `<|python_tag|>`; several are joined by ";" (the separator SGLang and vLLM use: Llama 3.x has no native one);
// - mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`, one JSON list holding every call
//   ([TOOL_CALLS] is a control token that the detokenizer drops, so a bare leading list counts too);
// - qwen3-coder (Qwen3-Coder): `<tool_call>\n<function=NAME>\n<parameter=ARG>\nVALUE\n</parameter>\n</function>\n</tool_call>`,
//   raw values typed by the tool's schema, blocks joined by "\n" (tool-call-xml.ts);
// - pythonic (Llama 3.2 / 4 pythonic prompts): `[get_weather(city="Paris"), ping()]`, one Python list of
//   calls, optionally between <|python_start|> and <|python_end|> (tool-call-pythonic.ts).
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { type GrammarSpec } from "./grammar.js";
import { SCHEMA_CONTENT } from "./spec.js";
import { ToolCallParser, type ToolCallFormat, type ToolCallParserOptions } from "./tool-call-stream.js";
import { callStructure } from "./tool-call-structures.js";

export type { ToolCallFormat } from "./tool-call-stream.js";
import { TOOL_CALL_FORMATS } from "./tool-call-events.js";

export { TOOL_CALL_FORMATS };

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
  // Qwen3-Coder's template also names <tool_call>, and the pythonic Llama ones ipython: these come first.
  if (template.includes("<function=") && template.includes("<parameter=")) return "qwen3-coder";
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  // The pythonic prompts show the call syntax ("[func_name1(params_name1=...") or Llama 4's python tags.
  if (template.includes("[func_name1(") || template.includes("<|python_start|>")) return "pythonic";
  if (template.includes("<tool_call>")) return "hermes";
  if (template.includes("<|python_tag|>") || template.includes("ipython")) return "llama3";
  return "hermes";
}

/** Other servers' names of the formats (vLLM's and SGLang's --tool-call-parser), accepted too. */
const FORMAT_ALIASES: Readonly<Record<string, ToolCallFormat>> = { qwen3_coder: "qwen3-coder", llama3_json: "llama3", llama4_pythonic: "pythonic" };

/** The format a --tool-call-parser name means; null for an unknown name. */
export function toolCallFormatNamed(name: string): ToolCallFormat | null {
  return (TOOL_CALL_FORMATS as readonly string[]).includes(name) ? (name as ToolCallFormat) : FORMAT_ALIASES[name] ?? null;
}

const argsSchema = (t: ToolSpec): Record<string, unknown> => t.function.parameters ?? { type: "object" };

function callSchema(format: "hermes" | "llama3" | "mistral", tools: readonly ToolSpec[]): Record<string, unknown> {
  const argKey = format === "llama3" ? "parameters" : "arguments";
  const one = (t: ToolSpec): Record<string, unknown> => ({
    type: "object",
    properties: { name: { const: t.function.name }, [argKey]: argsSchema(t) },
    required: ["name", argKey],
  });
  return tools.length === 1 ? one(tools[0]!) : { anyOf: tools.map(one) };
}

/**
 * The grammar of exactly one valid call of one of `tools` (all of them for "required", the
 * named one otherwise), in the model's format.
 */
export function toolCallGrammar(format: ToolCallFormat, tools: readonly ToolSpec[]): GrammarSpec {
  if (format === "qwen3-coder" || format === "pythonic") return { kind: "structural_tag", tag: callStructure(format, tools, false) };
  const call = callSchema(format, tools);
  switch (format) {
    case "hermes":
      return { kind: "json_schema", schema: call, prefix: "<tool_call>\n", suffix: "\n</tool_call>" };
    case "llama3":
      return { kind: "json_schema", schema: call };
    case "mistral":
      return { kind: "json_schema", schema: { type: "array", items: call, minItems: 1, maxItems: 1 }, prefix: "[TOOL_CALLS]" };
  }
}

/**
 * The grammar of one or more valid calls of `tools`, in the model's format and with its
 * separator between calls (tool_choice "required" with parallel_tool_calls).
 */
export function toolCallsGrammar(format: ToolCallFormat, tools: readonly ToolSpec[]): GrammarSpec {
  if (format === "qwen3-coder" || format === "pythonic") return { kind: "structural_tag", tag: callStructure(format, tools, true) };
  const call = callSchema(format, tools);
  if (format === "mistral") return { kind: "json_schema", schema: { type: "array", items: call, minItems: 1 }, prefix: "[TOOL_CALLS]" };
  // The grammar worker compiles the schema with the fixes json_schema specs get.
  const content = { type: SCHEMA_CONTENT, schema: call };
  const tag = format === "hermes"
    ? { type: "tag", begin: "<tool_call>\n", content, end: "\n</tool_call>" }
    : { type: "tag", begin: "", content, end: "" };
  const separator = format === "hermes" ? "\n" : "; ";
  return { kind: "structural_tag", tag: { type: "structural_tag", format: { type: "tags_with_separator", tags: [tag], separator, at_least_one: true, stop_after_first: false } } };
}

/** Splits a finished output into content and tool calls (names must be among `names`), as the streaming parser does. */
export function parseToolCalls(format: ToolCallFormat, text: string, names: ReadonlySet<string>, options: ToolCallParserOptions = {}): ParsedOutput {
  const parser = new ToolCallParser(format, names, options);
  let content = "";
  const calls: { name: string; arguments: string }[] = [];
  for (const e of [...parser.push(text), ...parser.finish()]) {
    if (e.type === "content") content += e.text;
    else if (e.type === "call") calls[e.index] = { name: e.name, arguments: "" };
    else calls[e.index]!.arguments += e.text;
  }
  return { content: content === "" && calls.length > 0 ? null : content, calls };
}
