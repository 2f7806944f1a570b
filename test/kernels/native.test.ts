import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { nativeBackend, runnerAddon, type NativeModelRunner } from "../../src/kernels/native.js";
import type { KVDType, ModelRunner } from "../../src/kernels/backend.js";
import { QUANT_TYPES, type WeightType } from "../../src/formats/dtype.js";
import type { ShapeOverrides, TestModelOptions } from "../../src/model/test-model.js";
import { mulberry32 } from "../../src/util/random.js";
import { tempDir, testModel } from "../helpers/models.js";
import { cli } from "../helpers/cli.js";
import { argmax, buildPlan, logitsByChunks, maxRelError, range, type SeqChunk } from "../helpers/run.js";

const addon = runnerAddon();
const skip = addon ? false : "native addon not built";
const TOKENS = [5, 300, 17, 900, 42, 42, 7, 1000, 256, 3, 64, 511];

type ModelOpts = Omit<TestModelOptions, "out">;

function randomTokens(n: number, seed: number, vocab = 1024): number[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rnd() * vocab));
}

interface Pair {
  model: LoadedModel;
  native: (kv?: KVDType, threads?: number, capacity?: number) => ModelRunner;
  reference: (kv?: KVDType) => ModelRunner;
}

async function open(name: string, opts: ModelOpts): Promise<Pair> {
  const model = await loadModel(await testModel(name, opts));
  return {
    model,
    native: (kv = "f32", threads = 2, capacity = 512) => nativeBackend(addon!, threads).createRunner(model, { capacity, dtype: kv }),
    reference: (kv = "f32") => referenceBackend.createRunner(model, { capacity: 64, dtype: kv }),
  };
}

async function compare(p: Pair, kv: KVDType, tokens = TOKENS): Promise<{ err: number; a: Float32Array[]; b: Float32Array[] }> {
  const n = p.native(kv);
  const r = p.reference(kv);
  try {
    const a = await logitsByChunks(n, tokens, tokens.length, range(0, tokens.length));
    const b = await logitsByChunks(r, tokens, tokens.length, range(0, tokens.length));
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, maxRelError(a[i]!, b[i]!));
    return { err, a, b };
  } finally {
    n.close();
    r.close();
  }
}

const PHI3_SIZES: ShapeOverrides = {
  numLayers: 2, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024, ropeDim: 48,
  maxPositionEmbeddings: 4096,
  ropeScaling: {
    type: "longrope", originalMaxPositionEmbeddings: 32, attentionFactor: 1.2,
    shortFactor: Array.from({ length: 24 }, (_, i) => Math.fround(1 + 0.1 * i / 24)),
    longFactor: Array.from({ length: 24 }, (_, i) => Math.fround(1 + 20 * (i / 24) ** 2)),
  },
};

