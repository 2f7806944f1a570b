import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModel } from "../../src/model/load.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { ModelRunner } from "../../src/kernels/backend.js";
import { QUANT_TYPES } from "../../src/formats/dtype.js";
import { dequantize } from "../../src/formats/quant.js";
import type { WeightTensor } from "../../src/kernels/tensor.js";
import type { ShapeOverrides } from "../../src/model/test-model.js";
import { editSafetensors } from "../helpers/model-fields.js";
import { tempDir, testModel } from "../helpers/models.js";
import { buildPlan, logitsByChunks, maxRelError, range } from "../helpers/run.js";

const TOKENS = [5, 300, 17, 900, 42, 42, 7, 1000, 256, 3, 64, 511];
const small = { numLayers: 2, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512 } as const;

async function runnerFor(path: string, dtype: "f16" | "f32" = "f32"): Promise<{ runner: ModelRunner; close: () => void; vocab: number }> {
  const m = await loadModel(path);
  const runner = referenceBackend.createRunner(m, { capacity: 64, dtype });
  return { runner, vocab: m.config.vocabSize, close: () => { runner.close(); m.close(); } };
}

function dequantizeVector(t: WeightTensor): Float32Array {
  return dequantize(t.type, t.bytes, t.shape.reduce((a, b) => a * b, 1));
}

async function allLogits(path: string): Promise<Float32Array[]> {
  const r = await runnerFor(path);
  try {
    return await logitsByChunks(r.runner, TOKENS, TOKENS.length, range(0, TOKENS.length));
  } finally {
    r.close();
  }
}

// Gemma 2 and 3 with local layers of 5 positions between global ones (12 tokens outgrow
// them), and Gemma 3's global RoPE base apart from its local one.
const GEMMA: Record<"gemma2" | "gemma3", { sizes: ShapeOverrides; attentionWindows: number[] }> = {
  gemma2: { sizes: small, attentionWindows: [5, 0] },
  gemma3: { sizes: { ...small, numLayers: 3, ropeTheta: 1000000 }, attentionWindows: [5, 5, 0] },
};

// Phi-3: RoPE over 48 of 64 dims, LongRoPE from an original context of `original`.
function phiLongRope(original: number, attentionFactor = 1.2, short?: number[]): ShapeOverrides {
  const pairs = 24;
  return {
    ...small, ropeDim: 48, maxPositionEmbeddings: 4096,
    ropeScaling: {
      type: "longrope", originalMaxPositionEmbeddings: original, attentionFactor,
      shortFactor: short ?? Array.from({ length: pairs }, (_, i) => Math.fround(1 + 0.1 * i / pairs)),
      longFactor: Array.from({ length: pairs }, (_, i) => Math.fround(1 + 20 * (i / pairs) ** 2)),
    },
  };
}
const PHI3 = { sizes: phiLongRope(32) };
// Mixtral: llama with 4 experts of the MLP's width, 2 per token.
const MIXTRAL = { sizes: { ...small, intermediateSize: 256, moe: { experts: 4, used: 2, expertFfn: 256, normTopK: true } } };

// SmolLM3 with 4 layers, so that one (the 4th) goes without RoPE.
const FOUR_LAYERS = { ...small, numLayers: 4 };
for (const name of ["llama", "qwen2", "qwen3", "granite", "smollm3", "gemma2", "gemma3", "phi3", "qwen3moe", "mixtral", "qwen2moe", "olmoe"] as const) {
  test(`${name}: the same weights as an HF f32 folder and a GGUF f32 file give the same logits`, async () => {
    const arch = name === "mixtral" ? "llama" : name;
    const sizes = name === "smollm3" ? { sizes: FOUR_LAYERS } : name === "gemma2" || name === "gemma3" ? GEMMA[name] : name === "phi3" ? PHI3 : name === "mixtral" ? MIXTRAL : {};
    const hf = await testModel(`${name}-hf-f32`, { arch, format: "hf", dtype: "f32", seed: 7, ...sizes });
    const gg = await testModel(`${name}-gguf-f32`, { arch, format: "gguf", dtype: "f32", seed: 7, ...sizes });
    const a = await allLogits(hf);
    const b = await allLogits(gg);
    assert.equal(a.length, TOKENS.length);
    for (let i = 0; i < a.length; i++) {
      const e = maxRelError(b[i]!, a[i]!);
      assert.ok(e <= 1e-5, `${name} position ${i}: relative error ${e}`);
    }
  });
}

