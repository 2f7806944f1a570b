// radixlm convert: an HF folder converted to GGUF holds, tensor for tensor, the bytes that the
// test-model writer puts in a GGUF of the same seed (which lays weights out as llama.cpp's
// converter does), and the tokenizer and chat template come across.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModel } from "../../src/model/load.js";
import { testModel, tempDir } from "../helpers/models.js";
import { cli } from "../helpers/cli.js";

for (const [arch, dtype] of [["llama", "q8_0"], ["llama", "f32"], ["qwen2", "q8_0"], ["granite", "f32"], ["smollm3", "f32"], ["gemma2", "f32"], ["gemma3", "q8_0"], ["phi3", "q8_0"], ["qwen3moe", "q8_0"], ["qwen2moe", "q8_0"], ["olmoe", "f32"]] as const) {
  test(`convert: ${arch} HF f32 -> GGUF ${dtype} matches the directly written GGUF`, async () => {
    const hf = await testModel(`convert-${arch}-hf`, { arch, format: "hf", dtype: "f32", seed: 11 });
    const direct = await testModel(`convert-${arch}-${dtype}`, { arch, format: "gguf", dtype, seed: 11 });
    const out = path.join(tempDir(), `converted-${arch}-${dtype}.gguf`);
    const r = cli(["convert", "--model", hf, "--out", out, "--dtype", dtype]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${arch} gguf ${dtype}`));
    const a = await loadModel(out);
    const b = await loadModel(direct);
    const src = await loadModel(hf);
    try {
      assert.deepEqual(a.config, b.config);
      assert.deepEqual(a.weights.names().sort(), b.weights.names().sort());
      for (const name of b.weights.names()) {
        const x = a.weights.get(name);
        const y = b.weights.get(name);
        assert.equal(x.type, y.type, name);
        assert.ok(Buffer.from(x.bytes).equals(Buffer.from(y.bytes)), `${name} differs`);
      }
      const text = "Hello <|im_start|>user\nworld<|im_end|>";
      assert.deepEqual(a.tokenizer.encode(text, { parseSpecial: true }), src.tokenizer.encode(text, { parseSpecial: true }));
      assert.equal(a.chatTemplate, src.chatTemplate);
    } finally {
      a.close();
      b.close();
      src.close();
    }
  });
}

test("convert: a bad --dtype or a missing model is one line and exit 2", () => {
  const bad = cli(["convert", "--model", "x", "--out", path.join(tempDir(), "x.gguf"), "--dtype", "q3_X"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^radixlm: error: unknown --dtype "q3_X"/);
  const missing = cli(["convert", "--model", "/nonexistent/model", "--out", path.join(tempDir(), "y.gguf")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^radixlm: error: .*no such file/);
});

test("convert: a SmolLM3 whose layers without RoPE are not every 4th is refused, as GGUF cannot say so", async () => {
  const hf = await testModel("convert-smollm3-hf", { arch: "smollm3", format: "hf", dtype: "f32", seed: 11 });
  const odd = path.join(tempDir(), "convert-smollm3-odd-hf");
  fs.cpSync(hf, odd, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(odd, "config.json"), "utf8")) as Record<string, unknown>;
  fs.writeFileSync(path.join(odd, "config.json"), JSON.stringify({ ...cfg, no_rope_layers: [0, 1] }));
  const r = cli(["convert", "--model", odd, "--out", path.join(tempDir(), "odd.gguf"), "--dtype", "f32"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /GGUF holds only SmolLM3's pattern/);
});

test("convert: Phi-3's LongRoPE factors in config.json become GGUF's rope_factors_short/long tensors", async () => {
  const sizes = {
    ropeDim: 48, maxPositionEmbeddings: 4096,
    ropeScaling: {
      type: "longrope" as const, originalMaxPositionEmbeddings: 1024, attentionFactor: 1.19,
      shortFactor: Array.from({ length: 24 }, (_, i) => Math.fround(1 + i / 100)),
      longFactor: Array.from({ length: 24 }, (_, i) => Math.fround(1 + i)),
    },
  };
  const hf = await testModel("convert-phi3-longrope-hf", { arch: "phi3", format: "hf", dtype: "f32", seed: 11, sizes });
  const direct = await testModel("convert-phi3-longrope-gguf", { arch: "phi3", format: "gguf", dtype: "f32", seed: 11, sizes });
  const out = path.join(tempDir(), "converted-phi3-longrope.gguf");
  const r = cli(["convert", "--model", hf, "--out", out, "--dtype", "f32"]);
  assert.equal(r.code, 0, r.stderr);
  const a = await loadModel(out);
  const b = await loadModel(direct);
  try {
    assert.deepEqual(a.config, b.config);
    for (const name of ["rope_factors_short.weight", "rope_factors_long.weight"]) {
      assert.ok(Buffer.from(a.weights.get(name).bytes).equals(Buffer.from(b.weights.get(name).bytes)), name);
    }
    assert.deepEqual(Array.from(new Float32Array(a.weights.get("rope_factors_long.weight").bytes.slice().buffer)), sizes.ropeScaling.longFactor);
  } finally {
    a.close();
    b.close();
  }
});
