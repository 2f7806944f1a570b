// Phi-3, Phi-3.5 and Phi-4-mini (Phi3ForCausalLM): llama's block with Q, K and V in one
// matrix and the MLP's gate and up in another (kept fused, as llama.cpp's GGUF has them; the
// runners cut them into views), RoPE over the first part of each head (Phi-4-mini rotates 96
// of 128 dims), and LongRoPE: per-pair divisors for within and past the original context.
import type { GGUFWriteValue } from "../formats/gguf.js";
import type { LongRopeScaling } from "../kernels/rope.js";
import type { ArchSpec, TensorSpec } from "./arch.js";
import { ConfigFields, describe } from "./config-fields.js";
import { attentionShape, ggufBlock, HF_GLOBAL, hfShapeFields, ggufShapeKeys, hfNaming, ggufWindows, hfWindowFields, hfWindows, MAX_CONTEXT, optional, uniformWindow, vocabFits } from "./family-config.js";

const HF_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.qkv_proj.weight": "attn_qkv.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "post_attention_layernorm.weight": "ffn_norm.weight",
  "mlp.gate_up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};
const NAMES = hfNaming(HF_LAYER, HF_GLOBAL);

/** HF's LongRoPE attention factor when the config gives none: sqrt(1 + ln(s) / ln(original)), s = max / original. */
export function longRopeAttentionFactor(maxPositions: number, original: number): number {
  const s = maxPositions / original;
  return s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(original));
}

// rope_scaling: null, or longrope/su with short and long factor lists of ropeDim / 2 each.
function hfLongRope(r: ConfigFields, ropeDim: number, maxPositions: number): LongRopeScaling | null {
  const s = r.child("rope_scaling");
  if (!s) return null;
  const type = s.raw("rope_type") ?? s.raw("type");
  if (type === "default") return null;
  if (type !== "longrope" && type !== "su") throw s.fail("type", `unsupported rope_scaling type ${describe(type)} (longrope and su are supported)`);
  const list = (key: string): number[] => {
    const v = s.raw(key);
    if (!Array.isArray(v) || v.length !== ropeDim / 2 || !v.every((x) => typeof x === "number" && Number.isFinite(x) && x > 0)) {
      throw s.fail(key, `must list ${ropeDim / 2} positive numbers (one per rotated pair), got ${describe(v)}`);
    }
    return v as number[];
  };
  const original = s.has("original_max_position_embeddings")
    ? s.int("original_max_position_embeddings", { min: 1 })
    : r.int("original_max_position_embeddings", { min: 1 });
  return {
    type: "longrope",
    originalMaxPositionEmbeddings: original,
    attentionFactor: s.has("attention_factor") ? s.positive("attention_factor") : longRopeAttentionFactor(maxPositions, original),
    shortFactor: list("short_factor"),
    longFactor: list("long_factor"),
  };
}

function ropeDimOf(headDim: number, partial: number, r: ConfigFields, key: string): number {
  const d = Math.floor(headDim * partial);
  if (d < 2 || d % 2 !== 0) throw r.fail(key, `${partial} of head dim ${headDim} is ${d} dims; RoPE rotates an even number from 2`);
  return d;
}

