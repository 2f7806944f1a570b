// The raw parameter values of Qwen3-Coder's calls as JSON, typed by the tool's parameter
// schema as vLLM's qwen3_coder parser does: a string parameter keeps its text; an integer,
// number, boolean, object or array one is read as JSON (or as a Python literal: the chat
// template writes values with Python's str(), so True and {'a': 1} occur) when it is one
// of those, and is kept as a string otherwise; "null" is null where a string is not asked for.
import type { ToolSpec } from "../tokenizer/chat-template.js";
import { pythonLiteralJson } from "./python-literal.js";

type Schema = Readonly<Record<string, unknown>>;

/** The declared JSON types of a schema; [] when it declares none. */
function declaredTypes(schema: Schema | undefined): string[] {
  if (!schema) return [];
  const t = schema.type;
  if (typeof t === "string") return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === "string");
  const choices = Array.isArray(schema.enum) ? schema.enum : "const" in schema ? [schema.const] : null;
  if (choices && choices.length > 0 && choices.every((x) => typeof x === "string")) return ["string"];
  return [];
}

/** Each tool's parameter schemas, by function and parameter name. */
export class ParameterTypes {
  private readonly byTool = new Map<string, Readonly<Record<string, unknown>>>();

  constructor(tools: readonly ToolSpec[]) {
    for (const t of tools) {
      const props = (t.function.parameters as Schema | undefined)?.properties;
      if (props && typeof props === "object" && !Array.isArray(props)) this.byTool.set(t.function.name, props as Record<string, unknown>);
    }
  }

  schema(fn: string, param: string): Schema | undefined {
    const s = this.byTool.get(fn)?.[param];
    return s && typeof s === "object" && !Array.isArray(s) ? (s as Schema) : undefined;
  }

  /**
   * Whether the parameter's value is text as written: a string parameter, or one the schema
   * does not type (vLLM keeps those as strings too).
   */
  isString(fn: string, param: string): boolean {
    const types = declaredTypes(this.schema(fn, param));
    return types.length === 0 || types.every((t) => t === "string");
  }
}

const fits = (v: unknown, type: string): boolean => {
  switch (type) {
    case "integer": return typeof v === "number" && Number.isInteger(v);
    case "number": return typeof v === "number";
    case "boolean": return typeof v === "boolean";
    case "object": return v !== null && typeof v === "object" && !Array.isArray(v);
    case "array": return Array.isArray(v);
    case "null": return v === null;
    default: return false;
  }
};

/** The JSON text of a raw value under its parameter's schema (undefined: not in the schema). */
export function xmlValueJson(raw: string, schema: Schema | undefined): string {
  const types = declaredTypes(schema).filter((t) => t !== "string");
  const text = raw.trim();
  if (types.length > 0) {
    const lower = text.toLowerCase();
    if (lower === "null") return "null";
    // True/TRUE as well: the template writes Python's spelling
    if (types.includes("boolean") && (lower === "true" || lower === "false")) return lower;
    const json = pythonLiteralJson(text);
    if (json !== null) {
      const v = JSON.parse(json) as unknown;
      if (types.some((t) => fits(v, t))) return json;
    }
  }
  return JSON.stringify(raw);
}
