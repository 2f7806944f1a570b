import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { tempDir, testModel, SHARED_TESTDATA } from "../helpers/models.js";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";

test("make-test-model writes a model that info describes", () => {
  const out = path.join(tempDir(), "cli-made.gguf");
  const r = cli(["make-test-model", "--arch", "qwen2", "--format", "gguf", "--dtype", "q8_0", "--seed", "1", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*qwen2 gguf q8_0/);
  const info = cli(["info", "--model", out, "--json"]);
  assert.equal(info.code, 0, info.stderr);
  const j = JSON.parse(info.stdout) as Record<string, unknown>;
  assert.equal(j.architecture, "qwen2");
  assert.equal(j.qkv_bias, true);
  assert.equal(j.chat_template, true);
  assert.deepEqual(Object.keys(j.tensor_types as object).sort(), ["f32", "q8_0"]);
  const text = cli(["info", "--model", out]);
  assert.match(text.stdout, /architecture\s+qwen2/);
  assert.match(text.stdout, /context length\s+\d+/);
  assert.match(text.stdout, /chat template\s+yes/);
});

test("info names the Gemma features of the presets (shrunk to a small shape)", async () => {
  const sizes = { numLayers: 6, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024 };
  for (const [preset, arch, want] of [
    ["gemma-2-2b", "gemma2", /features\s+tied embeddings, GeGLU, post-norms, multipliers: embedding 16, attention 0\.125, residual 1, logits 1\/1, sliding window 4096 in all layers but 1, 3, 5, attention soft-cap 50, logit soft-cap 30\n/],
    ["gemma-3-1b", "gemma3", /features\s+tied embeddings, q\/k norm, GeGLU, post-norms, multipliers: embedding 16, attention 0\.125, residual 1, logits 1\/1, sliding window 512 in all layers but 5, local RoPE theta 10000\n/],
  ] as const) {
    const out = await testModel(`info-${preset}`, { preset, format: "gguf", dtype: "q8_0", sizes });
    const text = cli(["info", "--model", out]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`architecture\\s+${arch}\n`));
    assert.match(text.stdout, want);
    const j = JSON.parse(cli(["info", "--model", out, "--json"]).stdout) as Record<string, unknown>;
    assert.equal(j.activation, "gelu_tanh");
    assert.equal(j.post_norms, true);
  }
});

test("make-test-model is deterministic by seed", () => {
  const a = path.join(tempDir(), "det-a.gguf");
  const b = path.join(tempDir(), "det-b.gguf");
  const c = path.join(tempDir(), "det-c.gguf");
  for (const [out, seed] of [[a, "5"], [b, "5"], [c, "6"]] as const) {
    assert.equal(cli(["make-test-model", "--dtype", "q4_K", "--seed", seed, "--out", out]).code, 0);
  }
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
  assert.ok(!fs.readFileSync(a).equals(fs.readFileSync(c)));
});

test("make-test-model takes a real tokenizer and the vocab size follows it", async (t) => {
  const vocab = path.join(SHARED_TESTDATA, "vocab/ggml-vocab-llama-spm.gguf");
  if (!fs.existsSync(vocab)) return t.skip(`${vocab} absent: shared test data not available`);
  for (const format of ["hf", "gguf"]) {
    const out = path.join(tempDir(), `spm-model-${format}${format === "gguf" ? ".gguf" : ""}`);
    const r = cli(["make-test-model", "--format", format, "--tokenizer", vocab, "--layers", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(cli(["info", "--model", out, "--json"]).stdout) as Record<string, unknown>;
    assert.equal(info.vocab_size, 32000);
    assert.equal(info.bos_token_id, 1);
    const ids = JSON.parse(cli(["tokenize", "--model", out, "--text", "Hello world"]).stdout) as number[];
    const ref = JSON.parse(cli(["tokenize", "--model", vocab, "--text", "Hello world"]).stdout) as number[];
    assert.deepEqual(ids, ref);
  }
});

test("tokenize prints the ids of a text or of a file's bytes", async () => {
  const model = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const tok = await loadTokenizerFile(model);
  const text = "Hello, world! <|im_end|> 123 héllo\n";
  const r = cli(["tokenize", "--model", model, "--text", text]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), tok.encode(text));
  const file = path.join(tempDir(), "text.txt");
  fs.writeFileSync(file, text);
  assert.deepEqual(JSON.parse(cli(["tokenize", "--model", model, "--file", file]).stdout), tok.encode(text));
  // special tokens are not parsed: the marker becomes ordinary pieces
  assert.ok(!tok.encode(text).includes(tok.tokenToId("<|im_end|>")!));
});

test("generate is greedy at temperature 0 and identical from both formats", async () => {
  const hf = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const gg = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const args = ["--prompt", "The quick brown fox", "--max-tokens", "12"];
  const a = cli(["generate", "--model", hf, ...args]);
  const b = cli(["generate", "--model", gg, ...args]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(a.stdout.trim().length > 0);
  assert.equal(a.stdout, b.stdout);
  const chat = cli(["generate", "--model", gg, "--chat", "Hi there", "--system", "Be brief.", "--max-tokens", "8", "--stats"]);
  assert.equal(chat.code, 0, chat.stderr);
  assert.match(chat.stderr, /prompt tokens, \d+ generated/);
});

test("sampling with a seed is reproducible and differs across seeds", async () => {
  const gg = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const run = (seed: string) => cli(["generate", "--model", gg, "--prompt", "Once", "--max-tokens", "16", "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--seed", seed]).stdout;
  const a = run("1");
  assert.equal(a, run("1"));
  assert.notEqual(a, run("2"));
});

test("with the native addon disabled everything still works, with the same output", async () => {
  const gg = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const args = ["generate", "--model", gg, "--prompt", "Hello", "--max-tokens", "6"];
  const a = cli(args);
  const b = cli(args, { RADIXLM_NO_NATIVE: "1" });
  assert.equal(b.code, 0, b.stderr);
  assert.equal(a.stdout, b.stdout);
});