const spec: ArchSpec = {
  name: "phi3",
  hfArchitectures: ["Phi3ForCausalLM"],

  fromHF(j, path, extent) {
    const r = new ConfigFields(path, (k) => j[k]);
    const a = attentionShape(r, { hidden: "hidden_size", heads: "num_attention_heads", kvHeads: "num_key_value_heads", headDim: ["head_dim"] });
    const vocab = vocabFits(r, "vocab_size", r.int("vocab_size", { min: 1 }), extent);
    const act = r.raw("hidden_act");
    if (act !== undefined && act !== null && act !== "silu") throw r.fail("hidden_act", `${describe(act)} is not supported (silu is)`);
    const layers = r.int("num_hidden_layers", { min: 1, max: extent.tensorCount, maxWhy: `the weights hold only ${extent.tensorCount} tensors` });
    const maxPositions = r.int("max_position_embeddings", { min: 1, max: MAX_CONTEXT, fallback: 4096 });
    const ropeDim = ropeDimOf(a.headDim, r.positive("partial_rotary_factor", 1), r, "partial_rotary_factor");
    return {
      arch: "phi3",
      vocabSize: vocab,
      hiddenSize: a.hidden,
      intermediateSize: r.int("intermediate_size", { min: 1 }),
      numLayers: layers,
      numHeads: a.heads,
      numKvHeads: a.kvHeads,
      headDim: a.headDim,
      rmsNormEps: r.positive("rms_norm_eps", 1e-5),
      ropeTheta: r.positive("rope_theta", 10000),
      ropeScaling: hfLongRope(r, ropeDim, maxPositions),
      ropeLayout: "neox",
      maxPositionEmbeddings: maxPositions,
      tieWordEmbeddings: j.tie_word_embeddings === true,
      qkvBias: false,
      qkNorm: false,
      bosTokenId: r.tokenIds("bos_token_id", vocab)[0] ?? null,
      eosTokenIds: r.tokenIds("eos_token_id", vocab),
      ...(ropeDim !== a.headDim ? { ropeDim } : {}),
      ...optional("attentionWindows", hfWindows(r, layers)),
    };
  },

  fromGGUF(m, path, extent) {
    const r = new ConfigFields(path, (k) => m[k]);
    const p = "phi3.";
    // llama.cpp's phi3 has no key_length: heads split the embedding.
    const a = attentionShape(r, { hidden: p + "embedding_length", heads: p + "attention.head_count", kvHeads: p + "attention.head_count_kv", headDim: [p + "attention.key_length"] });
    const block = ggufBlock(r, p, m, extent, a);
    const ropeDim = r.has(p + "rope.dimension_count") ? r.int(p + "rope.dimension_count", { min: 2, max: a.headDim, maxWhy: `the head dim is ${a.headDim}` }) : a.headDim;
    if (ropeDim % 2 !== 0) throw r.fail(p + "rope.dimension_count", `${ropeDim} is odd (RoPE rotates pairs of dimensions)`);
    const original = r.has(p + "rope.scaling.original_context_length") ? r.int(p + "rope.scaling.original_context_length", { min: 1 }) : block.maxPositionEmbeddings;
    return {
      arch: "phi3",
      ...block,
      // LongRoPE's factors travel as the rope_factors_short/long tensors: settled below.
      ropeScaling: {
        type: "longrope", originalMaxPositionEmbeddings: original,
        attentionFactor: r.has(p + "rope.scaling.attn_factor") ? r.positive(p + "rope.scaling.attn_factor") : 1,
      },
      ropeLayout: "neox",
      tieWordEmbeddings: false,
      qkvBias: false,
      qkNorm: false,
      ...(ropeDim !== a.headDim ? { ropeDim } : {}),
      ...optional("attentionWindows", ggufWindows(r, p + "attention.sliding_window", block.numLayers)),
    };
  },

  settle(c, names) {
    const longrope = names.includes("rope_factors_long.weight") || names.includes("rope_factors_short.weight");
    return {
      ...c,
      tieWordEmbeddings: !names.includes("output.weight"),
      ropeScaling: c.ropeScaling?.type === "longrope" && !longrope && c.ropeScaling.shortFactor === undefined ? null : c.ropeScaling,
    };
  },

  hfConfigTensors(c) {
    const s = c.ropeScaling;
    if (s?.type !== "longrope" || !s.shortFactor || !s.longFactor) return [];
    return [
      { name: "rope_factors_short.weight", data: Float32Array.from(s.shortFactor) },
      { name: "rope_factors_long.weight", data: Float32Array.from(s.longFactor) },
    ];
  },

  toHF(c) {
    const out: Record<string, unknown> = {
      ...hfShapeFields("Phi3ForCausalLM", "phi3", c),
      hidden_act: "silu",
      partial_rotary_factor: (c.ropeDim ?? c.headDim) / c.headDim,
    };
    if (c.headDim * c.numHeads !== c.hiddenSize) out.head_dim = c.headDim;
    const s = c.ropeScaling;
    if (s?.type === "longrope") {
      if (!s.shortFactor || !s.longFactor) throw new Error("phi3: LongRoPE factors are in the weights, not the config");
      out.original_max_position_embeddings = s.originalMaxPositionEmbeddings;
      out.rope_scaling = { type: "longrope", short_factor: s.shortFactor, long_factor: s.longFactor, attention_factor: s.attentionFactor };
    }
    if (c.attentionWindows) Object.assign(out, hfWindowFields(c.attentionWindows));
    if (c.bosTokenId !== null) out.bos_token_id = c.bosTokenId;
    if (c.eosTokenIds.length > 0) out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
    return out;
  },

  toGGUF(c) {
    const p = "phi3";
    if (c.headDim * c.numHeads !== c.hiddenSize) throw new Error(`${p}: GGUF's phi3 takes the head dim as hidden / heads, and this model's is ${c.headDim}`);
    const out: Record<string, GGUFWriteValue> = {
      ...ggufShapeKeys(p, c),
      [`${p}.rope.dimension_count`]: c.ropeDim ?? c.headDim,
    };
    const s = c.ropeScaling;
    if (s?.type === "longrope") {
      out[`${p}.rope.scaling.original_context_length`] = s.originalMaxPositionEmbeddings;
      out[`${p}.rope.scaling.attn_factor`] = { type: "f32", value: s.attentionFactor };
    } else if (s) {
      throw new Error(`${p}: GGUF holds LongRoPE scaling for this family, not ${s.type}`);
    }
    if (c.attentionWindows) {
      const w = uniformWindow(c.attentionWindows);
      if (w === null) throw new Error(`${p}: GGUF holds one sliding window for every layer, and this model's layers differ`);
      out[`${p}.attention.sliding_window`] = w;
    }
    return out;
  },

  tensors(c) {
    const h = c.hiddenSize;
    const q = c.numHeads * c.headDim;
    const kv = c.numKvHeads * c.headDim;
    const out: TensorSpec[] = [{ name: "token_embd.weight", shape: [c.vocabSize, h], isVector: false }];
    const pairs = (c.ropeDim ?? c.headDim) / 2;
    out.push({ name: "rope_factors_long.weight", shape: [pairs], isVector: true, optional: true });
    out.push({ name: "rope_factors_short.weight", shape: [pairs], isVector: true, optional: true });
    for (let i = 0; i < c.numLayers; i++) {
      const b = `blk.${i}.`;
      out.push({ name: b + "attn_norm.weight", shape: [h], isVector: true });
      out.push({ name: b + "attn_qkv.weight", shape: [q + 2 * kv, h], isVector: false });
      out.push({ name: b + "attn_output.weight", shape: [h, q], isVector: false });
      out.push({ name: b + "ffn_norm.weight", shape: [h], isVector: true });
      out.push({ name: b + "ffn_up.weight", shape: [2 * c.intermediateSize, h], isVector: false });
      out.push({ name: b + "ffn_down.weight", shape: [h, c.intermediateSize], isVector: false });
    }
    out.push({ name: "output_norm.weight", shape: [h], isVector: true });
    if (!c.tieWordEmbeddings) out.push({ name: "output.weight", shape: [c.vocabSize, h], isVector: false });
    return out;
  },

  internalName: NAMES.internalName,
  hfName: NAMES.hfName,
};

export const phi3Family: readonly ArchSpec[] = [spec];
