// The tokenizer thread gives exactly the ids of encode() on this thread, from each kind of
// source (a model or vocabulary file, an HF folder, tokenizer.json objects, GGUF metadata),
// with and without special tokens; past a limit it sends only the count; a source it cannot
// load, or a different vocabulary, fails every call clearly.
import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";
import { EncoderThread, EncoderThreadError, type TokenizerSource } from "../../src/tokenizer/encoder-thread.js";
import type { EncodeOptions, Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { findTestdataDir, qwen3TokenizerFiles, variedText, vocabPath } from "../../src/tokenizer/vocab-testdata.js";
import { testModel } from "../helpers/models.js";

const threads: EncoderThread[] = [];
after(async () => {
  for (const t of threads) await t.close();
});

function thread(source: TokenizerSource, tok: Tokenizer): EncoderThread {
  const t = new EncoderThread({ source, vocabSize: tok.vocabSize });
  threads.push(t);
  return t;
}

const OPTIONS: EncodeOptions[] = [{}, { addSpecial: true, parseSpecial: true }, { parseSpecial: true }];
const SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<|eot_id|>"];

async function sameIds(t: EncoderThread, tok: Tokenizer, label: string): Promise<void> {
  const texts = [variedText(300_000, SPECIALS), variedText(2_000), "", " ", "<|im_start|>user\nhi<|im_end|>", "🦙".repeat(1000)];
  for (const text of texts) {
    for (const options of OPTIONS) {
      const r = await t.encode(text, options);
      assert.equal(r.count, r.ids!.length);
      assert.deepEqual(r.ids, tok.encode(text, options), `${label}: ${JSON.stringify(options)} ${JSON.stringify(text.slice(0, 30))}`);
    }
  }
}

test("the same ids as encode() here, from every kind of source", { timeout: 120_000 }, async (t) => {
  const gguf = await testModel("encoder-gguf", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 });
  const hf = await testModel("encoder-hf", { arch: "llama", format: "hf", dtype: "f32", seed: 1 });
  for (const file of [gguf, hf]) {
    const tok = await loadTokenizerFile(file);
    await sameIds(thread({ kind: "file", path: file }, tok), tok, path.basename(file));
  }
  const tok = await loadTokenizerFile(hf);
  await sameIds(thread({ kind: "json", ...tok.toTokenizerJson() }, tok), tok, "json");
  await sameIds(thread({ kind: "gguf", metadata: tok.toGGUFMetadata() }, tok), tok, "gguf metadata");
  const testdata = findTestdataDir();
  const real = [testdata ? vocabPath(testdata, "llama-spm") : undefined, qwen3TokenizerFiles()?.tokenizer].filter((f): f is string => f !== undefined);
  if (real.length === 0) t.diagnostic("no real vocabularies here: only the test models' tokenizer was checked");
  for (const file of real) {
    const real = await loadTokenizerFile(file);
    await sameIds(thread({ kind: "file", path: file }, real), real, path.basename(file));
  }
});

test("past the limit only the count comes back; concurrent calls are answered in order", async () => {
  const file = await testModel("encoder-gguf", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 });
  const tok = await loadTokenizerFile(file);
  const th = thread({ kind: "file", path: file }, tok);
  const text = variedText(100_000);
  const n = tok.encode(text).length;
  assert.deepEqual(await th.encode(text, {}, n), { ids: null, count: n });
  assert.equal((await th.encode(text, {}, n + 1)).ids!.length, n);
  const texts = Array.from({ length: 8 }, (_, i) => variedText(20_000 + i * 1000));
  const all = await Promise.all(texts.map((x) => th.encode(x)));
  all.forEach((r, i) => assert.deepEqual(r.ids, tok.encode(texts[i]!)));
  assert.equal(th.queued, 0);
});

test("a source that cannot be loaded, or another vocabulary, fails every call; close fails what is pending", async () => {
  const file = await testModel("encoder-gguf", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 });
  const tok = await loadTokenizerFile(file);
  const missing = thread({ kind: "file", path: "/nonexistent/model.gguf" }, tok);
  await assert.rejects(missing.encode("x"), (e: unknown) => e instanceof EncoderThreadError && /no such file/.test(e.message));
  assert.ok(missing.failed);
  await assert.rejects(missing.encode("x"), EncoderThreadError);
  const other = new EncoderThread({ source: { kind: "file", path: file }, vocabSize: tok.vocabSize + 1 });
  threads.push(other);
  await assert.rejects(other.encode("x"), /tokens, the server's/);
  const closing = thread({ kind: "file", path: file }, tok);
  const pending = assert.rejects(closing.encode(variedText(200_000)), /closed/);
  await closing.close();
  await pending;
});
