// The rotary position embedding's parameters and its per-pair frequencies. They live with the
// kernels, not the model, because the kernels compute RoPE and must know nothing of models.

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

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

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
}

/** Inverse frequencies for each rotated pair, with linear or llama3 scaling applied as HF does. */
export function ropeInvFreq(c: RopeParams): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s) return inv;
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

/** The inverse frequencies of the sliding-window layers where they have their own base (Gemma 3), else null. */
export function localRopeInvFreq(c: RopeParams & { readonly localRopeTheta?: number }): Float64Array | null {
  return c.localRopeTheta === undefined ? null : ropeInvFreq({ headDim: c.headDim, ropeTheta: c.localRopeTheta, ropeScaling: null });
}
