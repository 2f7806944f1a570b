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

export interface LayerMatrices {
  readonly q: WeightTensor; readonly k: WeightTensor; readonly v: WeightTensor; readonly o: WeightTensor;
  readonly gate: WeightTensor; readonly up: WeightTensor; readonly down: WeightTensor;
}

/**
 * A layer's matrices by the names of prefix `b` ("blk.3."). Fused ones, as Phi-3 has them,
 * are cut into views by rows: attn_qkv into Q, K and V; an ffn_up without ffn_gate, twice
 * the MLP's width, into the gate (its first half) and up.
 */
export function layerMatrices(w: TensorSource, b: string, qDim: number, kvDim: number): LayerMatrices {
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
  let gate: WeightTensor, up: WeightTensor;
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
