// The llama family: Llama 2/3.x (llama3 rope scaling), Mistral, SmolLM2, TinyLlama, and the
// Qwen2 (qkv bias) and Qwen3 (per-head q/k RMSNorm) variants of the same block.
import type { ModelConfig } from "./config.js";
import type { Llama3RopeScaling } from "../kernels/rope.js";
import type { ArchSpec, TensorSpec } from "./arch.js";
import type { GGUFValue, GGUFWriteValue } from "../formats/gguf.js";
import { FormatError } from "../formats/errors.js";

interface Variant {
  name: "llama" | "qwen2" | "qwen3";
  hfArchitectures: string[];
  hfModelType: string;
  qkvBias: boolean;
  qkNorm: boolean;
}

const variants: Variant[] = [
  { name: "llama", hfArchitectures: ["LlamaForCausalLM", "MistralForCausalLM"], hfModelType: "llama", qkvBias: false, qkNorm: false },
  { name: "qwen2", hfArchitectures: ["Qwen2ForCausalLM"], hfModelType: "qwen2", qkvBias: true, qkNorm: false },
  { name: "qwen3", hfArchitectures: ["Qwen3ForCausalLM"], hfModelType: "qwen3", qkvBias: false, qkNorm: true },
];

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
const HF_GLOBAL: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};
const INTERNAL_LAYER = Object.fromEntries(Object.entries(HF_LAYER).map(([a, b]) => [b, a]));
const INTERNAL_GLOBAL = Object.fromEntries(Object.entries(HF_GLOBAL).map(([a, b]) => [b, a]));

function num(v: unknown, key: string, path: string, fallback?: number): number {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new FormatError(path, `missing ${key}`);
  }
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new FormatError(path, `${key} is not a number`);
  return n;
}

function ids(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => Number(x)).filter((x) => Number.isInteger(x));
  const n = Number(v);
  return Number.isInteger(n) ? [n] : [];
}

