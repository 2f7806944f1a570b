// Pure TypeScript twins of the native kernels. Clarity over speed: every reduction runs in
// one fixed order per output element (in float64, stored as float32), so a row's result
// never depends on which other rows share the batch.
import { dequantizeInto } from "../formats/quant.js";
import type { WeightTensor } from "./tensor.js";

/**
 * out[r*n + o] = sum_k x[r*k + i] * W[o][i] (+ bias[o]) for `rows` rows of x; W is [n, k]
 * in any weight type. Each weight row is decoded once into `scratch` and reused by all rows.
 */
export function matmul(out: Float32Array, x: Float32Array, rows: number, w: WeightTensor, bias: Float32Array | null, scratch: Float32Array): void {
  const [n, k] = w.shape as [number, number];
  const rowBytes = w.bytes.byteLength / n;
  for (let o = 0; o < n; o++) {
    dequantizeInto(w.type, w.bytes, o * rowBytes, k, scratch, 0);
    const b = bias ? bias[o]! : 0;
    for (let r = 0; r < rows; r++) {
      const xo = r * k;
      let acc = 0;
      for (let i = 0; i < k; i++) acc += x[xo + i]! * scratch[i]!;
      out[r * n + o] = acc + b;
    }
  }
}

/** Row `row` of a [rows, k] weight matrix (the embedding lookup). */
export function embeddingRow(out: Float32Array, w: WeightTensor, row: number): void {
  const [n, k] = w.shape as [number, number];
  if (row < 0 || row >= n) throw new Error(`token id ${row} is outside the vocabulary (${n})`);
  const rowBytes = w.bytes.byteLength / n;
  dequantizeInto(w.type, w.bytes, row * rowBytes, k, out, 0);
}

/** In place RMSNorm of `rows` rows of width `n` (each row at stride n, offset `off`). */
export function rmsNorm(x: Float32Array, off: number, rows: number, n: number, weight: Float32Array, eps: number, out: Float32Array = x, outOff = off): void {
  for (let r = 0; r < rows; r++) {
    const base = off + r * n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[base + i]! * x[base + i]!;
    const scale = 1 / Math.sqrt(ss / n + eps);
    const ob = outOff + r * n;
    for (let i = 0; i < n; i++) out[ob + i] = x[base + i]! * scale * weight[i]!;
  }
}

/**
 * Rotates the first `dim` values of a head at `off` for position `pos` (the rest, under partial
 * rotary, stay). "neox" pairs i with i+dim/2; "interleaved" pairs 2i with 2i+1 (GGUF llama
 * files hold Q/K rows in that order). Rotated values are scaled by `mscale` (LongRoPE).
 */
export function rope(x: Float32Array, off: number, dim: number, pos: number, invFreq: Float64Array, interleaved: boolean, mscale = 1): void {
  const half = dim / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * invFreq[i]!;
    const c = Math.cos(a) * mscale;
    const s = Math.sin(a) * mscale;
    const i0 = interleaved ? off + 2 * i : off + i;
    const i1 = interleaved ? i0 + 1 : i0 + half;
    const x0 = x[i0]!;
    const x1 = x[i1]!;
    x[i0] = x0 * c - x1 * s;
    x[i1] = x0 * s + x1 * c;
  }
}

/** gate[i] = silu(gate[i]) * up[i]. */
export function siluMul(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    gate[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** gate[i] = gelu(gate[i]) * up[i], GELU in its tanh form (HF's gelu_pytorch_tanh, Gemma's GeGLU). */
export function geluTanhMul(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    gate[i] = 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))) * up[i]!;
  }
}

/** x[i] = cap * tanh(x[i] / cap) (Gemma 2's soft-capping). */
export function softcapInPlace(x: Float32Array, cap: number): void {
  for (let i = 0; i < x.length; i++) x[i] = cap * Math.tanh(x[i]! / cap);
}

export function addInPlace(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
}

/** x[i] *= s, rounded to f32. */
export function scaleInPlace(x: Float32Array, s: number): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
}

/** Reads element `i` of a KV store (f32 values or f16 bits) as a number. */
export type KVRead = (store: Float32Array | Uint16Array, i: number) => number;

/**
 * Causal attention of one query head over cached positions lo..len-1 (lo > 0 in a sliding
 * window): out = softmax(cap(q.K^T * scale)) V, cap(s) = softcap * tanh(s / softcap) when
 * softcap > 0 (Gemma 2). `slots[p]` is the KV slot of position p; K/V rows
 * are `kvStride` wide and this head's kv head starts at `kvOff` within a row.
 */
export function attendHead(
  out: Float32Array, outOff: number, q: Float32Array, qOff: number, dim: number,
  kStore: Float32Array | Uint16Array, vStore: Float32Array | Uint16Array, read: KVRead,
  slots: Int32Array, lo: number, len: number, kvStride: number, kvOff: number, scale: number, softcap: number,
  scores: Float64Array, acc: Float64Array,
): void {
  let max = -Infinity;
  for (let p = lo; p < len; p++) {
    const base = slots[p]! * kvStride + kvOff;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += q[qOff + i]! * read(kStore, base + i);
    const s = softcap > 0 ? softcap * Math.tanh((dot * scale) / softcap) : dot * scale;
    scores[p] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let p = lo; p < len; p++) {
    const e = Math.exp(scores[p]! - max);
    scores[p] = e;
    sum += e;
  }
  acc.fill(0, 0, dim);
  for (let p = lo; p < len; p++) {
    const wgt = scores[p]! / sum;
    const base = slots[p]! * kvStride + kvOff;
    for (let i = 0; i < dim; i++) acc[i] = acc[i]! + wgt * read(vStore, base + i);
  }
  for (let i = 0; i < dim; i++) out[outOff + i] = acc[i]!;
}