const FLOAT_MODELS: [string, ModelOpts][] = [
  ["llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 }],
  ["llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 }],
  ["qwen2-gguf-f32", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 7 }],
  ["qwen3-gguf-f32", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 7 }],
  ["llama3-gguf", { preset: "llama3.2-1b", format: "gguf", dtype: "f32", seed: 3,
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1100 } }],
  ["llama-gguf-f16", { arch: "llama", format: "gguf", dtype: "f16", seed: 7 }],
  ["qwen2-gguf-f16", { arch: "qwen2", format: "gguf", dtype: "f16", seed: 7 }],
  ["qwen3-hf-bf16", { arch: "qwen3", format: "hf", dtype: "bf16", seed: 7 }],
  ["llama-gguf-bf16", { arch: "llama", format: "gguf", dtype: "bf16", seed: 7 }],
  // Granite's multipliers on the embedding, attention scores, residual branches and logits.
  ["granite-gguf-f32", { arch: "granite", format: "gguf", dtype: "f32", seed: 7 }],
  ["granite-hf-bf16", { arch: "granite", format: "hf", dtype: "bf16", seed: 7 }],
  // SmolLM3: the 4th layer without RoPE.
  ["smollm3-gguf-f32", { arch: "smollm3", format: "gguf", dtype: "f32", seed: 7,
    sizes: { numLayers: 4, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024 } }],
  // Sliding windows: both layers see their last 5 positions (GGUF holds one window); the
  // second layer its last 3, the first all of them.
  ["llama-window-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7, attentionWindows: [5, 5] }],
  ["qwen3-window-hf-bf16", { arch: "qwen3", format: "hf", dtype: "bf16", seed: 7, attentionWindows: [0, 3] }],
  // Gemma 2 (soft-caps, GeGLU, post-norms, local layers) and Gemma 3 (q/k norms, a local
  // RoPE base) in both formats; head_dim 256 as the real ones have.
  ["gemma2-gguf-f32", { arch: "gemma2", format: "gguf", dtype: "f32", seed: 7, attentionWindows: [5, 0] }],
  ["gemma3-hf-bf16", { arch: "gemma3", format: "hf", dtype: "bf16", seed: 7, attentionWindows: [5, 5, 0],
    sizes: { numLayers: 3, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024, ropeTheta: 1000000 } }],
  ["gemma3-hd256", { arch: "gemma3", format: "gguf", dtype: "f32", seed: 7, attentionWindows: [7, 0],
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 4, numKvHeads: 1, headDim: 256, intermediateSize: 512, vocabSize: 1024, ropeTheta: 1000000 } }],
  // Phi-3: fused QKV and gate-up cut into views, RoPE over 48 of 64 dims, LongRoPE (the
  // long factors: both runners' pools pass the original 32 positions).
  ["phi3-gguf-f32", { arch: "phi3", format: "gguf", dtype: "f32", seed: 7, sizes: PHI3_SIZES }],
  ["phi3-hf-bf16", { arch: "phi3", format: "hf", dtype: "bf16", seed: 7, sizes: PHI3_SIZES }],
  // Mixtures of experts: Qwen3-MoE (8 experts, 2 per token, q/k norms) and Mixtral (llama's).
  ["qwen3moe-gguf-f32", { arch: "qwen3moe", format: "gguf", dtype: "f32", seed: 7 }],
  ["mixtral-hf-bf16", { arch: "llama", format: "hf", dtype: "bf16", seed: 7,
    sizes: { intermediateSize: 256, moe: { experts: 4, used: 2, expertFfn: 256, normTopK: true } } }],
  // Qwen2-MoE's shared expert; OLMoE's q/k norms over the whole projections.
  ["qwen2moe-gguf-f32", { arch: "qwen2moe", format: "gguf", dtype: "f32", seed: 7 }],
  ["olmoe-hf-bf16", { arch: "olmoe", format: "hf", dtype: "bf16", seed: 7 }],
  // Other head shapes: 8 query heads per kv head with head_dim 128; 5 per kv head with
  // head_dim 40 (a half-width tail in the V accumulation); head_dim 36 (no 8-wide SIMD).
  ["qwen3-g8-hd128", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 4,
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 16, numKvHeads: 2, headDim: 128, intermediateSize: 512, vocabSize: 1024 } }],
  ["llama-g5-hd40", { arch: "llama", format: "gguf", dtype: "f32", seed: 4,
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 10, numKvHeads: 2, headDim: 40, intermediateSize: 512, vocabSize: 1024 } }],
  ["qwen2-hd36", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 4,
    sizes: { numLayers: 2, hiddenSize: 216, numHeads: 6, numKvHeads: 3, headDim: 36, intermediateSize: 512, vocabSize: 1024 } }],
];

for (const [name, opts] of FLOAT_MODELS) {
  test(`native matches the reference on ${name}: 1e-4 with an f32 KV pool, 1e-3 with f16`, { skip }, async () => {
    const p = await open(name, opts);
    try {
      // An f16 pool rounds K/V: one ulp of f16 flips when the f32 inputs differ in the last bit.
      for (const [kv, bound] of [["f32", 1e-4], ["f16", 1e-3]] as const) {
        const { err } = await compare(p, kv);
        assert.ok(err <= bound, `${name} kv ${kv}: relative error ${err}`);
      }
    } finally {
      p.model.close();
    }
  });
}

test("the scalar paths (ops and matmul) match the reference and are batch invariant too", { skip }, async (t) => {
  const kernels = addon as unknown as { setSimdPath?: (name: string) => boolean };
  if (!addon!.setOpsPath("scalar")) return t.skip("no scalar ops hook");
  const matmulScalar = typeof kernels.setSimdPath === "function" && kernels.setSimdPath("scalar");
  try {
    const p = await open("qwen3-gguf-f32", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 7 });
    try {
      const { err } = await compare(p, "f32");
      assert.ok(err <= 1e-4, `scalar path (matmul ${matmulScalar ? "scalar" : "simd"}): relative error ${err}`);
      const target = randomTokens(70, 5);
      const one = p.native("f16", 1, 256);
      const alone = await logitsByChunks(one, target, target.length, range(0, 70));
      one.close();
      const two = p.native("f16", 2, 256);
      const got = await inBatch(two, target, 7, range(100, 70), [randomTokens(20, 6)], [range(0, 90)], 1);
      two.close();
      for (let i = 0; i < target.length; i++) assert.ok(sameBits(got[i]!, alone[i]!), `scalar path: position ${i}`);
    } finally {
      p.model.close();
    }
    // Sliding windows; Gemma 2's soft-caps and GeGLU.
    for (const [name, opts] of [WINDOW_MODELS.find(([n]) => n === "qwen2-window")!, FLOAT_MODELS.find(([n]) => n === "gemma2-gguf-f32")!]) {
      const w = await open(name, opts);
      try {
        const { err } = await compare(w, "f32", randomTokens(40, 3));
        assert.ok(err <= 1e-4, `scalar path on ${name}: relative error ${err}`);
      } finally {
        w.model.close();
      }
    }
  } finally {
    addon!.setOpsPath("auto");
    if (matmulScalar) kernels.setSimdPath!("auto");
  }
});

