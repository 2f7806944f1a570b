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
//   ([TOOL_CALLS] is a control token that the detokenizer drops, so a bare leading list counts too).
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { type GrammarSpec } from "./grammar.js";
import { SCHEMA_CONTENT } from "./spec.js";
import { ToolCallParser, type ToolCallFormat, type ToolCallParserOptions } from "./tool-call-stream.js";

export type { ToolCallFormat } from "./tool-call-stream.js";

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

function callSchema(format: ToolCallFormat, tools: readonly ToolSpec[]): Record<string, unknown> {
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
