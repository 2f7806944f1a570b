// Published shapes of the models our tests and benchmarks imitate with random weights.
import type { ModelConfig } from "./config.js";
import { gemmaMultipliers, gemmaWindows } from "./gemma.js";
import { longRopeAttentionFactor } from "./phi3.js";
import type { LongRopeScaling } from "../kernels/rope.js";

export type PresetName = "tiny" | "smollm2-135m" | "qwen2.5-0.5b" | "qwen3-0.6b" | "llama3.2-1b" | "granite-3.1-2b" | "smollm3-3b" |
  "mistral-7b" | "ministral-8b" | "gemma-2-2b" | "gemma-3-270m" | "gemma-3-1b" | "gemma-3-4b" | "phi-3.5-mini" | "phi-4-mini" |
  "qwen3-30b-a3b" | "mixtral-8x7b" | "qwen1.5-moe-a2.7b" | "olmoe-1b-7b";

type Shape = Omit<ModelConfig, "bosTokenId" | "eosTokenIds" | "ropeLayout">;

// Granite 3.x's multipliers (granite-3.1-2b-instruct's config.json).
const GRANITE_MULTIPLIERS = { embedding: 12, attention: 0.015625, residual: 0.22, logit: 8 };

const presets: Record<PresetName, Shape> = {
  // Small enough for the reference backend in unit tests; 256-wide so every block
  // format (K-quants use 256-element blocks) fits each row.
  tiny: {
    arch: "llama", vocabSize: 1024, hiddenSize: 256, intermediateSize: 512, numLayers: 2,
    numHeads: 4, numKvHeads: 2, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: null,
    maxPositionEmbeddings: 2048, tieWordEmbeddings: false, qkvBias: false, qkNorm: false,
  },
  "smollm2-135m": {
    arch: "llama", vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30,
    numHeads: 9, numKvHeads: 3, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 100000, ropeScaling: null,
    maxPositionEmbeddings: 8192, tieWordEmbeddings: true, qkvBias: false, qkNorm: false,
  },
  "qwen2.5-0.5b": {
    arch: "qwen2", vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numLayers: 24,
    numHeads: 14, numKvHeads: 2, headDim: 64, rmsNormEps: 1e-6, ropeTheta: 1000000, ropeScaling: null,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: true, qkvBias: true, qkNorm: false,
  },
  "qwen3-0.6b": {
    arch: "qwen3", vocabSize: 151936, hiddenSize: 1024, intermediateSize: 3072, numLayers: 28,
    numHeads: 16, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-6, ropeTheta: 1000000, ropeScaling: null,
    maxPositionEmbeddings: 40960, tieWordEmbeddings: true, qkvBias: false, qkNorm: true,
  },
  "llama3.2-1b": {
    arch: "llama", vocabSize: 128256, hiddenSize: 2048, intermediateSize: 8192, numLayers: 16,
    numHeads: 32, numKvHeads: 8, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 500000,
    ropeScaling: { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    maxPositionEmbeddings: 131072, tieWordEmbeddings: true, qkvBias: false, qkNorm: false,
  },
  "granite-3.1-2b": {
    arch: "granite", vocabSize: 49155, hiddenSize: 2048, intermediateSize: 8192, numLayers: 40,
    numHeads: 32, numKvHeads: 8, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 5000000, ropeScaling: null,
    maxPositionEmbeddings: 131072, tieWordEmbeddings: true, qkvBias: false, qkNorm: false,
    multipliers: GRANITE_MULTIPLIERS,
  },
  // Every 4th layer without RoPE (the test-model writer sets the pattern for the layer count).
  "smollm3-3b": {
    arch: "smollm3", vocabSize: 128256, hiddenSize: 2048, intermediateSize: 11008, numLayers: 36,
    numHeads: 16, numKvHeads: 4, headDim: 128, rmsNormEps: 1e-6, ropeTheta: 5000000, ropeScaling: null,
    maxPositionEmbeddings: 65536, tieWordEmbeddings: true, qkvBias: false, qkNorm: false,
  },
  // Mistral 7B v0.1: llama-shaped, every layer in a 4,096-token sliding window.
  "mistral-7b": {
    arch: "llama", vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32,
    numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: null,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: false, qkNorm: false,
    attentionWindows: new Array<number>(32).fill(4096),
  },
  // Ministral-8B-Instruct-2410 (its config's sliding window spans the whole context).
  "ministral-8b": {
    arch: "llama", vocabSize: 131072, hiddenSize: 4096, intermediateSize: 12288, numLayers: 36,
    numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 100000000, ropeScaling: null,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: false, qkNorm: false,
    attentionWindows: new Array<number>(36).fill(32768),
  },
  // Gemma: embedding x sqrt(hidden), queries x 1/sqrt(query_pre_attn_scalar), GeGLU, post-norms.
  "gemma-2-2b": {
    ...gemma(2304, 256), arch: "gemma2", vocabSize: 256000, intermediateSize: 9216, numLayers: 26,
    numHeads: 8, numKvHeads: 4, headDim: 256, ropeTheta: 10000, ropeScaling: null, maxPositionEmbeddings: 8192,
    qkNorm: false, attentionWindows: gemmaWindows(26, 4096, 2), attnSoftcap: 50, finalSoftcap: 30,
  },
  "gemma-3-270m": {
    ...gemma(640, 256), arch: "gemma3", vocabSize: 262144, intermediateSize: 2048, numLayers: 18,
    numHeads: 4, numKvHeads: 1, headDim: 256, ropeTheta: 1000000, ropeScaling: null, maxPositionEmbeddings: 32768,
    qkNorm: true, attentionWindows: gemmaWindows(18, 512, 6), localRopeTheta: 10000,
  },
  "gemma-3-1b": {
    ...gemma(1152, 256), arch: "gemma3", vocabSize: 262144, intermediateSize: 6912, numLayers: 26,
    numHeads: 4, numKvHeads: 1, headDim: 256, ropeTheta: 1000000, ropeScaling: null, maxPositionEmbeddings: 32768,
    qkNorm: true, attentionWindows: gemmaWindows(26, 512, 6), localRopeTheta: 10000,
  },
  "gemma-3-4b": {
    ...gemma(2560, 256), arch: "gemma3", vocabSize: 262208, intermediateSize: 10240, numLayers: 34,
    numHeads: 8, numKvHeads: 4, headDim: 256, ropeTheta: 1000000, ropeScaling: { type: "linear", factor: 8 },
    maxPositionEmbeddings: 131072, qkNorm: true, attentionWindows: gemmaWindows(34, 1024, 6), localRopeTheta: 10000,
  },
  // Phi-3.5-mini: fused QKV and gate-up, LongRoPE from a 4k original context to 128k.
  "phi-3.5-mini": {
    arch: "phi3", vocabSize: 32064, hiddenSize: 3072, intermediateSize: 8192, numLayers: 32,
    numHeads: 32, numKvHeads: 32, headDim: 96, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: longRope(48),
    maxPositionEmbeddings: 131072, tieWordEmbeddings: false, qkvBias: false, qkNorm: false,
  },
  // Phi-4-mini: 3 query heads per kv head, RoPE over 96 of each head's 128 dims.
  "phi-4-mini": {
    arch: "phi3", vocabSize: 200064, hiddenSize: 3072, intermediateSize: 8192, numLayers: 32,
    numHeads: 24, numKvHeads: 8, headDim: 128, ropeDim: 96, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: longRope(48),
    maxPositionEmbeddings: 131072, tieWordEmbeddings: true, qkvBias: false, qkNorm: false,
  },
  // Qwen3-30B-A3B: 128 experts of width 768, 8 per token, weights renormalized.
  "qwen3-30b-a3b": {
    arch: "qwen3moe", vocabSize: 151936, hiddenSize: 2048, intermediateSize: 6144, numLayers: 48,
    numHeads: 32, numKvHeads: 4, headDim: 128, rmsNormEps: 1e-6, ropeTheta: 1000000, ropeScaling: null,
    maxPositionEmbeddings: 40960, tieWordEmbeddings: false, qkvBias: false, qkNorm: true,
    moe: { experts: 128, used: 8, expertFfn: 768, normTopK: true },
  },
  // Mixtral 8x7B: llama's block with 8 experts, 2 per token.
  "mixtral-8x7b": {
    arch: "llama", vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32,
    numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 1000000, ropeScaling: null,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: false, qkNorm: false,
    moe: { experts: 8, used: 2, expertFfn: 14336, normTopK: true },
  },
  // Qwen1.5-MoE-A2.7B (Qwen2-MoE): 60 experts, 4 per token, and a shared expert every token runs.
  "qwen1.5-moe-a2.7b": {
    arch: "qwen2moe", vocabSize: 151936, hiddenSize: 2048, intermediateSize: 5632, numLayers: 24,
    numHeads: 16, numKvHeads: 16, headDim: 128, rmsNormEps: 1e-6, ropeTheta: 1000000, ropeScaling: null,
    maxPositionEmbeddings: 8192, tieWordEmbeddings: false, qkvBias: true, qkNorm: false,
    moe: { experts: 60, used: 4, expertFfn: 1408, normTopK: false, sharedFfn: 5632 },
  },
  // OLMoE-1B-7B: 64 experts, 8 per token, q/k norms over the whole projections.
  "olmoe-1b-7b": {
    arch: "olmoe", vocabSize: 50304, hiddenSize: 2048, intermediateSize: 1024, numLayers: 16,
    numHeads: 16, numKvHeads: 16, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: null,
    maxPositionEmbeddings: 4096, tieWordEmbeddings: false, qkvBias: false, qkNorm: true,
    moe: { experts: 64, used: 8, expertFfn: 1024, normTopK: false },
  },
};

// LongRoPE from 4,096 to 131,072 positions for `pairs` rotated pairs. The published factor
// lists are not at hand offline: these have their shape (short ones near 1, long ones rising
// from 1 to about 40 with the wavelength); the attention factor is HF's for that extension.
function longRope(pairs: number): LongRopeScaling {
  return {
    type: "longrope", originalMaxPositionEmbeddings: 4096, attentionFactor: longRopeAttentionFactor(131072, 4096),
    shortFactor: Array.from({ length: pairs }, (_, i) => Math.fround(1 + 0.05 * (i / (pairs - 1)) ** 2)),
    longFactor: Array.from({ length: pairs }, (_, i) => Math.fround(1 + 39 * (i / (pairs - 1)) ** 2)),
  };
}

// What every Gemma shares, for a hidden size and query_pre_attn_scalar.
function gemma(hidden: number, queryScalar: number): Pick<Shape, "hiddenSize" | "rmsNormEps" | "tieWordEmbeddings" | "qkvBias" | "multipliers" | "activation" | "postNorms"> {
  return {
    hiddenSize: hidden, rmsNormEps: 1e-6, tieWordEmbeddings: true, qkvBias: false, activation: "gelu_tanh", postNorms: true,
    multipliers: gemmaMultipliers(hidden, queryScalar),
  };
}

export const PRESET_NAMES = Object.keys(presets) as PresetName[];

export function isPresetName(s: string): s is PresetName {
  return s in presets;
}

/** The preset's shape for the given family (the preset's own family when arch is omitted). */
export function presetShape(name: PresetName, arch?: string): Shape {
  const p = presets[name];
  if (!arch || arch === p.arch) return p;
  // Another family takes the preset's shape only, none of its own family's features.
  const { multipliers: _m, attentionWindows: _w, activation: _a, postNorms: _p, attnSoftcap: _s, finalSoftcap: _f, localRopeTheta: _l, ropeDim: _d, moe: _e, ...rest } = p;
  if (rest.ropeScaling?.type === "longrope" && arch !== "phi3") rest.ropeScaling = null;
  if (arch === "gemma2" || arch === "gemma3") {
    const two = arch === "gemma2";
    return {
      ...rest, arch, ...gemma(rest.hiddenSize, rest.headDim), qkNorm: !two,
      attentionWindows: gemmaWindows(rest.numLayers, two ? 4096 : 512, two ? 2 : 6),
      ...(two ? { attnSoftcap: 50, finalSoftcap: 30 } : { localRopeTheta: 10000 }),
    };
  }
  if (arch === "qwen3moe") return { ...rest, arch, qkvBias: false, qkNorm: true, moe: { experts: 8, used: 2, expertFfn: rest.intermediateSize / 2, normTopK: true } };
  if (arch === "qwen2moe") {
    return { ...rest, arch, qkvBias: true, qkNorm: false, moe: { experts: 8, used: 2, expertFfn: rest.intermediateSize / 2, normTopK: false, sharedFfn: rest.intermediateSize } };
  }
  if (arch === "olmoe") return { ...rest, arch, qkvBias: false, qkNorm: true, moe: { experts: 8, used: 2, expertFfn: rest.intermediateSize, normTopK: false } };
  return { ...rest, arch, qkvBias: arch === "qwen2", qkNorm: arch === "qwen3", ...(arch === "granite" ? { multipliers: GRANITE_MULTIPLIERS } : {}) };
}