function positiveInt(c: ModelConfig, path: string): ModelConfig {
  for (const k of ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new FormatError(path, `${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.numHeads % c.numKvHeads !== 0) throw new FormatError(path, `${c.numHeads} attention heads is not a multiple of ${c.numKvHeads} KV heads`);
  if (c.headDim % 2 !== 0) throw new FormatError(path, `head dim ${c.headDim} is odd`);
  return c;
}

function hfRopeScaling(v: unknown, path: string): Llama3RopeScaling | null {
  if (v === undefined || v === null) return null;
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === "default") return null;
  if (type !== "llama3") throw new FormatError(path, `unsupported rope_scaling type ${String(type)} (llama3 is supported)`);
  return {
    type: "llama3",
    factor: num(r.factor, "rope_scaling.factor", path),
    lowFreqFactor: num(r.low_freq_factor, "rope_scaling.low_freq_factor", path, 1),
    highFreqFactor: num(r.high_freq_factor, "rope_scaling.high_freq_factor", path, 4),
    originalMaxPositionEmbeddings: num(r.original_max_position_embeddings, "rope_scaling.original_max_position_embeddings", path, 8192),
  };
}

function makeSpec(v: Variant): ArchSpec {
  return {
    name: v.name,
    hfArchitectures: v.hfArchitectures,

    fromHF(j, path) {
      const hidden = num(j.hidden_size, "hidden_size", path);
      const heads = num(j.num_attention_heads, "num_attention_heads", path);
      const headDim = num(j.head_dim, "head_dim", path, hidden / heads);
      return positiveInt({
        arch: v.name,
        vocabSize: num(j.vocab_size, "vocab_size", path),
        hiddenSize: hidden,
        intermediateSize: num(j.intermediate_size, "intermediate_size", path),
        numLayers: num(j.num_hidden_layers, "num_hidden_layers", path),
        numHeads: heads,
        numKvHeads: num(j.num_key_value_heads, "num_key_value_heads", path, heads),
        headDim,
        rmsNormEps: num(j.rms_norm_eps, "rms_norm_eps", path, 1e-6),
        ropeTheta: num(j.rope_theta, "rope_theta", path, 10000),
        ropeScaling: hfRopeScaling(j.rope_scaling, path),
        ropeLayout: "neox",
        maxPositionEmbeddings: num(j.max_position_embeddings, "max_position_embeddings", path, 4096),
        tieWordEmbeddings: j.tie_word_embeddings === true,
        qkvBias: v.qkvBias || j.attention_bias === true,
        qkNorm: v.qkNorm,
        bosTokenId: ids(j.bos_token_id)[0] ?? null,
        eosTokenIds: ids(j.eos_token_id),
      }, path);
    },

    fromGGUF(m, path) {
      const k = (s: string): GGUFValue | undefined => m[`${v.name}.${s}`];
      const hidden = num(k("embedding_length"), `${v.name}.embedding_length`, path);
      const heads = num(k("attention.head_count"), `${v.name}.attention.head_count`, path);
      const tokens = m["tokenizer.ggml.tokens"];
      const vocab = num(k("vocab_size") ?? (Array.isArray(tokens) ? tokens.length : undefined), `${v.name}.vocab_size`, path);
      return positiveInt({
        arch: v.name,
        vocabSize: vocab,
        hiddenSize: hidden,
        intermediateSize: num(k("feed_forward_length"), `${v.name}.feed_forward_length`, path),
        numLayers: num(k("block_count"), `${v.name}.block_count`, path),
        numHeads: heads,
        numKvHeads: num(k("attention.head_count_kv"), `${v.name}.attention.head_count_kv`, path, heads),
        headDim: num(k("attention.key_length") ?? k("rope.dimension_count"), `${v.name}.attention.key_length`, path, hidden / heads),
        rmsNormEps: num(k("attention.layer_norm_rms_epsilon"), `${v.name}.attention.layer_norm_rms_epsilon`, path, 1e-6),
        ropeTheta: num(k("rope.freq_base"), `${v.name}.rope.freq_base`, path, 10000),
        // llama3 scaling travels as the rope_freqs tensor in GGUF files.
        ropeScaling: null,
        ropeLayout: v.name === "llama" ? "interleaved" : "neox",
        maxPositionEmbeddings: num(k("context_length"), `${v.name}.context_length`, path, 4096),
        // Tied when the file has no separate output matrix; the loader settles this.
        tieWordEmbeddings: false,
        qkvBias: v.qkvBias,
        qkNorm: v.qkNorm,
        bosTokenId: ids(m["tokenizer.ggml.bos_token_id"])[0] ?? null,
        eosTokenIds: [...ids(m["tokenizer.ggml.eos_token_id"]), ...ids(m["tokenizer.ggml.eot_token_id"])],
      }, path);
    },

    toHF(c) {
      const out: Record<string, unknown> = {
        architectures: [v.hfArchitectures[0]],
        model_type: v.hfModelType,
        vocab_size: c.vocabSize,
        hidden_size: c.hiddenSize,
        intermediate_size: c.intermediateSize,
        num_hidden_layers: c.numLayers,
        num_attention_heads: c.numHeads,
        num_key_value_heads: c.numKvHeads,
        head_dim: c.headDim,
        hidden_act: "silu",
        rms_norm_eps: c.rmsNormEps,
        rope_theta: c.ropeTheta,
        max_position_embeddings: c.maxPositionEmbeddings,
        tie_word_embeddings: c.tieWordEmbeddings,
        torch_dtype: "float32",
      };
      if (c.bosTokenId !== null) out.bos_token_id = c.bosTokenId;
      if (c.eosTokenIds.length > 0) out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
      if (c.ropeScaling) {
        const s = c.ropeScaling;
        out.rope_scaling = {
          rope_type: "llama3", factor: s.factor, low_freq_factor: s.lowFreqFactor,
          high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings,
        };
      }
      return out;
    },

    toGGUF(c) {
      const p = v.name;
      const out: Record<string, GGUFWriteValue> = {
        "general.architecture": p,
        [`${p}.vocab_size`]: c.vocabSize,
        [`${p}.context_length`]: c.maxPositionEmbeddings,
        [`${p}.embedding_length`]: c.hiddenSize,
        [`${p}.feed_forward_length`]: c.intermediateSize,
        [`${p}.block_count`]: c.numLayers,
        [`${p}.attention.head_count`]: c.numHeads,
        [`${p}.attention.head_count_kv`]: c.numKvHeads,
        [`${p}.attention.key_length`]: c.headDim,
        [`${p}.attention.value_length`]: c.headDim,
        [`${p}.rope.dimension_count`]: c.headDim,
        [`${p}.rope.freq_base`]: { type: "f32", value: c.ropeTheta },
        [`${p}.attention.layer_norm_rms_epsilon`]: { type: "f32", value: c.rmsNormEps },
      };
      return out;
    },

    tensors(c) {
      const h = c.hiddenSize;
      const q = c.numHeads * c.headDim;
      const kv = c.numKvHeads * c.headDim;
      const out: TensorSpec[] = [{ name: "token_embd.weight", shape: [c.vocabSize, h], isVector: false }];
      if (c.ropeScaling) out.push({ name: "rope_freqs.weight", shape: [c.headDim / 2], isVector: true, optional: true });
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
          out.push({ name: b + "attn_q_norm.weight", shape: [c.headDim], isVector: true });
          out.push({ name: b + "attn_k_norm.weight", shape: [c.headDim], isVector: true });
        }
        out.push({ name: b + "attn_output.weight", shape: [h, q], isVector: false });
        out.push({ name: b + "ffn_norm.weight", shape: [h], isVector: true });
        out.push({ name: b + "ffn_gate.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_up.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_down.weight", shape: [h, c.intermediateSize], isVector: false });
      }
      out.push({ name: "output_norm.weight", shape: [h], isVector: true });
      if (!c.tieWordEmbeddings) out.push({ name: "output.weight", shape: [c.vocabSize, h], isVector: false });
      return out;
    },

    internalName(hf) {
      const g = HF_GLOBAL[hf];
      if (g) return g;
      const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
      if (!m) return null;
      const rest = HF_LAYER[m[2]!];
      return rest ? `blk.${m[1]}.${rest}` : null;
    },

    hfName(internal) {
      const g = INTERNAL_GLOBAL[internal];
      if (g) return g;
      const m = /^blk\.(\d+)\.(.+)$/.exec(internal);
      const rest = m ? INTERNAL_LAYER[m[2]!] : undefined;
      if (!m || !rest) throw new Error(`no HF name for tensor ${internal}`);
      return `model.layers.${m[1]}.${rest}`;
    },
  };
}

export const llamaFamily: readonly ArchSpec[] = variants.map(makeSpec);
