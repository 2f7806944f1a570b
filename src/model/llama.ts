// The llama family: Llama 2/3.x (llama3 rope scaling), Mistral, SmolLM2, TinyLlama, and the
// Qwen2 (qkv bias), Qwen3 (per-head q/k RMSNorm) and Granite 3 (multipliers on the
// embedding, the attention scores, the residual branches and the logits) variants of the
// same block, SmolLM3 (no RoPE in every 4th layer), and sliding windows where a config sets
// them (Mistral 7B v0.1, Qwen2 with use_sliding_window).
import { ggufRopeScaling, ggufRopeScalingFields, hfRopeScaling, hfRopeScalingFields } from "./rope-config.js";
import type { Multipliers } from "../kernels/backend.js";
import { ggufRopeInterleaved } from "./gguf-layout.js";
import type { ArchSpec, TensorSpec } from "./arch.js";
import type { GGUFWriteValue } from "../formats/gguf.js";
import { ConfigFields, describe } from "./config-fields.js";
import type { MoeConfig } from "../kernels/backend.js";
import {
  ggufMoe, ggufMoeKeys, hfExpertName, hfMixtralMoe, hfOlmoe, hfQwen2Moe, hfQwenMoe, internalExpertName, MIXTRAL_NAMES, moeTensorSpecs, QWEN2_SHARED,
  QWEN_MOE_NAMES, type HFExpertNames,
} from "./moe.js";
import { attentionShape, ggufBlock, HF_GLOBAL, hfShapeFields, ggufShapeKeys, hfNaming, ggufWindows, hfWindowFields, hfWindows, MAX_CONTEXT, optional, uniformWindow, vocabFits } from "./family-config.js";

interface Variant {
  name: "llama" | "qwen2" | "qwen3" | "granite" | "smollm3" | "qwen3moe" | "qwen2moe" | "olmoe";
  hfArchitectures: string[];
  hfModelType: string;
  qkvBias: boolean;
  qkNorm: boolean;
  multipliers: boolean;
  /** Mixture-of-experts layers: HF's names for them, and how HF's config and GGUF say so. */
  moe?: { names: HFExpertNames; hf: (r: ConfigFields) => MoeConfig | undefined; hfArchitecture: string; hfModelType: string; ggufNormTopK: boolean; shared?: Readonly<Record<string, string>> };
}

const variants: Variant[] = [
  {
    name: "llama", hfArchitectures: ["LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"], hfModelType: "llama", qkvBias: false, qkNorm: false, multipliers: false,
    // Mixtral is llama with experts (llama.cpp writes it as llama with expert_count).
    moe: { names: MIXTRAL_NAMES, hf: (r) => (r.has("num_local_experts") ? hfMixtralMoe(r) : undefined), hfArchitecture: "MixtralForCausalLM", hfModelType: "mixtral", ggufNormTopK: true },
  },
  { name: "qwen2", hfArchitectures: ["Qwen2ForCausalLM"], hfModelType: "qwen2", qkvBias: true, qkNorm: false, multipliers: false },
  { name: "qwen3", hfArchitectures: ["Qwen3ForCausalLM"], hfModelType: "qwen3", qkvBias: false, qkNorm: true, multipliers: false },
  { name: "granite", hfArchitectures: ["GraniteForCausalLM"], hfModelType: "granite", qkvBias: false, qkNorm: false, multipliers: true },
  { name: "smollm3", hfArchitectures: ["SmolLM3ForCausalLM"], hfModelType: "smollm3", qkvBias: false, qkNorm: false, multipliers: false },
  {
    name: "qwen3moe", hfArchitectures: ["Qwen3MoeForCausalLM"], hfModelType: "qwen3_moe", qkvBias: false, qkNorm: true, multipliers: false,
    moe: { names: QWEN_MOE_NAMES, hf: hfQwenMoe, hfArchitecture: "Qwen3MoeForCausalLM", hfModelType: "qwen3_moe", ggufNormTopK: true },
  },
  {
    name: "qwen2moe", hfArchitectures: ["Qwen2MoeForCausalLM"], hfModelType: "qwen2_moe", qkvBias: true, qkNorm: false, multipliers: false,
    moe: { names: QWEN_MOE_NAMES, hf: hfQwen2Moe, hfArchitecture: "Qwen2MoeForCausalLM", hfModelType: "qwen2_moe", ggufNormTopK: false, shared: QWEN2_SHARED },
  },
  // OLMoE normalizes Q and K over their whole projections (q/k norm vectors of hidden size).
  {
    name: "olmoe", hfArchitectures: ["OlmoeForCausalLM"], hfModelType: "olmoe", qkvBias: false, qkNorm: true, multipliers: false,
    moe: { names: QWEN_MOE_NAMES, hf: hfOlmoe, hfArchitecture: "OlmoeForCausalLM", hfModelType: "olmoe", ggufNormTopK: false },
  },
];

