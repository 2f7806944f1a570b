// A weight tensor as the kernels read it, and where they get tensors from by name. The
// loader that maps model files provides both; the kernels need nothing more of it.
import type { WeightType } from "../formats/dtype.js";

export interface WeightTensor {
  readonly name: string;
  readonly type: WeightType;
  /** Row-major, outermost first. */
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Tensors under the internal (GGUF-style) names: "token_embd.weight", "blk.0.attn_q.weight", ... */
export interface TensorSource {
  has(name: string): boolean;
  /** Throws when there is no such tensor. */
  get(name: string): WeightTensor;
}

/** Rows [start, start + count) of a matrix, as a view of its bytes. */
export function rowsOf(t: WeightTensor, start: number, count: number, name: string): WeightTensor {
  const [rows, cols] = t.shape as [number, number];
  const rowBytes = t.bytes.byteLength / rows;
  return { name, type: t.type, shape: [count, cols], bytes: t.bytes.subarray(start * rowBytes, (start + count) * rowBytes) };
}

/** Expert e of a stacked [experts, rows, cols] tensor, as a matrix view. */
export function expertOf(t: WeightTensor, e: number): WeightTensor {
  const [experts, rows, cols] = t.shape as [number, number, number];
  const bytes = t.bytes.byteLength / experts;
  return { name: `${t.name}@${e}`, type: t.type, shape: [rows, cols], bytes: t.bytes.subarray(e * bytes, (e + 1) * bytes) };
}

/**
 * The experts a token runs: softmax over the router's logits (in float64), the `used` most
 * probable in order of probability, ties to the lower index, with their weights (renormalized
 * to sum 1 when normTopK). Shared by the reference backend and the native one's tests.
 */
export function routeTopK(logits: ArrayLike<number>, used: number, normTopK: boolean): { experts: number[]; weights: number[] } {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < n; i++) p[i] = p[i]! / sum;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  const experts = order.slice(0, used);
  let weights = experts.map((e) => p[e]!);
  if (normTopK) {
    const s = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => w / s);
  }
  return { experts, weights };
}

export interface LayerMatrices {
  readonly q: WeightTensor; readonly k: WeightTensor; readonly v: WeightTensor; readonly o: WeightTensor;
  /** Null in a layer of experts. */
  readonly gate: WeightTensor | null; readonly up: WeightTensor | null; readonly down: WeightTensor | null;
}

/**
 * A layer's matrices by the names of prefix `b` ("blk.3."). Fused ones, as Phi-3 has them,
 * are cut into views by rows: attn_qkv into Q, K and V; an ffn_up without ffn_gate, twice
 * the MLP's width, into the gate (its first half) and up.
 */
export function layerMatrices(w: TensorSource, b: string, qDim: number, kvDim: number, experts = false): LayerMatrices {
  let q: WeightTensor, k: WeightTensor, v: WeightTensor;
  if (w.has(b + "attn_qkv.weight")) {
    const qkv = w.get(b + "attn_qkv.weight");
    q = rowsOf(qkv, 0, qDim, b + "attn_q.weight");
    k = rowsOf(qkv, qDim, kvDim, b + "attn_k.weight");
    v = rowsOf(qkv, qDim + kvDim, kvDim, b + "attn_v.weight");
  } else {
    q = w.get(b + "attn_q.weight");
    k = w.get(b + "attn_k.weight");
    v = w.get(b + "attn_v.weight");
  }
  let gate: WeightTensor | null = null, up: WeightTensor | null = null;
  if (experts) {
    return { q, k, v, o: w.get(b + "attn_output.weight"), gate, up, down: null };
  }
  if (w.has(b + "ffn_gate.weight")) {
    gate = w.get(b + "ffn_gate.weight");
    up = w.get(b + "ffn_up.weight");
  } else {
    const both = w.get(b + "ffn_up.weight");
    const half = both.shape[0]! / 2;
    gate = rowsOf(both, 0, half, b + "ffn_gate.weight");
    up = rowsOf(both, half, half, b + "ffn_up.weight");
  }
  return { q, k, v, o: w.get(b + "attn_output.weight"), gate, up, down: w.get(b + "ffn_down.weight") };
}
