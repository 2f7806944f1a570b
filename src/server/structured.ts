// The structured-output parts of a request: response_format, tools / tool_choice, and the
// native json_schema / regex / ebnf / choices parameters, turned into a grammar spec (the
// engine compiles it; a bad one is a 400 naming the parameter) and a plan for parsing tool
// calls out of the output.
import type { GrammarSpec } from "../structured/grammar.js";
import { GrammarError } from "../structured/grammar.js";
import { toolCallFormat, toolCallGrammar, toolCallsGrammar, type ToolCallFormat } from "../structured/tool-calls.js";
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { badRequest } from "./errors.js";
import type { Serving } from "./serving.js";

export interface ResponseFormat {
  type?: string;
  json_schema?: { name?: string; schema?: unknown; strict?: boolean | null; description?: string } | null;
}

/** The grammar of an OpenAI response_format; null for text. */
export function responseFormatSpec(rf: ResponseFormat | null | undefined): GrammarSpec | null {
  if (!rf || rf.type === undefined || rf.type === "text") return null;
  if (rf.type === "json_object") return { kind: "json_object" };
  const schema = rf.json_schema?.schema;
  if (schema === undefined) throw badRequest("response_format.json_schema.schema", "response_format of type 'json_schema' needs 'json_schema.schema'.", "missing_required_parameter");
  return { kind: "json_schema", schema };
}

/**
 * The output's constraint on an OpenAI route: response_format, or SGLang's `regex` or `ebnf`
 * extras (at most one of them), with the parameter to name in its errors; null for none.
 */
export function openaiGrammar(b: { response_format?: ResponseFormat | null; regex?: string | null; ebnf?: string | null }): { spec: GrammarSpec; param: string } | null {
  const format = responseFormatSpec(b.response_format);
  const given = [format ? "response_format" : null, b.regex != null ? "regex" : null, b.ebnf != null ? "ebnf" : null].filter((x): x is string => x !== null);
  if (given.length > 1) throw badRequest(given[1]!, `Give at most one of response_format, regex and ebnf; got ${given.join(", ")}.`);
  if (format) return { spec: format, param: "response_format" };
  if (b.regex != null) return { spec: { kind: "regex", pattern: b.regex }, param: "regex" };
  if (b.ebnf != null) return { spec: { kind: "ebnf", grammar: b.ebnf }, param: "ebnf" };
  return null;
}

export interface ToolPlan {
  /** Tools the template shows (none with tool_choice "none"). */
  readonly tools: ToolSpec[] | undefined;
  /** Parse tool calls out of the output. */
  readonly parse: boolean;
  readonly format: ToolCallFormat;
  readonly names: ReadonlySet<string>;
  /** A call is required: the output is constrained to one (or, with parallel calls, one or more). */
  readonly grammar: GrammarSpec | null;
  /**
   * How to parse the output: at most 1 call with parallel_tool_calls false or a named function; calls only under a grammar;
   * the tools, whose schemas type qwen3-coder's raw values.
   */
  readonly parser: { readonly maxCalls: number; readonly callsOnly: boolean; readonly tools: readonly ToolSpec[] };
}

export type ToolChoice = "none" | "auto" | "required" | { type?: string; function: { name: string } };

export async function toolPlan(s: Serving, tools: ToolSpec[] | null | undefined, choice: ToolChoice | null | undefined,
  parallel: boolean | null | undefined): Promise<ToolPlan> {
  const list = tools ?? [];
  // --tool-call-parser, or the format the chat template shows
  const format = s.toolCallParser ?? toolCallFormat(s.model.chatTemplate);
  const names = new Set(list.map((t) => t.function.name));
  const mode = choice ?? (list.length > 0 ? "auto" : "none");
  // OpenAI's default is parallel calls on.
  const maxCalls = parallel === false ? 1 : Infinity;
  const base = { format, names, parser: { maxCalls, callsOnly: false, tools: list } };
  if (list.length === 0) {
    if (mode !== "none" && mode !== "auto") throw badRequest("tool_choice", "'tool_choice' needs 'tools'.");
    return { ...base, tools: undefined, parse: false, grammar: null };
  }
  if (mode === "none") return { ...base, tools: undefined, parse: false, grammar: null };
  if (mode === "auto") return { ...base, tools: list, parse: true, grammar: null };
  if (mode === "required") {
    let grammar: GrammarSpec;
    try {
      grammar = maxCalls === 1 ? toolCallGrammar(format, list) : toolCallsGrammar(format, list);
    } catch (err) {
      if (err instanceof GrammarError) throw badRequest("tool_choice", `Invalid 'tool_choice': ${err.message}`);
      throw err;
    }
    return { ...base, tools: list, parse: true, grammar, parser: { maxCalls, callsOnly: true, tools: list } };
  }
  const named = list.find((t) => t.function.name === mode.function.name);
  if (!named) throw badRequest("tool_choice", `'tool_choice' names the function '${mode.function.name}', which is not among 'tools'.`);
  // As OpenAI does, a named function is called exactly once.
  return { ...base, tools: list, parse: true, grammar: toolCallGrammar(format, [named]), parser: { maxCalls: 1, callsOnly: true, tools: list } };
}

/** The native /generate constraint parameters (at most one). */
export function nativeSpec(sp: Record<string, unknown>): { spec: GrammarSpec; param: string } | null {
  const given = ["json_schema", "regex", "ebnf", "choices"].filter((k) => sp[k] !== undefined && sp[k] !== null);
  if (given.length > 1) throw badRequest(`sampling_params.${given[1]}`, `Give at most one of json_schema, regex, ebnf and choices; got ${given.join(", ")}.`);
  if (given.length === 0) return null;
  const k = given[0]!;
  const param = `sampling_params.${k}`;
  const v = sp[k];
  if (k === "json_schema") return { spec: { kind: "json_schema", schema: v }, param };
  if (k === "regex") {
    if (typeof v !== "string") throw badRequest(param, `'${param}' must be a string.`);
    return { spec: { kind: "regex", pattern: v }, param };
  }
  if (k === "ebnf") {
    if (typeof v !== "string") throw badRequest(param, `'${param}' must be a string.`);
    return { spec: { kind: "ebnf", grammar: v }, param };
  }
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "string" || x === "")) throw badRequest(param, `'${param}' must be a non-empty list of non-empty strings.`);
  return { spec: { kind: "choices", choices: v as string[] }, param };
}