// Quantized weights: the native matmul quantizes the activations to 8 bits (blocks of 32 for
// the q4/q5/q8 types, of 256 with one scale for the K-quants), as llama.cpp does; the
// reference multiplies f32 activations. The logits differ by that rounding: about 1.5-2%
// of the largest logit measured, 2.5% for K-quants. Random-weight logits are nearly flat
// (top-2 gaps down to 0.1% of the range), so greedy agreement is checked over the first
// 4 tokens of two prompts, where no near-tie falls.
const QUANT_BOUND: Partial<Record<WeightType, number>> = { q4_K: 4e-2, q5_K: 4e-2, q6_K: 4e-2 };
const QUANT_DEFAULT_BOUND = 3e-2;

for (const t of QUANT_TYPES) {
  test(`native matches the reference on ${t} weights (within ${QUANT_BOUND[t] ?? QUANT_DEFAULT_BOUND} relative) and greedy tokens agree`, { skip }, async () => {
    const p = await open(`llama-gguf-${t}`, { arch: "llama", format: "gguf", dtype: t, seed: 7 });
    try {
      const { err } = await compare(p, "f32");
      assert.ok(err <= (QUANT_BOUND[t] ?? QUANT_DEFAULT_BOUND), `${t}: relative error ${err}`);
      // Greedy decoding over a few steps picks the same tokens.
      for (const prompt of [TOKENS, [1, 2, 3, 4]]) {
        const seqs: number[][] = [];
        for (const r of [p.native("f16"), p.reference("f16")]) {
          const ids = [...prompt];
          const slots = range(0, 64);
          let logits = await r.forward(buildPlan([{ tokens: ids, cached: 0, slots }]));
          for (let i = 0; i < 4; i++) {
            ids.push(argmax(logits));
            logits = await r.forward(buildPlan([{ tokens: [ids[ids.length - 1]!], cached: ids.length - 1, slots }]));
          }
          r.close();
          seqs.push(ids.slice(prompt.length));
        }
        assert.deepEqual(seqs[0], seqs[1], `${t}: greedy tokens after [${prompt.join(", ")}]`);
      }
    } finally {
      p.model.close();
    }
  });
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Every position's logits of `target`, prefilled in chunks of `chunk` from slot list
 * `slots`, while `others` sequences share each step (each prefilled in chunks of 5, then
 * decoding one token per step), the target sitting at index `at` of the batch.
 */
async function inBatch(runner: ModelRunner, target: number[], chunk: number, slots: Int32Array, others: number[][], otherSlots: Int32Array[], at: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const done = others.map(() => 0);
  for (let s = 0; s < target.length; s += chunk) {
    const part = target.slice(s, s + chunk);
    const chunks: SeqChunk[] = others.map((o, i) => {
      const take = done[i]! < o.length ? Math.min(5, o.length - done[i]!) : 1;
      const toks = done[i]! < o.length ? o.slice(done[i]!, done[i]! + take) : [(done[i]! * 31) % 1000];
      const c = { tokens: toks, cached: done[i]!, slots: otherSlots[i]! };
      done[i] = done[i]! + toks.length;
      return c;
    });
    const mine: SeqChunk = { tokens: part, cached: s, slots };
    chunks.splice(Math.min(at, chunks.length), 0, mine);
    const plan = buildPlan(chunks, false);
    const logits = await runner.forward(plan);
    const v = logits.length / plan.tokens.length;
    const first = chunks.slice(0, Math.min(at, others.length)).reduce((a, c) => a + c.tokens.length, 0);
    for (let j = 0; j < part.length; j++) out.push(logits.slice((first + j) * v, (first + j + 1) * v));
  }
  return out;
}

// Two query heads per kv head, and three (smollm2's), whose chunks of 7 rows fill a 16-lane
// and an 8-lane vector of the AVX-512 attention and of 16 rows three 16-lane vectors.
const INVARIANCE_MODELS: [string, ModelOpts][] = [
  // A row's experts run on the rows routed to them in that step, whichever those are.
  ["qwen3moe-gguf-f32", { arch: "qwen3moe", format: "gguf", dtype: "f32", seed: 7 }],
  ["qwen2-gguf-f32", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 7 }],
  ["llama-g3-hd64", { arch: "llama", format: "gguf", dtype: "f32", seed: 5,
    sizes: { numLayers: 2, hiddenSize: 384, numHeads: 6, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024 } }],
];
for (const [[name, opts], kv] of INVARIANCE_MODELS.flatMap((m) => (["f16", "f32"] as const).map((kv) => [m, kv] as const))) {
  test(`batch, chunk and thread-count invariance: bitwise equal logits (${name}, kv ${kv})`, { skip }, async () => {
    const p = await open(name, opts);
    try {
      const target = randomTokens(100, 11);
      const others = [randomTokens(30, 12), randomTokens(9, 13), randomTokens(70, 14)];
      // Scattered slots: the target's positions are not contiguous in the pool.
      const scattered = Int32Array.from({ length: 100 }, (_, i) => (i * 37) % 101 + 200);
      const otherSlots = [range(0, 200), range(320, 150), range(470, 170)];
      const base = p.native(kv, 1, 640);
      const alone = await logitsByChunks(base, target, target.length, range(0, target.length));
      base.close();
      for (const threads of [1, 2]) {
        const r = p.native(kv, threads, 640);
        try {
          for (const chunk of [1, 7, 64, target.length]) {
            for (const [k, at] of [[0, 0], [2, 1], [3, 3]] as const) {
              const got = await inBatch(r, target, chunk, scattered, others.slice(0, k), otherSlots.slice(0, k), at);
              for (let i = 0; i < target.length; i++) {
                assert.ok(sameBits(got[i]!, alone[i]!), `threads ${threads} chunk ${chunk} with ${k} others: position ${i} differs`);
              }
            }
          }
        } finally {
          r.close();
        }
      }
    } finally {
      p.model.close();
    }
  });
}

