// What a request may be constrained by, and its compilation against the model's vocabulary.
// One GrammarCompiler per model: it builds xgrammar's TokenizerInfo once, compiles each
// distinct spec once (the cache holds the compiled grammar, or the error a bad spec gave)
// and hands out Grammars that requests turn into per-sample matchers (constraint.ts).
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { byteLevelVocab } from "./vocab.js";
import { extractRanges, fixJsonStringRule, insertRanges } from "./json-schema.js";
import { loadXgrammar, type XgCompiledGrammar, type XgGrammarCompiler, type XgInstance } from "./xgrammar-shim.js";

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

/** A spec that does not compile; `param` names the request field that carried it. */
export class GrammarError extends Error {
  override name = "GrammarError";
  constructor(readonly kind: GrammarSpec["kind"], message: string) {
    super(message);
  }
}

/** A compiled grammar, shareable by any number of requests. */
export interface Grammar {
  readonly spec: GrammarSpec;
  /** The instance the grammar lives in; its matchers are made there. */
  readonly instance: XgInstance;
  readonly compiled: XgCompiledGrammar;
}

/** Aborts an instance takes before it is retired; it stops working after a few dozen. */
const MAX_ABORTS = 8;

/** Limits whitespace runs between JSON tokens, so a sampled JSON cannot spin on spaces forever. */
const MAX_JSON_WHITESPACE = 2;

interface Compiler {
  readonly instance: XgInstance;
  readonly compiler: XgGrammarCompiler;
}

/** EBNF string literal for `s` (xgrammar accepts C-style escapes). */
export function ebnfLiteral(s: string): string {
  return JSON.stringify(s);
}

/** The cache key and a first check of a spec (what can be said without xgrammar). */
function normalize(spec: GrammarSpec): { key: string; spec: GrammarSpec } {
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
      return { key: `structural_tag\u0000${JSON.stringify(spec.tag)}`, spec };
  }
}

/** The message xgrammar printed before aborting, without its source location. */
function xgMessage(lines: readonly string[], err: unknown): string {
  const fatal = lines.find((l) => l.includes("[FATAL]"));
  if (fatal) return fatal.replace(/^.*\[FATAL\]\s*\S+:\d+:\s*/, "").trim();
  return err instanceof Error ? err.message : String(err);
}

export class GrammarCompiler {
  private current: Promise<Compiler> | null = null;
  private readonly cache = new Map<string, Promise<Grammar>>();
  /** Compile time of every grammar compiled so far (ms), for stats and benchmarks. */
  readonly compileMs: number[] = [];

  constructor(private readonly tokenizer: Tokenizer, private readonly vocabSize: number, private readonly stopTokenIds: readonly number[],
    private readonly maxCached = 256) {}

  /** Compiles (or finds in the cache) the grammar of a spec; throws GrammarError when it is bad. */
  async compile(spec: GrammarSpec): Promise<Grammar> {
    const n = normalize(spec);
    let p = this.cache.get(n.key);
    if (p) {
      // Most recently used last: the map's first entry is the one to drop when full.
      this.cache.delete(n.key);
      this.cache.set(n.key, p);
      return p;
    }
    p = this.build(n.spec);
    this.cache.set(n.key, p);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }

  private compiler(): Promise<Compiler> {
    this.current ??= (async () => {
      const instance = loadXgrammar();
      const vocab = byteLevelVocab(this.tokenizer, this.vocabSize);
      const info = await instance.xg.TokenizerInfo.createTokenizerInfo(vocab, "byte_level", false, this.vocabSize, [...this.stopTokenIds]);
      const compiler = await instance.xg.GrammarCompiler.createGrammarCompiler(info, true);
      return { instance, compiler };
    })();
    return this.current;
  }

  private async build(spec: GrammarSpec): Promise<Grammar> {
    const { instance, compiler } = await this.compiler();
    instance.takeOutput();
    const t0 = performance.now();
    try {
      const compiled = await compileOn(instance, compiler, spec);
      this.compileMs.push(performance.now() - t0);
      return { spec, instance, compiled };
    } catch (err) {
      const message = xgMessage(instance.takeOutput(), err);
      // An instance that aborted a few times is retired (see xgrammar-shim.ts); the next
      // compile starts a fresh one, which costs a TokenizerInfo (seconds for a 150k vocab).
      if (++instance.aborts >= MAX_ABORTS) this.current = null;
      throw new GrammarError(spec.kind, describe(spec.kind, message));
    }
  }
}

function describe(kind: GrammarSpec["kind"], message: string): string {
  const what = { json_object: "JSON", json_schema: "the JSON schema", regex: "the regex", ebnf: "the EBNF grammar", choices: "the choices", structural_tag: "the tool-call format" }[kind];
  return `${what} is not supported or not valid: ${message}`;
}

/** A JSON schema's grammar: xgrammar's converter (compact, bounded whitespace), with the fixes of json-schema.ts. */
async function jsonSchemaGrammar(instance: XgInstance, c: XgGrammarCompiler, schema: unknown, strict: boolean,
  prefix = "", suffix = ""): Promise<XgCompiledGrammar> {
  const ranges = extractRanges(schema);
  const ebnf = insertRanges(fixJsonStringRule(
    await instance.xg.Testings._jsonSchemaToEBNF(JSON.stringify(ranges.schema), true, -1, undefined, strict, MAX_JSON_WHITESPACE)), ranges.rules);
  if (prefix === "" && suffix === "") return c.compileGrammar(ebnf);
  const parts = [prefix && ebnfLiteral(prefix), "root", suffix && ebnfLiteral(suffix)].filter((p) => p !== "");
  return c.compileGrammar(`${ebnf}\nradixlm_framed ::= ${parts.join(" ")}\n`, "radixlm_framed");
}

async function compileOn(instance: XgInstance, c: XgGrammarCompiler, spec: GrammarSpec): Promise<XgCompiledGrammar> {
  switch (spec.kind) {
    case "json_object":
      return jsonSchemaGrammar(instance, c, { type: "object" }, false);
    case "json_schema":
      return jsonSchemaGrammar(instance, c, spec.schema, true, spec.prefix, spec.suffix);
    case "regex":
      return c.compileStructuralTag({ type: "structural_tag", format: { type: "regex", pattern: spec.pattern } });
    case "ebnf":
      return c.compileGrammar(spec.grammar);
    case "choices":
      return c.compileGrammar(`root ::= ${spec.choices.map(ebnfLiteral).join(" | ")}`);
    case "structural_tag":
      return c.compileStructuralTag({ ...spec.tag });
  }
}