/** SmolLM3's layers: every `interval`-th one (the 4th, 8th, ...) goes without RoPE. */
export function smollm3RopeLayers(layers: number, interval = 4): boolean[] {
  return Array.from({ length: layers }, (_, i) => (i + 1) % interval !== 0);
}

// HF's no_rope_layers (1: RoPE, 0: none), or the pattern no_rope_layer_interval makes.
function hfRopeLayers(r: ConfigFields, layers: number): boolean[] {
  const list = r.raw("no_rope_layers");
  if (list === undefined || list === null) return smollm3RopeLayers(layers, r.int("no_rope_layer_interval", { min: 1, fallback: 4 }));
  if (!Array.isArray(list) || list.length !== layers || !list.every((x) => x === 0 || x === 1)) {
    throw r.fail("no_rope_layers", `must list 0 or 1 for each of the ${layers} layers, got ${describe(list)}`);
  }
  return list.map((x) => x === 1);
}

// Granite's multipliers, each format with its own defaults: HF's GraniteConfig defaults every
// one to 1.0; llama.cpp requires the logit scale and reads an absent attention scale as
// 1/sqrt(head dim) and an absent embedding or residual scale as none.
function hfMultipliers(r: ConfigFields): Multipliers {
  return {
    embedding: r.number("embedding_multiplier", 1),
    attention: r.positive("attention_multiplier", 1),
    residual: r.number("residual_multiplier", 1),
    logit: r.nonzero("logits_scaling", 1),
  };
}

function ggufMultipliers(r: ConfigFields, p: string, headDim: number): Multipliers {
  // llama.cpp's converter writes only the multipliers that are not 0.
  const given = (k: string): boolean => r.has(k) && r.number(k) !== 0;
  return {
    embedding: given(p + "embedding_scale") ? r.number(p + "embedding_scale") : 1,
    attention: given(p + "attention.scale") ? r.positive(p + "attention.scale") : 1 / Math.sqrt(headDim),
    residual: given(p + "residual_scale") ? r.number(p + "residual_scale") : 1,
    logit: r.nonzero(p + "logit_scale"),
  };
}

const HF_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.q_proj.bias": "attn_q.bias",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.k_proj.bias": "attn_k.bias",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.v_proj.bias": "attn_v.bias",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_norm.weight": "attn_q_norm.weight",
  "self_attn.k_norm.weight": "attn_k_norm.weight",
  "post_attention_layernorm.weight": "ffn_norm.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};