// head_dim 64 and 128: the two widths whose V sums run a whole head at once on AVX-512.
for (const [name, opts] of [
  ["qwen2-gguf-f32", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 7 }],
  FLOAT_MODELS.find(([n]) => n === "qwen3-g8-hd128")!,
] as [string, ModelOpts][]) {
  test(`decoding rows of sequences on one cached prefix (attended together) give each row's own bits (${name})`, { skip }, async () => {
    const p = await open(name, opts);
    try {
      for (const kv of ["f16", "f32"] as const) {
        for (const threads of [1, 2]) {
          const r = p.native(kv, threads, 700);
          try {
            // A 150-token prefix in slots 0..149, computed once; four sequences go on from it
            // with suffixes of their own (one of them none), in scattered slots.
            const prefix = randomTokens(150, 21);
            await logitsByChunks(r, prefix, 150, range(0, 150));
            const suffixes = [randomTokens(5, 22), randomTokens(9, 23), [], randomTokens(2, 24)];
            const slots = suffixes.map((sfx, i) => {
              const own = Int32Array.from({ length: sfx.length + 12 }, (_, k) => 200 + 100 * i + ((k * 7) % (sfx.length + 12)));
              const all = new Int32Array(150 + own.length);
              all.set(range(0, 150), 0);
              all.set(own, 150);
              return all;
            });
            for (let i = 0; i < suffixes.length; i++) {
              if (suffixes[i]!.length > 0) await r.forward(buildPlan([{ tokens: suffixes[i]!, cached: 150, slots: slots[i]! }]));
            }
            // Ten decode steps: all four rows in one step, then each alone (rewriting the same
            // K/V into the same slot), and a step with a stranger between them.
            const stranger = randomTokens(40, 25);
            await logitsByChunks(r, stranger, 40, range(600, 40));
            for (let step = 0; step < 10; step++) {
              const rows = suffixes.map((sfx, i) => ({ tokens: [(step * 13 + i * 7) % 1000 + 3], cached: 150 + sfx.length + step, slots: slots[i]! }));
              const together = await r.forward(buildPlan(rows));
              const v = together.length / rows.length;
              const mixed = await r.forward(buildPlan([rows[0]!, { tokens: [5], cached: 40, slots: range(600, 41) }, rows[1]!, rows[2]!, rows[3]!]));
              for (let i = 0; i < rows.length; i++) {
                const alone = await r.forward(buildPlan([rows[i]!]));
                assert.ok(sameBits(together.subarray(i * v, (i + 1) * v), alone), `kv ${kv} threads ${threads} step ${step} row ${i}: together`);
                const at = i === 0 ? 0 : i + 1;
                assert.ok(sameBits(mixed.subarray(at * v, (at + 1) * v), alone), `kv ${kv} threads ${threads} step ${step} row ${i}: with a stranger`);
              }
            }
          } finally {
            r.close();
          }
        }
      }
    } finally {
      p.model.close();
    }
  });
}

