// How GGUF files lay out what HF folders hold, as llama.cpp's converter writes them: Q/K rows
// of llama models permuted for interleaved RoPE, the 32-block type K-quants fall back to on
// rows they cannot split, tokenizer metadata as typed GGUF values. Shared by the converter
// and the test-model writer.
import type { GGUFWriteValue } from "../formats/gguf.js";
import { isFloatType, type WeightType } from "../formats/dtype.js";

/**
 * Families whose GGUF files hold Q/K rows permuted for interleaved RoPE: those llama.cpp's
 * converter writes through its llama model (llama, and granite and smollm3, which extend it).
 */
export function ggufRopeInterleaved(arch: string): boolean {
  return arch === "llama" || arch === "granite" || arch === "smollm3";
}

/** GGUF llama files hold Q/K rows permuted for interleaved RoPE, as llama.cpp's converter writes them. */
export function permuteForInterleaved(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * headDim + j * half + i) * cols;
        const dst = (h * headDim + 2 * i + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

// K-quant rows are 256-element super-blocks; rows of other widths (576 in SmolLM2, 896 in
// Qwen2.5-0.5B) take the 32-block type llama.cpp's quantizer falls back to.
const K_FALLBACK: Partial<Record<WeightType, WeightType>> = { q4_K: "q5_0", q5_K: "q5_1", q6_K: "q8_0" };

/** The type a tensor of `spec` is written in, in a file of `dtype`: vectors f32, routers in a float type. */
export function specTensorType(spec: { readonly isVector: boolean; readonly keepFloat?: boolean; readonly shape: readonly number[] }, dtype: WeightType): WeightType {
  if (spec.isVector) return "f32";
  if (spec.keepFloat && !isFloatType(dtype)) return "f32";
  return tensorType(dtype, spec.shape[spec.shape.length - 1]!);
}

export function tensorType(dtype: WeightType, cols: number): WeightType {
  const fallback = K_FALLBACK[dtype];
  return fallback && cols % 256 !== 0 ? fallback : dtype;
}

export function ggufTokenizerValues(meta: Record<string, unknown>): Record<string, GGUFWriteValue> {
  const out: Record<string, GGUFWriteValue> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] === "string") out[k] = v as string[];
      else if (k.endsWith("scores")) out[k] = Float32Array.from(v as number[]);
      else out[k] = Int32Array.from(v as number[]);
    } else if (typeof v === "string" || typeof v === "boolean" || typeof v === "number" || typeof v === "bigint") {
      out[k] = v;
    }
  }
  return out;
}
