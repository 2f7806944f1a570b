// The structured-output parts of a request: response_format, tools / tool_choice, and the
// native json_schema / regex / ebnf / choices parameters, turned into a compiled grammar
// (a bad one is a 400 naming the parameter) and a plan for parsing tool calls out of the
// output.
import type { Grammar, GrammarSpec } from "../structured/grammar.js";
import { GrammarError } from "../structured/grammar.js";
import { toolCallFormat, toolCallGrammar, type ParsedToolCall, type ToolCallFormat } from "../structured/tool-calls.js";
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { badRequest } from "./errors.js";
import { newId } from "./generation.js";
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

/** Compiles a grammar; a bad one is a 400 naming `param`. */
export async function compileFor(s: Serving, spec: GrammarSpec, param: string): Promise<Grammar> {
  try {
    return await s.engine.compileGrammar(spec);
  } catch (err) {
    if (err instanceof GrammarError) throw badRequest(param, `Invalid '${param}': ${err.message}`);
    throw err;
  }
}

export interface ToolPlan {
  /** Tools the template shows (none with tool_choice "none"). */
  readonly tools: ToolSpec[] | undefined;
  /** Parse tool calls out of the output. */
  readonly parse: boolean;
  readonly format: ToolCallFormat;
  readonly names: ReadonlySet<string>;
  /** A call is required: the output is constrained to one. */
  readonly grammar: GrammarSpec | null;
}

export type ToolChoice = "none" | "auto" | "required" | { type?: string; function: { name: string } };

export function toolPlan(s: Serving, tools: ToolSpec[] | null | undefined, choice: ToolChoice | null | undefined): ToolPlan {
  const list = tools ?? [];
  const format = toolCallFormat(s.model.chatTemplate);
  const names = new Set(list.map((t) => t.function.name));
  const mode = choice ?? (list.length > 0 ? "auto" : "none");
  if (list.length === 0) {
    if (mode !== "none" && mode !== "auto") throw badRequest("tool_choice", "'tool_choice' needs 'tools'.");
    return { tools: undefined, parse: false, format, names, grammar: null };
  }
  if (mode === "none") return { tools: undefined, parse: false, format, names, grammar: null };
  if (mode === "auto") return { tools: list, parse: true, format, names, grammar: null };
  if (mode === "required") return { tools: list, parse: true, format, names, grammar: toolCallGrammar(format, list) };
  const named = list.find((t) => t.function.name === mode.function.name);
  if (!named) throw badRequest("tool_choice", `'tool_choice' names the function '${mode.function.name}', which is not among 'tools'.`);
  return { tools: list, parse: true, format, names, grammar: toolCallGrammar(format, [named]) };
}

export interface ToolCallBody {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export function toolCallBodies(calls: readonly ParsedToolCall[]): ToolCallBody[] {
  return calls.map((c) => ({ id: newId("call_"), type: "function", function: { name: c.name, arguments: c.arguments } }));
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