// Windows of 13 and 9 positions (not multiples of 8: the rows of a chunk start inside
// different blocks), beside a layer without; head shapes that take the lanes form, the AVX2 form (group of
// 2 or head_dim 40) and one query head at a time. Each SIMD path this CPU runs is checked.
const WINDOW_MODELS: [string, ModelOpts][] = [
  ["llama-g3-hd64-window", { arch: "llama", format: "hf", dtype: "f32", seed: 5, attentionWindows: [13, 0],
    sizes: { numLayers: 2, hiddenSize: 384, numHeads: 6, numKvHeads: 2, headDim: 64, intermediateSize: 512, vocabSize: 1024 } }],
  ["qwen2-window", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 7, attentionWindows: [9, 9] }],
  ["llama-g5-hd40-window", { arch: "llama", format: "hf", dtype: "f32", seed: 4, attentionWindows: [0, 13],
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 10, numKvHeads: 2, headDim: 40, intermediateSize: 512, vocabSize: 1024 } }],
  // Gemma 2: the attention soft-cap on every path, and head_dim 256.
  ["gemma2-hd256-window", { arch: "gemma2", format: "gguf", dtype: "f32", seed: 4, attentionWindows: [11, 0],
    sizes: { numLayers: 2, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 256, intermediateSize: 512, vocabSize: 1024 } }],
];
for (const [name, opts] of WINDOW_MODELS) {
  test(`sliding windows: bitwise equal logits across batches, chunks, threads and prefix-sharing decode rows on every SIMD path (${name})`, { skip }, async () => {
    const kernels = addon as unknown as { setSimdPath?: (name: string) => boolean };
    const paths = ["auto", "avx2"].filter((x) => x === "auto" || (typeof kernels.setSimdPath === "function" && kernels.setSimdPath(x)));
    const p = await open(name, opts);
    try {
      const { err } = await compare(p, "f32", randomTokens(40, 3));
      assert.ok(err <= 1e-4, `native against the reference over 40 positions: ${err}`);
      for (const simd of paths) {
        if (typeof kernels.setSimdPath === "function") kernels.setSimdPath(simd);
        const target = randomTokens(60, 11);
        const scattered = Int32Array.from({ length: 60 }, (_, i) => (i * 37) % 61 + 200);
        const base = p.native("f16", 1, 640);
        const alone = await logitsByChunks(base, target, target.length, range(0, target.length));
        base.close();
        for (const threads of [1, 2]) {
          const r = p.native("f16", threads, 640);
          try {
            for (const chunk of [1, 7, 16, 60]) {
              const got = await inBatch(r, target, chunk, scattered, [randomTokens(30, 12), randomTokens(9, 13)], [range(0, 200), range(320, 150)], 1);
              for (let i = 0; i < target.length; i++) {
                assert.ok(sameBits(got[i]!, alone[i]!), `${simd}: threads ${threads} chunk ${chunk}: position ${i} differs`);
              }
            }
            // Decoding rows on one 70-token prefix (longer than the windows), attended
            // together, alone, and beside a stranger.
            await logitsByChunks(r, randomTokens(70, 21), 70, range(400, 70));
            const slots = [0, 1, 2].map((i) => {
              const all = new Int32Array(90);
              all.set(range(400, 70), 0);
              all.set(range(480 + 20 * i, 20), 70);
              return all;
            });
            for (let step = 0; step < 12; step++) {
              const rows = slots.map((sl, i) => ({ tokens: [(step * 13 + i * 7) % 1000 + 3], cached: 70 + step + i, slots: sl }));
              const together = await r.forward(buildPlan(rows));
              const v = together.length / rows.length;
              for (let i = 0; i < rows.length; i++) {
                const one = await r.forward(buildPlan([rows[i]!]));
                assert.ok(sameBits(together.subarray(i * v, (i + 1) * v), one), `${simd}: threads ${threads} decode step ${step} row ${i}`);
              }
            }
          } finally {
            r.close();
          }
        }
      }
    } finally {
      if (typeof kernels.setSimdPath === "function") kernels.setSimdPath("auto");
      p.model.close();
    }
  });
}