test("llama3 rope scaling: HF rope_scaling and GGUF rope_freqs give the same logits", async () => {
  const opts = { preset: "llama3.2-1b" as const, sizes: { ...small, vocabSize: 1100 }, seed: 3 };
  const hf = await testModel("llama3-hf", { ...opts, format: "hf", dtype: "f32" });
  const gg = await testModel("llama3-gguf", { ...opts, format: "gguf", dtype: "f32" });
  const a = await allLogits(hf);
  const b = await allLogits(gg);
  for (let i = 0; i < a.length; i++) assert.ok(maxRelError(b[i]!, a[i]!) <= 1e-5, `position ${i}`);
  // and the scaling changes the result versus no scaling at all
  const plain = await testModel("llama-noscale-hf", { arch: "llama", sizes: { ...small, vocabSize: 1100 }, seed: 3, format: "hf", dtype: "f32" });
  const c = await allLogits(plain);
  assert.ok(maxRelError(c[TOKENS.length - 1]!, a[TOKENS.length - 1]!) > 1e-3);
});

test("f16 weights: HF folder and GGUF file agree, and stay close to f32", async () => {
  const hf = await testModel("qwen2-hf-f16", { arch: "qwen2", format: "hf", dtype: "f16", seed: 7 });
  const gg = await testModel("qwen2-gguf-f16", { arch: "qwen2", format: "gguf", dtype: "f16", seed: 7 });
  const ref = await allLogits(await testModel("qwen2-hf-f32", { arch: "qwen2", format: "hf", dtype: "f32", seed: 7 }));
  const a = await allLogits(hf);
  const b = await allLogits(gg);
  for (let i = 0; i < a.length; i++) {
    assert.ok(maxRelError(b[i]!, a[i]!) <= 1e-5, `position ${i}`);
    assert.ok(maxRelError(a[i]!, ref[i]!) <= 1e-2, `f16 vs f32 at ${i}`);
  }
});

test("bf16 HF folder loads and stays close to f32", async () => {
  const a = await allLogits(await testModel("llama-hf-bf16", { arch: "llama", format: "hf", dtype: "bf16", seed: 7 }));
  const ref = await allLogits(await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 }));
  for (let i = 0; i < a.length; i++) assert.ok(maxRelError(a[i]!, ref[i]!) <= 5e-2, `bf16 vs f32 at ${i}`);
});

test("a sharded HF folder (safetensors index) loads the same weights", async () => {
  const sharded = await testModel("llama-hf-sharded", { arch: "llama", format: "hf", dtype: "f32", seed: 7, maxShardBytes: 1 << 20 });
  const single = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const a = await allLogits(sharded);
  const b = await allLogits(single);
  for (let i = 0; i < a.length; i++) assert.deepEqual(a[i], b[i]);
});

test("incremental decoding through the KV cache gives exactly the logits of recomputing", async () => {
  for (const kv of ["f32", "f16"] as const) {
    const path = await testModel("qwen3-gguf-f32", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 7 });
    const r = await runnerFor(path, kv);
    try {
      const whole = await logitsByChunks(r.runner, TOKENS, TOKENS.length, range(0, TOKENS.length));
      // Recompute each prefix from scratch in fresh slots: the last row must match.
      for (const n of [1, 5, TOKENS.length]) {
        const fresh = await logitsByChunks(r.runner, TOKENS.slice(0, n), n, range(20, n));
        assert.deepEqual(fresh[n - 1], whole[n - 1], `${kv} prefix ${n}`);
      }
      for (const chunk of [1, 3, 7]) {
        const parts = await logitsByChunks(r.runner, TOKENS, chunk, range(40, TOKENS.length));
        for (let i = 0; i < TOKENS.length; i++) assert.deepEqual(parts[i], whole[i], `${kv} chunk ${chunk} position ${i}`);
      }
    } finally {
      r.close();
    }
  }
});

test("a sequence's logits do not depend on the batch it shares, nor on where its slots are", async () => {
  const path = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const r = await runnerFor(path);
  try {
    const a = TOKENS.slice(0, 6);
    const b = TOKENS.slice(3);
    const alone = await r.runner.forward(buildPlan([{ tokens: a, cached: 0, slots: range(0, a.length) }]));
    const scattered = Int32Array.from([50, 3, 61, 17, 40, 9]);
    const both = await r.runner.forward(buildPlan([
      { tokens: b, cached: 0, slots: range(10, b.length) },
      { tokens: a, cached: 0, slots: scattered },
    ]));
    assert.deepEqual(both.subarray(r.vocab, 2 * r.vocab), alone);
  } finally {
    r.close();
  }
});

