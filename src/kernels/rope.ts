// The rotary position embedding's parameters and its per-pair frequencies. They live with the
// kernels, not the model, because the kernels compute RoPE and must know nothing of models.
import { dequantize } from "../formats/quant.js";
import type { TensorSource, WeightTensor } from "./tensor.js";

export interface Llama3RopeScaling {
  readonly type: "llama3";
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/** Positions divided by `factor` (HF's "linear" rope_type; Gemma 3's global layers). */
export interface LinearRopeScaling {
  readonly type: "linear";
  readonly factor: number;
}

/**
 * Phi-3's LongRoPE ("su"): per-pair frequency divisors, short ones within the original
 * context and long ones past it, and the rotated values scaled by attentionFactor. The
 * lists are absent where the weights carry them (GGUF's rope_factors_short/long tensors).
 */
export interface LongRopeScaling {
  readonly type: "longrope";
  readonly originalMaxPositionEmbeddings: number;
  readonly attentionFactor: number;
  readonly shortFactor?: readonly number[];
  readonly longFactor?: readonly number[];
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | LongRopeScaling;

/**
 * How Q/K pairs are rotated. HF folders keep the half-split (NeoX) form: dims i and i+d/2
 * pair up. GGUF `llama` files hold Q/K rows permuted so that dims 2i and 2i+1 pair up.
 */
export type RopeLayout = "neox" | "interleaved";

/** What the frequencies depend on. */
export interface RopeParams {
  readonly headDim: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  /** Dims rotated, the first of each head (partial rotary: Phi-4-mini's 96 of 128); absent: headDim. */
  readonly ropeDim?: number;
}

/**
 * Inverse frequencies for each rotated pair, with linear or llama3 scaling applied as HF
 * does (LongRoPE's factors come from ropeTables, which knows the weights and the context).
 */
export function ropeInvFreq(c: RopeParams): Float64Array {
  const dim = c.ropeDim ?? c.headDim;
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / dim);
  const s = c.ropeScaling;
  if (!s || s.type === "longrope") return inv;
  if (s.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = inv[i]! / s.factor;
    return inv;
  }
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      inv[i] = f / s.factor;
    } else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
    }
  }
  return inv;
}

/** What a runner rotates with: the frequencies of every layer, of the local ones, and the scale of rotated values. */
export interface RopeTables {
  readonly invFreq: Float64Array;
  /** The sliding-window layers' own (Gemma 3's local base, unscaled), or null: invFreq everywhere. */
  readonly invFreqLocal: Float64Array | null;
  /** Rotated values are multiplied by this (LongRoPE's attention factor); 1 otherwise. */
  readonly mscale: number;
}

/**
 * The tables for a runner whose sequences reach at most `context` positions. The weights may
 * carry divisors: rope_freqs (GGUF's llama3 scaling) or rope_factors_short/long (LongRoPE).
 * LongRoPE's long factors are taken when the context passes the original one, once for the
 * runner, as llama.cpp decides by its context size: HF's switch by each sequence's length
 * would make a cached prefix's keys depend on how far its sequence later grows.
 */
export function ropeTables(c: RopeParams & { readonly localRopeTheta?: number }, w: TensorSource, context: number): RopeTables {
  const invFreq = ropeInvFreq(c);
  const divide = (f: ArrayLike<number>, what: string): void => {
    if (f.length !== invFreq.length) throw new Error(`${what}: ${f.length} values for ${invFreq.length} rotated pairs`);
    for (let i = 0; i < invFreq.length; i++) invFreq[i] = invFreq[i]! / f[i]!;
  };
  if (w.has("rope_freqs.weight")) divide(vectorOf(w.get("rope_freqs.weight")), "rope_freqs");
  const s = c.ropeScaling;
  let mscale = 1;
  if (s?.type === "longrope") {
    const long = context > s.originalMaxPositionEmbeddings;
    const name = long ? "rope_factors_long.weight" : "rope_factors_short.weight";
    const given = long ? s.longFactor : s.shortFactor;
    if (given) divide(given, long ? "long_factor" : "short_factor");
    else if (w.has(name)) divide(vectorOf(w.get(name)), name);
    mscale = s.attentionFactor;
  }
  const invFreqLocal = c.localRopeTheta === undefined ? null
    : ropeInvFreq({ headDim: c.headDim, ropeDim: c.ropeDim, ropeTheta: c.localRopeTheta, ropeScaling: null });
  return { invFreq, invFreqLocal, mscale };
}

function vectorOf(t: WeightTensor): Float32Array {
  return dequantize(t.type, t.bytes, t.shape.reduce((a, b) => a * b, 1));
}
