// Loads @mlc-ai/web-xgrammar (xgrammar compiled to WebAssembly) as CommonJS.
//
// Why a shim: the package says "type": "module", but lib/index.js is a UMD bundle whose
// Node path uses `require`, `__filename` and `exports`, none of which exist in an ES
// module, so `import "@mlc-ai/web-xgrammar"` fails. We read the bundle's text and compile
// it with Node's CommonJS loader (Module#_compile), which supplies those names.
//
// Two more things the shim handles:
// - Errors. xgrammar reports a bad schema, regex or grammar by printing "[FATAL] file:line:
//   message" to stderr and aborting the WebAssembly instance; the thrown error only says
//   "Aborted()". The bundle gets its own `console` (a variable shadowing the global one in
//   the compiled function's scope), so those lines are captured and become the message of
//   the error we throw, instead of reaching the server's stderr.
// - Aborts. An aborted instance does not unwind its C++ stack; after a few dozen aborts it
//   hangs. So an instance that aborted a few times is retired (xgrammar-compile.ts): objects already
//   made in it (compiled grammars, matchers of running requests) keep working, and the next
//   load compiles a fresh instance.
import fs from "node:fs";
import path from "node:path";
import { createRequire, Module } from "node:module";

/** The part of the package's API that radixlm uses (see xgrammar.d.ts in the package). */
export interface XgTokenizerInfo {
  getVocabSize(): number;
  dispose(): void;
}
export interface XgCompiledGrammar {
  dispose(): void;
}
export interface XgGrammarCompiler {
  compileJSONSchema(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean,
    maxWhitespaceCnt?: number): Promise<XgCompiledGrammar>;
  compileBuiltinJSONGrammar(): Promise<XgCompiledGrammar>;
  compileGrammar(grammar: string, rootRule?: string): Promise<XgCompiledGrammar>;
  compileStructuralTag(structuralTag: Record<string, unknown>): Promise<XgCompiledGrammar>;
  dispose(): void;
}
export interface XgGrammarMatcher {
  acceptToken(tokenId: number): boolean;
  getNextTokenBitmask(): Promise<Int32Array>;
  isTerminated(): boolean;
  findJumpForwardString(): string;
  rollBack(numTokens: number): void;
  reset(): void;
  dispose(): void;
}
export interface XgrammarModule {
  Testings: {
    /** xgrammar's JSON schema -> EBNF converter (what compileJSONSchema compiles). */
    _jsonSchemaToEBNF(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean,
      maxWhitespaceCnt?: number): Promise<string>;
  };
  TokenizerInfo: {
    createTokenizerInfo(encodedVocab: string[], vocabType?: string, prependSpace?: boolean, vocabSize?: number,
      stopTokenIds?: number[]): Promise<XgTokenizerInfo>;
  };
  GrammarCompiler: { createGrammarCompiler(info: XgTokenizerInfo, cacheEnabled?: boolean): Promise<XgGrammarCompiler> };
  GrammarMatcher: {
    createGrammarMatcher(compiled: XgCompiledGrammar, overrideStopTokens?: number[], terminateWithoutStopToken?: boolean): Promise<XgGrammarMatcher>;
  };
}

/** One WebAssembly instance of xgrammar, and what it printed since the last take(). */
export interface XgInstance {
  readonly xg: XgrammarModule;
  /** How many times the instance aborted (on a bad schema, regex or grammar); retire it after a few. */
  aborts: number;
  /** Lines the instance printed (its "[FATAL] ..." errors) since the last call; clears them. */
  takeOutput(): string[];
}

let bundle: { file: string; source: string } | null = null;

function readBundle(): { file: string; source: string } {
  if (!bundle) {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("@mlc-ai/web-xgrammar/package.json");
    const file = path.join(path.dirname(pkg), "lib", "index.js");
    bundle = { file, source: fs.readFileSync(file, "utf8") };
  }
  return bundle;
}

type Internal = typeof Module & { _nodeModulePaths(dir: string): string[] };
type CompilableModule = Module & { _compile(source: string, file: string): void; paths: string[]; filename: string };

/** A fresh, independent xgrammar instance (its WebAssembly starts on first use). */
export function loadXgrammar(): XgInstance {
  const { file, source } = readBundle();
  const lines: string[] = [];
  const capture = (...args: unknown[]): void => {
    lines.push(args.map(String).join(" "));
  };
  const m = new Module(file) as CompilableModule & { xgConsole?: unknown };
  m.filename = file;
  m.paths = (Module as Internal)._nodeModulePaths(path.dirname(file));
  m.xgConsole = { ...console, log: capture, error: capture, warn: capture, info: capture };
  m._compile(`var console = module.xgConsole;${source}`, file);
  const inst: XgInstance = {
    xg: m.exports as XgrammarModule,
    aborts: 0,
    takeOutput: () => lines.splice(0, lines.length),
  };
  return inst;
}