test("every quantized weight type loads and runs close to the f32 weights", async () => {
  const ref = await allLogits(await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }));
  // Cosine similarity of the logits against f32; looser for fewer bits.
  const minCos: Record<string, number> = { q8_0: 0.999, q6_K: 0.998, q5_0: 0.99, q5_1: 0.99, q5_K: 0.99, q4_0: 0.97, q4_1: 0.97, q4_K: 0.97 };
  for (const t of QUANT_TYPES) {
    const q = await allLogits(await testModel(`llama-gguf-${t}`, { arch: "llama", format: "gguf", dtype: t, seed: 7 }));
    const last = TOKENS.length - 1;
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < q[last]!.length; i++) {
      dot += q[last]![i]! * ref[last]![i]!;
      na += q[last]![i]! ** 2;
      nb += ref[last]![i]! ** 2;
    }
    const cos = dot / Math.sqrt(na * nb);
    assert.ok(cos >= (minCos[t] ?? 0.97), `${t}: cosine ${cos}`);
  }
});

test("granite: neutral multipliers with a logit scale of 2 give llama's logits halved, bit for bit; its own multipliers change them", async () => {
  const llama = await allLogits(await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 }));
  const own = await testModel("granite-hf-f32", { arch: "granite", format: "hf", dtype: "f32", seed: 7 });
  // The same weights with multipliers that leave a llama block as it is, but for the logits.
  const neutral = path.join(tempDir(), "granite-hf-neutral");
  fs.cpSync(own, neutral, { recursive: true });
  const cfgPath = path.join(neutral, "config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  Object.assign(cfg, { embedding_multiplier: 1, attention_multiplier: 1 / Math.sqrt(64), residual_multiplier: 1, logits_scaling: 2 });
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  const halved = await allLogits(neutral);
  for (let i = 0; i < llama.length; i++) {
    const want = llama[i]!.map((x) => x / 2);
    assert.deepEqual(halved[i], want, `position ${i}`);
  }
  const granite = await allLogits(own);
  assert.ok(maxRelError(granite[0]!, llama[0]!) > 1e-2, "Granite's own multipliers change the logits");
});