test("a mixture of experts in q4_K and q8_0: native matches the reference within the quantized bounds, and is batch invariant", { skip }, async () => {
  for (const t of ["q4_K", "q8_0"] as const) {
    const p = await open(`qwen3moe-gguf-${t}`, { arch: "qwen3moe", format: "gguf", dtype: t, seed: 7 });
    try {
      const { err } = await compare(p, "f32");
      assert.ok(err <= (QUANT_BOUND[t] ?? QUANT_DEFAULT_BOUND), `${t}: relative error ${err}`);
      const target = randomTokens(40, 5);
      const one = p.native("f16", 1, 256);
      const alone = await logitsByChunks(one, target, target.length, range(0, 40));
      one.close();
      const two = p.native("f16", 2, 256);
      const got = await inBatch(two, target, 7, range(100, 40), [randomTokens(20, 6), randomTokens(9, 8)], [range(0, 90), range(150, 60)], 1);
      two.close();
      for (let i = 0; i < target.length; i++) assert.ok(sameBits(got[i]!, alone[i]!), `${t}: position ${i}`);
    } finally {
      p.model.close();
    }
  }
});

test("quantized and half-precision weights are batch and thread invariant too", { skip }, async () => {
  for (const t of ["q8_0", "q4_K", "q4_0", "q5_0", "f16", "bf16"] as const) {
    const p = await open(`llama-gguf-${t}`, { arch: "llama", format: "gguf", dtype: t, seed: 7 });
    try {
      const target = randomTokens(80, 21);
      const one = p.native("f16", 1, 256);
      const alone = await logitsByChunks(one, target, target.length, range(0, 80));
      one.close();
      const two = p.native("f16", 2, 256);
      const got = await inBatch(two, target, 7, range(100, 80), [randomTokens(40, 22)], [range(0, 60)], 1);
      two.close();
      for (let i = 0; i < target.length; i++) assert.ok(sameBits(got[i]!, alone[i]!), `${t} position ${i}`);
    } finally {
      p.model.close();
    }
  }
});

test("on the avx512 path, matrices are repacked at load and their file pages given back", { skip }, async (t) => {
  const p = await open("llama-gguf-q4_0", { arch: "llama", format: "gguf", dtype: "q4_0", seed: 7 });
  try {
    const r = p.native("f16", 1, 64) as NativeModelRunner;
    const info = r.info();
    r.close();
    if (info.matmul !== "avx512") {
      assert.equal(info.packedBytes, 0);
      return t.skip(`this CPU runs ${info.matmul}, which repacks nothing`);
    }
    // Every matrix of the layers and the (tied) output, at the file's size: q4_0 groups take
    // exactly the bytes of their rows (the last group is padded up to 16 rows).
    const c = p.model.config;
    const h = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, f = c.intermediateSize;
    const pad = (rows: number): number => Math.ceil(rows / 16) * 16;
    const rowsTimesCols = c.numLayers * (pad(q) * h + 2 * pad(kv) * h + pad(h) * q + 2 * pad(f) * h + pad(h) * f) + pad(c.vocabSize) * h;
    const aligned = (n: number): number => Math.ceil(n / 64) * 64;
    assert.ok(info.packedBytes >= (rowsTimesCols / 32) * 18, `packed ${info.packedBytes}`);
    assert.ok(info.packedBytes <= (rowsTimesCols / 32) * 18 + aligned(1) * (7 * c.numLayers + 1), `packed ${info.packedBytes}`);
    // Whole pages of the mapped file only: all but the partial pages at each matrix's ends.
    assert.ok(info.releasedBytes > 0 && info.releasedBytes <= info.packedBytes, `released ${info.releasedBytes}`);
  } finally {
    p.model.close();
  }
});

