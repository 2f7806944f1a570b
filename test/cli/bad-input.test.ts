// Bad input never crashes: one clear line naming the file and the problem, exit code 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { tempDir, testModel } from "../helpers/models.js";
import { writeGGUF } from "../../src/formats/gguf.js";

function assertCleanError(r: { code: number | null; stderr: string; stdout: string }, ...needles: string[]): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected, got: ${r.stderr}`);
  assert.match(lines[0]!, /^radixlm: error: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  for (const n of needles) assert.ok(lines[0]!.includes(n), `"${lines[0]}" should mention "${n}"`);
}

function write(name: string, data: Uint8Array | string): string {
  const p = path.join(tempDir(), name);
  fs.writeFileSync(p, data);
  return p;
}

test("missing model file", () => {
  const p = path.join(tempDir(), "does-not-exist.gguf");
  assertCleanError(cli(["info", "--model", p]), p, "no such file");
  assertCleanError(cli(["generate", "--model", p, "--prompt", "hi"]), p);
  assertCleanError(cli(["tokenize", "--model", p, "--text", "hi"]), p);
});

test("wrong magic", () => {
  const p = write("not-a-model.gguf", "this is not a model file at all, just text, long enough");
  assertCleanError(cli(["info", "--model", p]), p, "magic");
});

test("truncated GGUF header", async () => {
  const good = fs.readFileSync(await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }));
  const p = write("truncated-header.gguf", good.subarray(0, 200));
  assertCleanError(cli(["info", "--model", p]), p);
  const q = write("tiny-file.gguf", good.subarray(0, 10));
  assertCleanError(cli(["info", "--model", q]), q, "truncated");
});

test("tensor data beyond the end of the file", async () => {
  const good = fs.readFileSync(await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }));
  const p = write("truncated-data.gguf", good.subarray(0, Math.floor(good.length * 0.6)));
  assertCleanError(cli(["info", "--model", p]), p, "beyond the end of the file");
});

test("unknown architecture", () => {
  const p = path.join(tempDir(), "unknown-arch.gguf");
  writeGGUF(p, { "general.architecture": "mamba9000" }, [
    { name: "token_embd.weight", type: "f32", shape: [4, 32], data: () => new Uint8Array(4 * 32 * 4) },
  ]);
  assertCleanError(cli(["info", "--model", p]), p, "unknown architecture mamba9000");
  const dir = path.join(tempDir(), "unknown-arch-hf");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: ["GPTBigCodeForCausalLM"] }));
  fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
  assertCleanError(cli(["info", "--model", dir]), "config.json", "GPTBigCodeForCausalLM");
});

test("unknown tensor type", () => {
  const p = path.join(tempDir(), "unknown-type.gguf");
  writeGGUF(p, { "general.architecture": "llama" }, [
    { name: "token_embd.weight", type: "f32", shape: [4, 32], data: () => new Uint8Array(4 * 32 * 4) },
  ]);
  // Patch the tensor's type id (after its name, n_dims and two u64 dims) to one we don't know.
  const b = fs.readFileSync(p);
  const at = b.indexOf(Buffer.from("token_embd.weight")) + "token_embd.weight".length + 4 + 16;
  assert.equal(b.readUInt32LE(at), 0);
  b.writeUInt32LE(99, at);
  fs.writeFileSync(p, b);
  assertCleanError(cli(["info", "--model", p]), p, "unsupported type id 99");

  const dir = path.join(tempDir(), "unknown-dtype-hf");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: ["LlamaForCausalLM"] }));
  const header = Buffer.from(JSON.stringify({ "model.embed_tokens.weight": { dtype: "I64", shape: [2], data_offsets: [0, 16] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.concat([len, header, Buffer.alloc(16)]));
  assertCleanError(cli(["info", "--model", dir]), "model.safetensors", "unsupported dtype \"I64\"");
});

test("malformed tokenizer.json", async () => {
  const good = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const dir = path.join(tempDir(), "bad-tokenizer-hf");
  fs.cpSync(good, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  assertCleanError(cli(["info", "--model", dir]), "tokenizer.json");
  assertCleanError(cli(["tokenize", "--model", path.join(dir, "tokenizer.json"), "--text", "hi"]), "tokenizer.json");
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "NoSuchModel" } }));
  assertCleanError(cli(["info", "--model", dir]), "tokenizer.json");
});

test("malformed config.json and bad arguments", async () => {
  const good = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const dir = path.join(tempDir(), "bad-config-hf");
  fs.cpSync(good, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), "not json");
  assertCleanError(cli(["info", "--model", dir]), "config.json", "not valid JSON");
  const gg = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  assertCleanError(cli(["generate", "--model", gg, "--prompt", "x", "--temperature", "abc"]), "--temperature");
  assertCleanError(cli(["generate", "--model", gg]), "--prompt");
  assertCleanError(cli(["make-test-model", "--out", path.join(tempDir(), "x"), "--format", "hf", "--dtype", "q4_0"]), "q4_0");
  assertCleanError(cli(["no-such-command"]));
});

test("a vocab-only GGUF is a tokenizer, not a runnable model", async () => {
  const vocab = path.resolve(process.cwd(), "../shared/testdata/vocab/ggml-vocab-gpt-2.gguf");
  if (!fs.existsSync(vocab)) return;
  assertCleanError(cli(["info", "--model", vocab]), vocab, "no tensors");
});