test("smollm3: the 4th layer goes without RoPE: the same weights with RoPE in every layer give other logits", async () => {
  const own = await testModel("smollm3-hf-f32", { arch: "smollm3", format: "hf", dtype: "f32", seed: 7, sizes: FOUR_LAYERS });
  const cfg = JSON.parse(fs.readFileSync(path.join(own, "config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(cfg.no_rope_layers, [1, 1, 1, 0]);
  const everywhere = path.join(tempDir(), "smollm3-hf-rope-everywhere");
  fs.cpSync(own, everywhere, { recursive: true });
  fs.writeFileSync(path.join(everywhere, "config.json"), JSON.stringify({ ...cfg, no_rope_layers: [1, 1, 1, 1] }));
  const a = await allLogits(own);
  const b = await allLogits(everywhere);
  // Position 0 rotates by angle 0: the same either way; later positions differ.
  assert.deepEqual(a[0], b[0]);
  assert.ok(maxRelError(a[5]!, b[5]!) > 1e-3, "RoPE in the 4th layer changes later positions");
});

/** A copy of an HF test folder with its config.json edited. */
function withConfig(src: string, name: string, edit: (cfg: Record<string, unknown>) => void): string {
  const dir = path.join(tempDir(), name);
  fs.cpSync(src, dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  edit(cfg);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
  return dir;
}

test("gemma2: the final soft-cap is cap * tanh(logit / cap) of the uncapped logits; the attention cap changes them; a huge cap is none", async () => {
  const own = await testModel("gemma2-hf-f32", { arch: "gemma2", format: "hf", dtype: "f32", seed: 7, ...GEMMA.gemma2 });
  const raw = await allLogits(withConfig(own, "gemma2-uncapped", (c) => { c.final_logit_softcapping = null; c.attn_logit_softcapping = null; }));
  const capped = await allLogits(withConfig(own, "gemma2-final-cap-2", (c) => { c.final_logit_softcapping = 2; c.attn_logit_softcapping = null; }));
  for (let i = 0; i < raw.length; i++) {
    const want = raw[i]!.map((x) => 2 * Math.tanh(x / 2));
    assert.ok(maxRelError(capped[i]!, want) <= 1e-6, `position ${i}: ${maxRelError(capped[i]!, want)}`);
    assert.ok(capped[i]!.every((x) => Math.abs(x) < 2));
  }
  const huge = await allLogits(withConfig(own, "gemma2-attn-cap-huge", (c) => { c.final_logit_softcapping = null; c.attn_logit_softcapping = 1e9; }));
  const small2 = await allLogits(withConfig(own, "gemma2-attn-cap-small", (c) => { c.final_logit_softcapping = null; c.attn_logit_softcapping = 0.05; }));
  for (let i = 0; i < raw.length; i++) assert.ok(maxRelError(huge[i]!, raw[i]!) <= 1e-5, `position ${i}: a cap of 1e9 is none`);
  assert.ok(maxRelError(small2[5]!, raw[5]!) > 1e-3, "a cap of 0.05 flattens the attention");
  // Position 0 attends to itself alone: any cap leaves its weights 1.
  assert.ok(maxRelError(small2[0]!, raw[0]!) <= 1e-5);
});

test("gemma: the sliding window: a window as long as the prompt is none; a shorter one changes only positions past it", async () => {
  const own = await testModel("gemma2-hf-f32", { arch: "gemma2", format: "hf", dtype: "f32", seed: 7, ...GEMMA.gemma2 });
  const a = await allLogits(own);
  const full = await allLogits(withConfig(own, "gemma2-window-12", (c) => { c.sliding_window = TOKENS.length; }));
  // Window 5: positions 0-4 see all they would anyway.
  for (let i = 0; i < 5; i++) assert.deepEqual(a[i], full[i], `position ${i}`);
  for (let i = 5; i < TOKENS.length; i++) assert.ok(maxRelError(a[i]!, full[i]!) > 1e-4, `position ${i} is past the window`);
});

test("gemma3: the local layers rotate with rope_local_base_freq, the global ones with rope_theta", async () => {
  const own = await testModel("gemma3-hf-f32", { arch: "gemma3", format: "hf", dtype: "f32", seed: 7, ...GEMMA.gemma3 });
  const a = await allLogits(own);
  const local = await allLogits(withConfig(own, "gemma3-local-base", (c) => { c.rope_local_base_freq = 1000000; }));
  const global = await allLogits(withConfig(own, "gemma3-global-base", (c) => { c.rope_theta = 10000; }));
  assert.deepEqual(a[0], local[0]);
  assert.ok(maxRelError(a[6]!, local[6]!) > 1e-4, "the local base matters");
  assert.ok(maxRelError(a[6]!, global[6]!) > 1e-4, "the global base matters");
});

test("gemma: HF norms scale by 1 + w: all-zero norm weights in the folder are the identity, as in GGUF's 1 + w", async () => {
  const m = await loadModel(await testModel("gemma3-hf-f32", { arch: "gemma3", format: "hf", dtype: "f32", seed: 7, ...GEMMA.gemma3 }));
  try {
    const hfNorm = dequantizeVector(m.weights.get("blk.0.attn_norm.weight"));
    const g = await loadModel(await testModel("gemma3-gguf-f32", { arch: "gemma3", format: "gguf", dtype: "f32", seed: 7, ...GEMMA.gemma3 }));
    try {
      assert.deepEqual(hfNorm, dequantizeVector(g.weights.get("blk.0.attn_norm.weight")));
      assert.ok(Math.abs(hfNorm.reduce((x, y) => x + y, 0) / hfNorm.length - 1) < 0.05, "about 1 + (w about 0)");
    } finally {
      g.close();
    }
  } finally {
    m.close();
  }
});

test("gemma3: a multimodal checkpoint (Gemma3ForConditionalGeneration: text_config, language_model.* tensors) runs its text model", async () => {
  const own = await testModel("gemma3-hf-f32", { arch: "gemma3", format: "hf", dtype: "f32", seed: 7, ...GEMMA.gemma3 });
  const dir = path.join(tempDir(), "gemma3-multimodal");
  fs.cpSync(own, dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({
    architectures: ["Gemma3ForConditionalGeneration"], model_type: "gemma3", text_config: { ...cfg, model_type: "gemma3_text" },
    vision_config: { model_type: "siglip_vision_model" },
  }));
  const st = path.join(dir, "model.safetensors");
  fs.writeFileSync(st, editSafetensors(fs.readFileSync(st), (h) => {
    for (const k of Object.keys(h)) {
      if (k === "__metadata__") continue;
      // Older checkpoints' names: language_model.model.*.
      h[`language_model.${k}`] = h[k];
      delete h[k];
    }
  }));
  assert.deepEqual(await allLogits(dir), await allLogits(own));
});

test("phi3: LongRoPE with factors of 1 and an attention factor of 1 is plain RoPE over the rotated dims", async () => {
  const ones = Array.from({ length: 24 }, () => 1);
  const plain = await testModel("phi3-rope-plain", { arch: "phi3", format: "hf", dtype: "f32", seed: 7, sizes: { ...phiLongRope(1024), ropeScaling: null } });
  const unit = await testModel("phi3-rope-unit", { arch: "phi3", format: "hf", dtype: "f32", seed: 7, sizes: phiLongRope(1024, 1, ones) });
  assert.deepEqual(await allLogits(unit), await allLogits(plain));
  // The attention factor scales the rotated values: scores, and so the logits past position 0, change.
  const scaled = await allLogits(await testModel("phi3-rope-scaled", { arch: "phi3", format: "hf", dtype: "f32", seed: 7, sizes: phiLongRope(1024, 1.5, ones) }));
  const p = await allLogits(plain);
  assert.ok(maxRelError(scaled[4]!, p[4]!) > 1e-4);
});

test("phi3: the long factors when the runner's context passes the original one, the short ones within it, as llama.cpp decides", async () => {
  const m = await loadModel(await testModel("phi3-hf-f32", { arch: "phi3", format: "hf", dtype: "f32", seed: 7, ...PHI3 }));
  // The same weights and config, but for short factors equal to the long ones.
  const s = m.config.ropeScaling;
  assert.ok(s?.type === "longrope" && s.longFactor);
  const asLong = { ...m, config: { ...m.config, ropeScaling: { ...s, shortFactor: s.longFactor } } };
  try {
    const run = async (model: typeof m, capacity: number): Promise<Float32Array[]> => {
      const r = referenceBackend.createRunner(model, { capacity, dtype: "f32" });
      try {
        return await logitsByChunks(r, TOKENS, TOKENS.length, range(0, TOKENS.length));
      } finally {
        r.close();
      }
    };
    const within = await run(m, 32); // the original context: short factors
    const past = await run(m, 33);
    assert.deepEqual(past, await run(asLong, 32));
    assert.ok(maxRelError(within[6]!, past[6]!) > 1e-4, "short and long factors differ");
  } finally {
    m.close();
  }
});

test("phi3: a LongRoPE factor list of the wrong length, and an odd rotated dim, are refused with the key named", async () => {
  const own = await testModel("phi3-hf-f32", { arch: "phi3", format: "hf", dtype: "f32", seed: 7, ...PHI3 });
  const short = withConfig(own, "phi3-short-list", (c) => { (c.rope_scaling as Record<string, unknown>).short_factor = [1, 1]; });
  await assert.rejects(loadModel(short), /config\.json: rope_scaling\.short_factor: must list 24 positive numbers \(one per rotated pair\), got a list/);
  const odd = withConfig(own, "phi3-odd-rotary", (c) => { c.partial_rotary_factor = 0.71; });
  await assert.rejects(loadModel(odd), /config\.json: partial_rotary_factor: 0\.71 of head dim 64 is 45 dims; RoPE rotates an even number from 2/);
});

test("mixture of experts: HF's per-expert matrices load as GGUF's stacks; one expert per token gives other logits than two; dense layers between, too many experts per token and clip_qkv are refused", async () => {
  const hf = await testModel("mixtral-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7, ...MIXTRAL });
  const cfg = JSON.parse(fs.readFileSync(path.join(hf, "config.json"), "utf8")) as Record<string, unknown>;
  assert.equal((cfg.architectures as string[])[0], "MixtralForCausalLM");
  assert.equal(cfg.num_local_experts, 4);
  const m = await loadModel(hf);
  try {
    assert.deepEqual(m.weights.get("blk.1.ffn_down_exps.weight").shape, [4, 256, 256]);
    assert.deepEqual(m.weights.get("blk.0.ffn_gate_inp.weight").shape, [4, 256]);
  } finally {
    m.close();
  }
  // One expert per token of four: other logits than two.
  const one = await allLogits(withConfig(hf, "mixtral-one-expert", (c) => { c.num_experts_per_tok = 1; }));
  assert.ok(maxRelError(one[3]!, (await allLogits(hf))[3]!) > 1e-3);
  const q = await testModel("qwen3moe-hf-f32", { arch: "qwen3moe", format: "hf", dtype: "f32", seed: 7 });
  await assert.rejects(loadModel(withConfig(q, "qwen3moe-dense-layer", (c) => { c.mlp_only_layers = [1]; })), /mlp_only_layers: layers with a dense MLP between mixture layers are not supported/);
  await assert.rejects(loadModel(withConfig(q, "qwen3moe-too-many", (c) => { c.num_experts_per_tok = 9; })), /num_experts_per_tok: 9 experts per token, but the model has 8/);
  const o = await testModel("olmoe-hf-f32", { arch: "olmoe", format: "hf", dtype: "f32", seed: 7 });
  await assert.rejects(loadModel(withConfig(o, "olmoe-clip", (c) => { c.clip_qkv = 8; })), /clip_qkv: clipping Q, K and V is not supported/);
});