test("a step longer than one pass (128 rows) gives the same bits, logits in any row order, into a caller's buffer", { skip }, async () => {
  const p = await open("qwen2-gguf-f32", { arch: "qwen2", format: "gguf", dtype: "f32", seed: 7 });
  try {
    // Three sequences of 150, 90 and 170 rows: passes cut through the first and the last.
    const seqs = [randomTokens(150, 31), randomTokens(90, 32), randomTokens(170, 33)];
    const slots = [range(0, 150), range(150, 90), range(240, 170)];
    const r = p.native("f16", 2, 512);
    try {
      const alone: Float32Array[][] = [];
      for (let i = 0; i < seqs.length; i++) alone.push(await logitsByChunks(r, seqs[i]!, 64, slots[i]!));
      const plan = buildPlan(seqs.map((tokens, i) => ({ tokens, cached: 0, slots: slots[i]! })), false);
      // Logit rows scrambled: every row once, in an order that is not ascending.
      const order = Array.from({ length: plan.tokens.length }, (_, i) => (i * 157) % plan.tokens.length);
      const vocab = p.model.config.vocabSize;
      const into = new Float32Array(order.length * vocab + 7);
      const got = await r.forward({ ...plan, logitRows: Int32Array.from(order) }, into);
      assert.equal(got.buffer, into.buffer, "the logits were written into the caller's buffer");
      assert.equal(got.length, order.length * vocab);
      const rowOf = (row: number): [number, number] => (row < 150 ? [0, row] : row < 240 ? [1, row - 150] : [2, row - 240]);
      order.forEach((row, k) => {
        const [s, j] = rowOf(row);
        assert.ok(sameBits(got.subarray(k * vocab, (k + 1) * vocab), alone[s]![j]!), `row ${row} (sequence ${s}, position ${j}) differs`);
      });
      // The usual ascending order writes in place too.
      const asc = await r.forward(plan, into);
      for (let row = 0; row < plan.tokens.length; row++) {
        const [s, j] = rowOf(row);
        assert.ok(sameBits(asc.subarray(row * vocab, (row + 1) * vocab), alone[s]![j]!), `ascending: row ${row} differs`);
      }
    } finally {
      r.close();
    }
  } finally {
    p.model.close();
  }
});

test("the event loop stays free while a long prefill runs", { skip }, async () => {
  const p = await open("llama-wide-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 5,
    sizes: { numLayers: 4, hiddenSize: 512, numHeads: 8, numKvHeads: 4, headDim: 64, intermediateSize: 1536, vocabSize: 1024 } });
  const r = p.native("f16", 1, 1024) as NativeModelRunner;
  try {
    const tokens = randomTokens(1024, 3);
    let ticks = 0;
    let immediate = false;
    setImmediate(() => { immediate = true; });
    const timer = setInterval(() => { ticks++; }, 1);
    const t0 = performance.now();
    const logits = await r.forward(buildPlan([{ tokens, cached: 0, slots: range(0, 1024) }]));
    const ms = performance.now() - t0;
    clearInterval(timer);
    assert.equal(logits.length, 1024);
    assert.ok(immediate, "setImmediate did not run during the forward");
    assert.ok(ticks >= 2, `only ${ticks} timer ticks in a ${ms.toFixed(0)} ms forward`);
  } finally {
    r.close();
    p.model.close();
  }
});

test("bad plans are rejected, not crashed on; steps queue in call order; close waits for a running step", { skip }, async () => {
  const p = await open("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const r = p.native("f16", 2, 32);
  try {
    await assert.rejects(r.forward(buildPlan([{ tokens: [5000], cached: 0, slots: range(0, 1) }])), /outside the vocabulary/);
    await assert.rejects(r.forward(buildPlan([{ tokens: [1, 2], cached: 0, slots: Int32Array.of(0, 40) }])), /slot 40 out of range/);
    const a = r.forward(buildPlan([{ tokens: TOKENS, cached: 0, slots: range(0, 12) }]));
    const b = r.forward(buildPlan([{ tokens: [9], cached: 12, slots: range(0, 13) }]));
    const [la, lb] = await Promise.all([a, b]);
    assert.equal(la.length, 1024);
    assert.equal(lb.length, 1024);
    const c = r.forward(buildPlan([{ tokens: TOKENS, cached: 0, slots: range(0, 12) }]));
    r.close();
    await c.then(() => undefined, () => undefined);
    await assert.rejects(r.forward(buildPlan([{ tokens: [1], cached: 0, slots: range(0, 1) }])), /closed/);
  } finally {
    p.model.close();
  }
});

function warnings(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.includes("warning"));
}