function makeSpec(v: Variant): ArchSpec {
  const moe = v.moe;
  const shared = moe?.shared ?? {};
  const sharedBack = Object.fromEntries(Object.entries(shared).map(([a, b]) => [b, a]));
  const names = hfNaming(HF_LAYER, HF_GLOBAL, moe && {
    internal: (rest) => shared[rest] ?? internalExpertName(moe.names, rest),
    hf: (rest) => sharedBack[rest] ?? hfExpertName(moe.names, rest),
  });
  return {
    name: v.name,
    hfArchitectures: v.hfArchitectures,

    fromHF(j, path, extent) {
      const r = new ConfigFields(path, (k) => j[k]);
      const a = attentionShape(r, { hidden: "hidden_size", heads: "num_attention_heads", kvHeads: "num_key_value_heads", headDim: ["head_dim"] });
      const vocab = vocabFits(r, "vocab_size", r.int("vocab_size", { min: 1 }), extent);
      // The kernels run a SiLU-gated MLP without biases; anything else would run, wrongly.
      const act = r.raw("hidden_act");
      if (act !== undefined && act !== null && act !== "silu" && act !== "swish") throw r.fail("hidden_act", `${describe(act)} is not supported (silu is)`);
      if (r.raw("mlp_bias") === true) throw r.fail("mlp_bias", "MLP biases are not supported");
      return {
        arch: v.name,
        vocabSize: vocab,
        hiddenSize: a.hidden,
        intermediateSize: r.int("intermediate_size", { min: 1 }),
        numLayers: r.int("num_hidden_layers", { min: 1, max: extent.tensorCount, maxWhy: `the weights hold only ${extent.tensorCount} tensors` }),
        numHeads: a.heads,
        numKvHeads: a.kvHeads,
        headDim: a.headDim,
        rmsNormEps: r.positive("rms_norm_eps", 1e-6),
        ropeTheta: r.positive("rope_theta", 10000),
        ropeScaling: hfRopeScaling(r),
        ropeLayout: "neox",
        maxPositionEmbeddings: r.int("max_position_embeddings", { min: 1, max: MAX_CONTEXT, fallback: 4096 }),
        tieWordEmbeddings: j.tie_word_embeddings === true,
        qkvBias: v.qkvBias || j.attention_bias === true,
        qkNorm: v.qkNorm,
        bosTokenId: r.tokenIds("bos_token_id", vocab)[0] ?? null,
        eosTokenIds: r.tokenIds("eos_token_id", vocab),
        ...(v.multipliers ? { multipliers: hfMultipliers(r) } : {}),
        ...(v.name === "smollm3" ? { ropeLayers: hfRopeLayers(r, r.int("num_hidden_layers", { min: 1 })) } : {}),
        ...optional("attentionWindows", hfWindows(r, r.int("num_hidden_layers", { min: 1 }), v.name === "qwen2" ? r.int("max_window_layers", { min: 0, fallback: 0 }) : 0)),
        ...optional("moe", v.moe?.hf(r)),
      };
    },

    fromGGUF(m, path, extent) {
      const r = new ConfigFields(path, (k) => m[k]);
      const p = `${v.name}.`;
      const a = attentionShape(r, {
        hidden: p + "embedding_length", heads: p + "attention.head_count", kvHeads: p + "attention.head_count_kv",
        headDim: [p + "attention.key_length", p + "rope.dimension_count"],
      });
      // Our kernels rotate the whole head and use one head size for K and V.
      for (const k of [p + "rope.dimension_count", p + "attention.value_length"]) {
        if (r.has(k) && r.int(k, { min: 1 }) !== a.headDim) throw r.fail(k, `${r.number(k)} differs from the head dim ${a.headDim}`);
      }
      const block = ggufBlock(r, p, m, extent, a);
      return {
        arch: v.name,
        ...block,
        // llama3 scaling travels as the rope_freqs tensor in GGUF files; linear as keys.
        ropeScaling: ggufRopeScaling(r, p),
        ropeLayout: ggufRopeInterleaved(v.name) ? "interleaved" : "neox",
        // Settled from the tensors the file has (settle below).
        tieWordEmbeddings: false,
        qkvBias: v.qkvBias,
        qkNorm: v.qkNorm,
        ...(v.multipliers ? { multipliers: ggufMultipliers(r, p, a.headDim) } : {}),
        // llama.cpp's smollm3 has no key for it: every 4th layer, always.
        ...(v.name === "smollm3" ? { ropeLayers: smollm3RopeLayers(block.numLayers) } : {}),
        ...optional("attentionWindows", ggufWindows(r, p + "attention.sliding_window", block.numLayers)),
        ...optional("moe", v.moe ? ggufMoe(r, p, v.moe.ggufNormTopK) : undefined),
      };
    },

    settle(c, names) {
      // The kernels use an output matrix, biases and q/k norms wherever the file has them, so
      // the config follows the file and every one of them is checked against its shape.
      const has = (re: RegExp): boolean => names.some((n) => re.test(n));
      return {
        ...c,
        tieWordEmbeddings: !names.includes("output.weight"),
        qkvBias: c.qkvBias || has(/^blk\.\d+\.attn_[qkv]\.bias$/),
        qkNorm: c.qkNorm || has(/^blk\.\d+\.attn_[qk]_norm\.weight$/),
      };
    },

    toHF(c) {
      const out: Record<string, unknown> = {
        ...hfShapeFields(c.moe && v.moe ? v.moe.hfArchitecture : v.hfArchitectures[0]!, c.moe && v.moe ? v.moe.hfModelType : v.hfModelType, c),
        head_dim: c.headDim,
        hidden_act: "silu",
      };
      if (c.multipliers) {
        out.embedding_multiplier = c.multipliers.embedding;
        out.attention_multiplier = c.multipliers.attention;
        out.residual_multiplier = c.multipliers.residual;
        out.logits_scaling = c.multipliers.logit;
      }
      if (c.ropeLayers) out.no_rope_layers = c.ropeLayers.map((x) => (x ? 1 : 0));
      if (c.attentionWindows) Object.assign(out, hfWindowFields(c.attentionWindows));
      if (c.bosTokenId !== null) out.bos_token_id = c.bosTokenId;
      if (c.eosTokenIds.length > 0) out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
      if (c.ropeScaling) out.rope_scaling = hfRopeScalingFields(c.ropeScaling);
      if (c.moe && v.name === "llama") Object.assign(out, { num_local_experts: c.moe.experts, num_experts_per_tok: c.moe.used, intermediate_size: c.moe.expertFfn });
      if (c.moe && (v.name === "qwen3moe" || v.name === "qwen2moe")) {
        Object.assign(out, { num_experts: c.moe.experts, num_experts_per_tok: c.moe.used, moe_intermediate_size: c.moe.expertFfn, norm_topk_prob: c.moe.normTopK });
        if (c.moe.sharedFfn !== undefined) out.shared_expert_intermediate_size = c.moe.sharedFfn;
      }
      if (c.moe && v.name === "olmoe") {
        Object.assign(out, { num_experts: c.moe.experts, num_experts_per_tok: c.moe.used, intermediate_size: c.moe.expertFfn, norm_topk_prob: c.moe.normTopK });
      }
      return out;
    },

    toGGUF(c) {
      const p = v.name;
      const out: Record<string, GGUFWriteValue> = {
        ...ggufShapeKeys(p, c),
        [`${p}.attention.key_length`]: c.headDim,
        [`${p}.attention.value_length`]: c.headDim,
        [`${p}.rope.dimension_count`]: c.headDim,
      };
      const fixed = smollm3RopeLayers(c.numLayers);
      if (c.ropeLayers && c.ropeLayers.some((x, i) => x !== fixed[i])) {
        throw new Error(`${p}: GGUF holds only SmolLM3's pattern (every 4th layer without RoPE), not this model's`);
      }
      if (c.ropeScaling?.type === "linear") Object.assign(out, ggufRopeScalingFields(p, c.ropeScaling));
      if (c.moe) {
        if (!v.moe || c.moe.normTopK !== v.moe.ggufNormTopK) throw new Error(`${p}: llama.cpp's ${p} ${v.moe ? (v.moe.ggufNormTopK ? "renormalizes" : "keeps") + " the experts' weights, and this model does not" : "has no experts"}`);
        // Mixtral's llama and OLMoE's files give the experts' width as feed_forward_length, which llama.cpp reads for them.
        if (p === "llama" || p === "olmoe") out[`${p}.feed_forward_length`] = c.moe.expertFfn;
        else Object.assign(out, ggufMoeKeys(p, c.moe));
        out[`${p}.expert_count`] = c.moe.experts;
        out[`${p}.expert_used_count`] = c.moe.used;
      }
      if (c.attentionWindows) {
        const w = uniformWindow(c.attentionWindows);
        if (w === null) {
          throw new Error(`${p}: GGUF holds one sliding window for every layer, and this model's layers differ`);
        }
        out[`${p}.attention.sliding_window`] = w;
      }
      if (c.multipliers) {
        out[`${p}.embedding_scale`] = { type: "f32", value: c.multipliers.embedding };
        out[`${p}.attention.scale`] = { type: "f32", value: c.multipliers.attention };
        out[`${p}.residual_scale`] = { type: "f32", value: c.multipliers.residual };
        out[`${p}.logit_scale`] = { type: "f32", value: c.multipliers.logit };
      }
      return out;
    },

    tensors(c) {
      const h = c.hiddenSize;
      const q = c.numHeads * c.headDim;
      const kv = c.numKvHeads * c.headDim;
      const out: TensorSpec[] = [{ name: "token_embd.weight", shape: [c.vocabSize, h], isVector: false }];
      // GGUF's form of llama3 scaling; the kernels apply it wherever a file has it.
      out.push({ name: "rope_freqs.weight", shape: [c.headDim / 2], isVector: true, optional: true });
      for (let i = 0; i < c.numLayers; i++) {
        const b = `blk.${i}.`;
        out.push({ name: b + "attn_norm.weight", shape: [h], isVector: true });
        out.push({ name: b + "attn_q.weight", shape: [q, h], isVector: false });
        out.push({ name: b + "attn_k.weight", shape: [kv, h], isVector: false });
        out.push({ name: b + "attn_v.weight", shape: [kv, h], isVector: false });
        if (c.qkvBias) {
          out.push({ name: b + "attn_q.bias", shape: [q], isVector: true });
          out.push({ name: b + "attn_k.bias", shape: [kv], isVector: true });
          out.push({ name: b + "attn_v.bias", shape: [kv], isVector: true });
        }
        if (c.qkNorm) {
          // OLMoE's norms span the whole Q and K projections; the others' one head.
          out.push({ name: b + "attn_q_norm.weight", shape: [v.name === "olmoe" ? q : c.headDim], isVector: true });
          out.push({ name: b + "attn_k_norm.weight", shape: [v.name === "olmoe" ? kv : c.headDim], isVector: true });
        }
        out.push({ name: b + "attn_output.weight", shape: [h, q], isVector: false });
        out.push({ name: b + "ffn_norm.weight", shape: [h], isVector: true });
        if (c.moe) {
          out.push(...moeTensorSpecs(b, h, c.moe));
          continue;
        }
        out.push({ name: b + "ffn_gate.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_up.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_down.weight", shape: [h, c.intermediateSize], isVector: false });
      }
      out.push({ name: "output_norm.weight", shape: [h], isVector: true });
      if (!c.tieWordEmbeddings) out.push({ name: "output.weight", shape: [c.vocabSize, h], isVector: false });
      return out;
    },

    hfStackName(internal, e) {
      const m = /^blk\.(\d+)\.(.+)$/.exec(internal);
      const rest = m && v.moe && m[2] !== "ffn_gate_inp.weight" ? hfExpertName(v.moe.names, m[2]!, e) : null;
      return rest ? `model.layers.${m![1]}.${rest}` : null;
    },

    internalName: names.internalName,
    hfName: names.hfName,
  };
}

export const llamaFamily: readonly ArchSpec[] = variants.map(makeSpec);
