// What a request may be constrained by, the first check of a spec (what can be said without
// xgrammar) and the error a bad one gives. Shared by the engine's thread and the grammar
// worker.

export type GrammarSpec =
  /** Any JSON object (OpenAI's json_object). */
  | { readonly kind: "json_object" }
  /** A JSON schema, as an object or as its JSON text; optionally between fixed text (a tool-call tag). */
  | { readonly kind: "json_schema"; readonly schema: unknown; readonly prefix?: string; readonly suffix?: string }
  /** The whole output matches this regular expression (xgrammar's regex dialect: ECMAScript-like). */
  | { readonly kind: "regex"; readonly pattern: string }
  /** An EBNF grammar (xgrammar / GBNF syntax), starting at rule `root`. */
  | { readonly kind: "ebnf"; readonly grammar: string }
  /** The output is exactly one of these strings. */
  | { readonly kind: "choices"; readonly choices: readonly string[] }
  /** xgrammar's structural tag (tool calls: free text, and constrained JSON after a trigger). */
  | { readonly kind: "structural_tag"; readonly tag: Readonly<Record<string, unknown>> };

/** A structural tag's content that is a JSON schema, compiled with the fixes json_schema specs get. */
export const SCHEMA_CONTENT = "json_schema_fixed";

/** A spec that does not compile; `param` names the request field that carried it. */
export class GrammarError extends Error {
  override name = "GrammarError";
  constructor(readonly kind: GrammarSpec["kind"], message: string) {
    super(message);
  }
}

/** EBNF string literal for `s` (xgrammar accepts C-style escapes). */
export function ebnfLiteral(s: string): string {
  return JSON.stringify(s);
}

/** Deepest nesting of objects and arrays a JSON schema may have (xgrammar's converter recurses). */
export const MAX_SCHEMA_DEPTH = 64;

/** Whether `v` nests objects and arrays deeper than `max` (iterative: a hostile value cannot overflow the stack here). */
function deeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== "object") continue;
    if (d > max) return true;
    for (const c of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>)) stack.push([c, d + 1]);
  }
  return false;
}

/**
 * A schema that plainly admits no value (`false`, `{"not": {}}`, `{"enum": []}`, an empty
 * `anyOf`/`oneOf`). xgrammar's converter ignores these and would let anything through.
 */
function allowsNothing(schema: Record<string, unknown>): boolean {
  const not = schema.not;
  const emptyList = (k: string): boolean => Array.isArray(schema[k]) && (schema[k] as unknown[]).length === 0;
  return not === true || (typeof not === "object" && not !== null && !Array.isArray(not) && Object.keys(not).length === 0) ||
    emptyList("enum") || emptyList("anyOf") || emptyList("oneOf");
}

/** The cache key and a first check of a spec; throws GrammarError. */
export function normalize(spec: GrammarSpec): { key: string; spec: GrammarSpec } {
  switch (spec.kind) {
    case "json_object":
      return { key: "json_object", spec };
    case "json_schema": {
      let schema = spec.schema;
      if (typeof schema === "string") {
        try {
          schema = JSON.parse(schema);
        } catch (e) {
          throw new GrammarError("json_schema", `the JSON schema is not valid JSON: ${(e as Error).message}`);
        }
      }
      if (typeof schema === "boolean") schema = schema ? {} : { not: {} };
      if (schema === null || typeof schema !== "object" || Array.isArray(schema)) throw new GrammarError("json_schema", "the JSON schema must be an object");
      if (deeperThan(schema, MAX_SCHEMA_DEPTH)) throw new GrammarError("json_schema", `the JSON schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
      if (allowsNothing(schema as Record<string, unknown>)) throw new GrammarError("json_schema", "the JSON schema allows no value at all, so nothing can be generated");
      const prefix = spec.prefix ?? "";
      const suffix = spec.suffix ?? "";
      return { key: `json_schema\u0000${prefix}\u0000${suffix}\u0000${JSON.stringify(schema)}`, spec: { kind: "json_schema", schema, prefix, suffix } };
    }
    case "regex":
      if (typeof spec.pattern !== "string" || spec.pattern === "") throw new GrammarError("regex", "the regex must be a non-empty string");
      return { key: `regex\u0000${spec.pattern}`, spec };
    case "ebnf":
      if (typeof spec.grammar !== "string" || spec.grammar.trim() === "") throw new GrammarError("ebnf", "the EBNF grammar must be a non-empty string");
      return { key: `ebnf\u0000${spec.grammar}`, spec };
    case "choices": {
      const c = spec.choices;
      if (!Array.isArray(c) || c.length === 0) throw new GrammarError("choices", "choices must be a non-empty list of strings");
      for (const x of c) if (typeof x !== "string" || x === "") throw new GrammarError("choices", `every choice must be a non-empty string, got ${JSON.stringify(x)}`);
      return { key: `choices\u0000${JSON.stringify(c)}`, spec };
    }
    case "structural_tag":
      if (deeperThan(spec.tag, MAX_SCHEMA_DEPTH + 8)) throw new GrammarError("structural_tag", `a tool's parameters nest deeper than ${MAX_SCHEMA_DEPTH} levels`);
      return { key: `structural_tag\u0000${JSON.stringify(spec.tag)}`, spec };
  }
}

/** The message of a GrammarError for a spec that xgrammar refused with `message`. */
export function describe(kind: GrammarSpec["kind"], message: string): string {
  const what = { json_object: "JSON", json_schema: "the JSON schema", regex: "the regex", ebnf: "the EBNF grammar", choices: "the choices", structural_tag: "the tool-call format" }[kind];
  return `${what} is not supported or not valid: ${message}`;
}