test("with RADIXLM_NO_NATIVE=1, generate and bench model run on the reference backend with one warning line", async () => {
  const model = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const off = { RADIXLM_NO_NATIVE: "1" };
  const args = ["generate", "--model", model, "--prompt", "hello world", "--max-tokens", "6"];
  const g = cli(args, off);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(warnings(g.stderr).length, 1, g.stderr);
  assert.equal(g.stderr.trim().split("\n").length, 1, g.stderr);
  const ref = cli([...args, "--backend", "reference"]);
  assert.equal(ref.stdout, g.stdout);
  const b = cli(["bench", "model", "--model", model, "--backend", "reference", "--pp", "16", "--tg", "4", "--json"], off);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(warnings(b.stderr).length <= 1, b.stderr);
  const j = JSON.parse(b.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ["pp16", "tg4", "decode_gbps", "bandwidth_gbps", "threads", "decode_threads", "backend"]);
  assert.equal(j.backend, "reference");
  assert.equal(j.decode_threads, 1);
  const n = cli([...args, "--backend", "native"], off);
  assert.equal(n.code, 2);
  assert.match(n.stderr, /^radixlm: error: the native backend is disabled/);
  if (addon) {
    // The native backend writes the same greedy text.
    const nat = cli([...args, "--backend", "native", "--threads", "2"]);
    assert.equal(nat.code, 0, nat.stderr);
    assert.equal(nat.stderr, "");
    assert.equal(nat.stdout, g.stdout);
  }
});

test("bench model --json prints exactly the agreed keys", { skip }, async () => {
  const model = await testModel("llama-gguf-q8_0", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 7 });
  const b = cli(["bench", "model", "--model", model, "--threads", "2", "--json"]);
  assert.equal(b.code, 0, b.stderr);
  const j = JSON.parse(b.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ["pp512", "tg128", "decode_gbps", "bandwidth_gbps", "threads", "decode_threads", "backend"]);
  assert.equal(j.backend, "native");
  assert.equal(j.threads, 2);
  // Decode runs on all threads, or on 1 where the runner measured that faster.
  assert.ok(j.decode_threads === 1 || j.decode_threads === 2, String(j.decode_threads));
  for (const k of ["pp512", "tg128", "decode_gbps"]) assert.ok(typeof j[k] === "number" && (j[k] as number) > 0, k);
});

test("peak RSS while generating stays within model file + KV pool + 15%", { skip }, async (t) => {
  if (!fs.existsSync("/proc/self/clear_refs")) return t.skip("needs Linux /proc");
  const model = await testModel("llama-rss-f16", { arch: "llama", format: "gguf", dtype: "f16", seed: 9,
    sizes: { numLayers: 6, hiddenSize: 768, numHeads: 12, numKvHeads: 4, headDim: 64, intermediateSize: 2048, vocabSize: 8192 } });
  const dist = path.resolve(process.cwd(), "dist-test/src");
  // In a fresh process: load the model, then restart the kernel's peak-RSS count, so the
  // figure is what the runner adds (weights paged in from the mapping, KV pool, activations).
  const script = `
    import fs from "node:fs";
    const { loadModel } = await import(${JSON.stringify(path.join(dist, "model/load.js"))});
    const { nativeBackend, runnerAddon } = await import(${JSON.stringify(path.join(dist, "kernels/native.js"))});
    const status = (k) => Number(fs.readFileSync("/proc/self/status", "utf8").split("\\n").find((l) => l.startsWith(k + ":")).slice(k.length + 1).trim().split(" ")[0]) * 1024;
    const m = await loadModel(${JSON.stringify(model)});
    globalThis.gc();
    fs.writeFileSync("/proc/self/clear_refs", "5");
    const base = status("VmRSS");
    const r = nativeBackend(runnerAddon(), 2).createRunner(m, { capacity: 1024, dtype: "f16" });
    const slots = Int32Array.from({ length: 1024 }, (_, i) => i);
    const plan = (toks, start) => ({ tokens: Int32Array.from(toks), positions: Int32Array.from(toks, (_, j) => start + j),
      seqs: [{ start: 0, count: toks.length, kvSlots: slots.subarray(0, start + toks.length) }], logitRows: Int32Array.of(toks.length - 1) });
    await r.forward(plan(Array.from({ length: 512 }, (_, i) => (i * 7) % 8192), 0));
    for (let i = 0; i < 128; i++) await r.forward(plan([i], 512 + i));
    console.log(JSON.stringify({ base, peak: status("VmHWM"), file: fs.statSync(${JSON.stringify(model)}).size, kv: r.info().kvBytes }));
  `;
  const out = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", cwd: tempDir(), timeout: 120_000 });
  assert.equal(out.status, 0, out.stderr);
  const m = JSON.parse(out.stdout) as { base: number; peak: number; file: number; kv: number };
  const grown = m.peak - m.base;
  const budget = (m.file + m.kv) * 1.15;
  assert.ok(grown <= budget, `RSS grew ${(grown / 1e6).toFixed(1)} MB while generating; budget ${(budget / 1e6).toFixed(1)} MB (file ${(m.file / 1e6).toFixed(1)} MB, KV ${(m.kv / 1e6).toFixed(1)} MB)`);
});
