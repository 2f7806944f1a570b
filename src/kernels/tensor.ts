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
