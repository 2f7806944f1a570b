// One normalized description of a model, whichever file format it came from.

export interface Llama3RopeScaling {
  readonly type: "llama3";
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/**
 * How Q/K pairs are rotated. HF folders keep the half-split (NeoX) form: dims i and i+d/2
 * pair up. GGUF `llama` files hold Q/K rows permuted so that dims 2i and 2i+1 pair up.
 */
export type RopeLayout = "neox" | "interleaved";

export interface ModelConfig {
  /** Registry name of the family: "llama", "qwen2", "qwen3". */
  readonly arch: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: Llama3RopeScaling | null;
  readonly ropeLayout: RopeLayout;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  /** Q, K and V projections carry a bias (qwen2). */
  readonly qkvBias: boolean;
  /** RMSNorm over each head of Q and K before RoPE (qwen3). */
  readonly qkNorm: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}

/** Inverse frequencies for each rotated pair, with llama3 scaling applied as HF does. */
export function ropeInvFreq(c: ModelConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s) return inv;
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

export function parameterCount(c: ModelConfig): number {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attn = h * q + 2 * h * kv + q * h + (c.qkvBias ? q + 2 * kv : 0) + (c.qkNorm ? 2 * c.headDim : 0);
  const ffn = 3 * h * c.intermediateSize;
  const perLayer = attn + ffn + 2 * h;
  const emb = c.vocabSize * h;
  return emb + (c.tieWordEmbeddings ? 0 : emb) + c.numLayers * perLayer + h;
}
