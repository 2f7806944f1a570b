// The grammars that force qwen3-coder and pythonic calls (tool_choice "required" or a named
// function), as xgrammar structural tags: the call's fixed text, and a grammar per argument
// value. A call writes its tool's required parameters, in the schema's order (optional ones
// are left out, so the grammar stays a plain sequence); the parsers read these back
// (tool-call-xml.ts, tool-call-pythonic.ts) into arguments that validate against the schema.
//
// qwen3-coder: a string parameter's value is raw text without "<" (so it cannot end early or
// write markup), within the schema's length bounds, or one of its enum values; any other
// value is JSON under the parameter's schema (the parser reads JSON as those types).
// pythonic: values are Python literals; a boolean is True/False and null None, anything
// else is JSON under its schema, which Python reads the same way (strings in double quotes,
// numbers, lists, dicts; nested true/false/null are read too, see python-literal.ts).
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { SCHEMA_CONTENT } from "./spec.js";

type Format = Readonly<Record<string, unknown>>;
type Schema = Readonly<Record<string, unknown>>;

const text = (value: string): Format => ({ type: "const_string", value });
const or = (elements: Format[]): Format => (elements.length === 1 ? elements[0]! : { type: "or", elements });

/** A sequence, with neighbouring fixed texts joined. */
function sequence(elements: Format[]): Format {
  const out: Format[] = [];
  for (const e of elements) {
    const last = out[out.length - 1];
    if (e.type === "const_string" && last?.type === "const_string") out[out.length - 1] = text(String(last.value) + String(e.value));
    else out.push(e);
  }
  return out.length === 1 ? out[0]! : { type: "sequence", elements: out };
}

/** A tool's required parameters in the order of its properties, each with its schema (and the root's definitions, for $ref). */
function requiredParameters(t: ToolSpec): [string, Schema][] {
  const root = (t.function.parameters ?? {}) as Schema;
  const props = (root.properties ?? {}) as Record<string, unknown>;
  const required = Array.isArray(root.required) ? root.required.filter((x): x is string => typeof x === "string") : [];
  const order = [...Object.keys(props).filter((k) => required.includes(k)), ...required.filter((k) => !(k in props))];
  const defs: Record<string, unknown> = {};
  for (const k of ["$defs", "definitions"]) if (root[k] !== undefined) defs[k] = root[k];
  return [...new Set(order)].map((k) => {
    const s = props[k];
    return [k, { ...(s && typeof s === "object" && !Array.isArray(s) ? (s as Schema) : {}), ...defs }];
  });
}

const json = (schema: Schema): Format => ({ type: SCHEMA_CONTENT, schema });

/** A string-only schema's choices, or null when it allows any string (or is not string-only). */
function stringChoices(s: Schema): string[] | null {
  const values = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : null;
  return values && values.length > 0 && values.every((v) => typeof v === "string") ? (values as string[]) : null;
}

const isStringOnly = (s: Schema): boolean =>
  s.type === "string" || (Array.isArray(s.type) && s.type.length > 0 && s.type.every((x) => x === "string")) ||
  (s.type === undefined && stringChoices(s) !== null);

function qwenValue(s: Schema): Format {
  const choices = stringChoices(s);
  if (choices) return or(choices.map(text));
  if (!isStringOnly(s) && (s.type !== undefined || s.enum !== undefined || s.const !== undefined)) return json(s);
  // Text as written (a string, or a parameter the schema does not type: the parser keeps those as strings).
  const min = typeof s.minLength === "number" ? Math.max(0, Math.floor(s.minLength)) : 0;
  const max = typeof s.maxLength === "number" ? Math.floor(s.maxLength) : null;
  const bounds = max !== null ? `{${min},${Math.max(min, max)}}` : min > 0 ? `{${min},}` : "*";
  return { type: "regex", pattern: `[^<]${bounds}` };
}

function qwenFunction(t: ToolSpec): Format {
  const parts: Format[] = [text(`<function=${t.function.name}>\n`)];
  for (const [k, s] of requiredParameters(t)) parts.push(text(`<parameter=${k}>\n`), qwenValue(s), text("\n</parameter>\n"));
  parts.push(text("</function>"));
  return sequence(parts);
}

function pythonValue(s: Schema): Format {
  if (s.type === "boolean") return or([text("True"), text("False")]);
  if (s.type === "null") return text("None");
  return json(s);
}

function pythonFunction(t: ToolSpec): Format {
  const parts: Format[] = [text(`${t.function.name}(`)];
  requiredParameters(t).forEach(([k, s], i) => parts.push(text(`${i > 0 ? ", " : ""}${k}=`), pythonValue(s)));
  parts.push(text(")"));
  return sequence(parts);
}

const QWEN_OPEN = "<tool_call>\n";
const QWEN_CLOSE = "\n</tool_call>";

/** The structural tag of qwen3-coder or pythonic calls of `tools`: exactly one, or (`several`) one or more. */
export function callStructure(format: "qwen3-coder" | "pythonic", tools: readonly ToolSpec[], several: boolean): Format {
  if (format === "qwen3-coder") {
    const tag = { type: "tag", begin: QWEN_OPEN, content: or(tools.map(qwenFunction)), end: QWEN_CLOSE };
    // Qwen3-Coder's template writes several calls one per line.
    const f = several ? { type: "tags_with_separator", tags: [tag], separator: "\n", at_least_one: true, stop_after_first: false } : tag;
    return { type: "structural_tag", format: f };
  }
  const call = or(tools.map(pythonFunction));
  if (!several) return { type: "structural_tag", format: sequence([text("["), call, text("]")]) };
  // xgrammar takes tags_with_separator inside a tag, not inside a sequence.
  const calls = { type: "tags_with_separator", tags: [{ type: "tag", begin: "", content: call, end: "" }], separator: ", ", at_least_one: true, stop_after_first: false };
  return { type: "structural_tag", format: { type: "tag", begin: "[", content: calls, end: "]" } };
}
