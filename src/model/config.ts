// One normalized description of a model, whichever file format it came from.
import type { ForwardConfig } from "../kernels/backend.js";

/** The forward pass's hyperparameters (the kernels define them), and what else a model says of itself. */
export interface ModelConfig extends ForwardConfig {
  /** Registry name of the family: "llama", "qwen2", "qwen3". */
  readonly arch: string;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  /** Q, K and V projections carry a bias (qwen2). */
  readonly qkvBias: boolean;
  /** RMSNorm over each head of Q and K before RoPE (qwen3). */
  readonly qkNorm: boolean;
  /** A norm on each branch's output before it joins the residual (Gemma); absent: none. */
  readonly postNorms?: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}

/** Parameters one token's forward pass reads: all but the experts it is not routed to. */
export function activeParameterCount(c: ModelConfig): number {
  if (!c.moe) return parameterCount(c);
  return parameterCount(c) - c.numLayers * (c.moe.experts - c.moe.used) * 3 * c.hiddenSize * c.moe.expertFfn;
}

export function parameterCount(c: ModelConfig): number {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attn = h * q + 2 * h * kv + q * h + (c.qkvBias ? q + 2 * kv : 0) + (c.qkNorm ? 2 * c.headDim : 0);
  const ffn = c.moe ? c.moe.experts * (3 * h * c.moe.expertFfn + h) : 3 * h * c.intermediateSize;
  const perLayer = attn + ffn + (c.postNorms ? 4 : 2) * h;
  const emb = c.vocabSize * h;
  return emb + (c.tieWordEmbeddings ? 0 : emb) + c.numLayers * perLayer + h;
}
