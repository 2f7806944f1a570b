// Compiling specs with xgrammar against the model's vocabulary (in the grammar worker). One
// compiler per model: it builds xgrammar's TokenizerInfo once (seconds for a 150k vocab) and
// compiles each spec it is given; the cache of compiled specs is the engine's (grammar.ts).
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { byteLevelVocab } from "./vocab.js";
import { extractRanges, fixJsonStringRule, insertRanges } from "./json-schema.js";
import { describe, ebnfLiteral, GrammarError, SCHEMA_CONTENT, type GrammarSpec } from "./spec.js";
import { loadXgrammar, type XgCompiledGrammar, type XgGrammarCompiler, type XgInstance } from "./xgrammar-shim.js";

/** A compiled grammar and the instance it lives in (its matchers are made there). */
export interface CompiledGrammar {
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

/** The message xgrammar printed before aborting, without its source location. */
function xgMessage(lines: readonly string[], err: unknown): string {
  const fatal = lines.find((l) => l.includes("[FATAL]"));
  if (fatal) return fatal.replace(/^.*\[FATAL\]\s*\S+:\d+:\s*/, "").trim();
  return err instanceof Error ? err.message : String(err);
}

export class XgrammarCompiler {
  private current: Promise<Compiler> | null = null;

  constructor(private readonly tokenizer: Tokenizer, private readonly vocabSize: number, private readonly stopTokenIds: readonly number[]) {}

  /** Compiles a normalized spec (spec.ts); throws GrammarError when xgrammar refuses it. */
  async compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const { instance, compiler } = await this.compiler();
    instance.takeOutput();
    try {
      return { instance, compiled: await compileOn(instance, compiler, spec) };
    } catch (err) {
      const message = xgMessage(instance.takeOutput(), err);
      // An instance that aborted a few times is retired (see xgrammar-shim.ts); the next
      // compile starts a fresh one, which costs a TokenizerInfo (seconds for a 150k vocab).
      if (++instance.aborts >= MAX_ABORTS) this.current = null;
      throw new GrammarError(spec.kind, describe(spec.kind, message));
    }
  }

  /** Builds xgrammar's vocabulary now rather than on the first compile. */
  async warm(): Promise<void> {
    await this.compiler();
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
}

/** A JSON schema as EBNF (root rule `root`): xgrammar's converter (compact, bounded whitespace), with the fixes of json-schema.ts. */
async function jsonSchemaEbnf(instance: XgInstance, schema: unknown, strict: boolean): Promise<string> {
  const ranges = extractRanges(schema);
  return insertRanges(fixJsonStringRule(
    await instance.xg.Testings._jsonSchemaToEBNF(JSON.stringify(ranges.schema), true, -1, undefined, strict, MAX_JSON_WHITESPACE)), ranges.rules);
}

/** A JSON schema's grammar, between an optional literal prefix and suffix. */
async function jsonSchemaGrammar(instance: XgInstance, c: XgGrammarCompiler, schema: unknown, strict: boolean,
  prefix = "", suffix = ""): Promise<XgCompiledGrammar> {
  const ebnf = await jsonSchemaEbnf(instance, schema, strict);
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
      return c.compileStructuralTag(await withSchemaGrammars(instance, spec.tag) as Record<string, unknown>);
  }
}

/**
 * A structural tag with each `{type: "json_schema_fixed", schema}` content (SCHEMA_CONTENT)
 * turned into the grammar of that schema with this project's fixes; xgrammar's own
 * json_schema content would lose them (integer ranges, bounded whitespace).
 */
async function withSchemaGrammars(instance: XgInstance, node: unknown): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => withSchemaGrammars(instance, n)));
  if (node === null || typeof node !== "object") return node;
  const o = node as Record<string, unknown>;
  if (o.type === SCHEMA_CONTENT) return { type: "grammar", grammar: await jsonSchemaEbnf(instance, o.schema, true) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = await withSchemaGrammars(instance, v);
  return out;
}
