// Bad input never crashes: one clear line naming the file and the problem, exit code 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { tempDir, testModel } from "../helpers/models.js";
import { writeGGUF } from "../../src/formats/gguf.js";
import { ggufFields, ggufKV, setGGUFNumber, setGGUFStringField, writeU32 } from "../helpers/model-fields.js";

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
  assertCleanError(cli(["info", "--model", p]), p, "unknown architecture \"mamba9000\"");
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

test("file content in an error line is escaped: no terminal control sequence reaches stderr", async () => {
  const good = fs.readFileSync(await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }));
  const evil = "\u001b]0;owned\u0007\u001b[2J\u009b1m\u202e" + "A".repeat(300);
  const f = ggufFields(good);
  // A metadata string: the architecture's name.
  const arch = write("evil-arch.gguf", setGGUFStringField(good, ggufKV(f, "general.architecture").text!, evil));
  // A tensor name (the tensor then has a type we do not know, so the message quotes it).
  const renamed = setGGUFStringField(good, f.tensors[3]!.name, evil);
  const tensor = write("evil-tensor.gguf", writeU32(renamed, ggufFields(renamed).tensors[3]!.typeAt, 99));
  // A metadata key (whose value then has a type we do not know, so the message quotes it).
  const rekeyed = setGGUFStringField(good, f.kvs[2]!.key, "\n second line" + evil);
  const key = write("evil-key.gguf", writeU32(rekeyed, ggufFields(rekeyed).kvs[2]!.typeAt, 13));
  // JSON that does not parse, with escapes near the error (V8's message quotes the text there).
  const dir = path.join(tempDir(), "evil-config-hf");
  fs.cpSync(await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 }), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: ["\u001b[31mLlama\u0007"] }));
  const dir2 = path.join(tempDir(), "evil-json-hf");
  fs.cpSync(dir, dir2, { recursive: true });
  fs.writeFileSync(path.join(dir2, "config.json"), `{"a": 1, \u001b[2J\u001b]0;x\u0007 }`);
  for (const [model, needle] of [[arch, "\\u001b]0;owned\\u0007\\u001b[2J\\u009b1m\\u202e"], [tensor, "unsupported type id 99"], [key, "\\n second line"],
    [dir, "\\u001b[31mLlama\\u0007"], [dir2, "not valid JSON"]] as const) {
    const r = cli(["info", "--model", model]);
    assertCleanError(r, needle);
    assert.doesNotMatch(r.stderr.trimEnd(), /[\u0000-\u001f\u007f-\u009f\u202e]/, "no raw control characters");
    assert.ok(r.stderr.length < 400, `short: ${r.stderr}`);
  }
});

test("block_count 0xFFFFFFFF: one line and exit 2, at once", async () => {
  const good = fs.readFileSync(await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }));
  const p = write("block-count.gguf", setGGUFNumber(good, "llama.block_count", 0xffffffff));
  const t0 = performance.now();
  assertCleanError(cli(["generate", "--model", p, "--prompt", "hi"], {}, 20_000), p, "llama.block_count: 4294967295 is too large");
  assert.ok(performance.now() - t0 < 10_000);
});
