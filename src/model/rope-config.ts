// RoPE scaling as HF configs and GGUF metadata spell it, for every family: llama3 (HF's
// rope_scaling; GGUF carries it as the rope_freqs tensor) and linear (both as fields).
import type { GGUFWriteValue } from "../formats/gguf.js";
import type { LinearRopeScaling, RopeScaling } from "../kernels/rope.js";
import { ConfigFields, describe } from "./config-fields.js";

export function hfRopeScaling(r: ConfigFields): RopeScaling | null {
  const s = r.child("rope_scaling");
  if (!s) return null;
  const type = s.raw("rope_type") ?? s.raw("type");
  if (type === "default") return null;
  if (type === "linear") return { type: "linear", factor: s.positive("factor") };
  if (type !== "llama3") throw s.fail("rope_type", `unsupported rope_scaling type ${describe(type)} (llama3 and linear are supported)`);
  const low = s.positive("low_freq_factor", 1);
  const high = s.positive("high_freq_factor", 4);
  // The smoothing between the two divides by their difference.
  if (!(high > low)) throw s.fail("high_freq_factor", `${high} must be above low_freq_factor (${low})`);
  return {
    type: "llama3",
    factor: s.positive("factor"),
    lowFreqFactor: low,
    highFreqFactor: high,
    originalMaxPositionEmbeddings: s.int("original_max_position_embeddings", { min: 1, fallback: 8192 }),
  };
}

export function hfRopeScalingFields(s: RopeScaling): Record<string, unknown> {
  if (s.type === "linear") return { rope_type: "linear", factor: s.factor };
  if (s.type === "longrope") {
    return { rope_type: "longrope", short_factor: s.shortFactor, long_factor: s.longFactor, attention_factor: s.attentionFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings };
  }
  return {
    rope_type: "llama3", factor: s.factor, low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/**
 * `{arch}.rope.scaling.type` linear with its factor, else null. YaRN (some Qwen2.5 files)
 * is not implemented yet and reads as none, as it always has here; refusing it would stop
 * files that run today.
 */
export function ggufRopeScaling(r: ConfigFields, p: string): LinearRopeScaling | null {
  if (r.raw(p + "rope.scaling.type") !== "linear") return null;
  const factor = r.positive(p + "rope.scaling.factor");
  return factor === 1 ? null : { type: "linear", factor };
}

export function ggufRopeScalingFields(p: string, s: LinearRopeScaling): Record<string, GGUFWriteValue> {
  return { [`${p}.rope.scaling.type`]: "linear", [`${p}.rope.scaling.factor`]: { type: "f32", value: s.factor } };
}
