// Gemma 2 and Gemma 3: the embedding scaled by sqrt(hidden), RMSNorms that scale by 1 + w
// (GGUF files hold 1 + w; HF folders hold w, shifted at load), a norm on each branch's
// output before the residual, GeGLU, queries scaled by query_pre_attn_scalar, and local
// layers in a sliding window between global ones. Gemma 2 soft-caps the attention scores
// and the logits; Gemma 3 normalizes Q and K per head and gives its local layers their own
// RoPE base.
import type { Multipliers } from "../kernels/backend.js";
import type { RopeScaling } from "../kernels/rope.js";
import type { GGUFWriteValue } from "../formats/gguf.js";
import type { ArchSpec, TensorSpec } from "./arch.js";
import type { ModelConfig } from "./config.js";
import { ConfigFields, describe } from "./config-fields.js";
import { attentionShape, ggufBlock, HF_GLOBAL, hfShapeFields, ggufShapeKeys, hfLayerTypes, hfNaming, MAX_CONTEXT, optional, vocabFits } from "./family-config.js";
import { ggufRopeScaling, ggufRopeScalingFields, hfRopeScaling, hfRopeScalingFields } from "./rope-config.js";

interface Variant {
  name: "gemma2" | "gemma3";
  hfArchitectures: string[];
  hfModelType: string;
  /** Global layers every this many (the others local): llama.cpp's default pattern. */
  pattern: number;
  /** The 27B's layer count: its queries scale by hidden / heads, not head_dim (llama.cpp's rule for GGUF). */
  layers27b: number;
}

const variants: Variant[] = [
  { name: "gemma2", hfArchitectures: ["Gemma2ForCausalLM"], hfModelType: "gemma2", pattern: 2, layers27b: 46 },
  { name: "gemma3", hfArchitectures: ["Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"], hfModelType: "gemma3_text", pattern: 6, layers27b: 62 },
];

/** Gemma's local/global pattern: layer i is global when (i + 1) % pattern is 0. */
export function gemmaWindows(layers: number, window: number, pattern: number): number[] {
  return Array.from({ length: layers }, (_, i) => ((i + 1) % pattern === 0 ? 0 : window));
}

const HF_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_norm.weight": "attn_q_norm.weight",
  "self_attn.k_norm.weight": "attn_k_norm.weight",
  "post_attention_layernorm.weight": "post_attention_norm.weight",
  "pre_feedforward_layernorm.weight": "ffn_norm.weight",
  "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};
const NAMES = hfNaming(HF_LAYER, HF_GLOBAL);
// Gemma 3's multimodal checkpoints (4B and up) keep the text model under one of these.
const TEXT_PREFIXES = ["language_model.model.", "model.language_model.", "language_model."];

function textName(hf: string): string {
  for (const p of TEXT_PREFIXES) if (hf.startsWith(p)) return hf === "language_model.lm_head.weight" ? "lm_head.weight" : `model.${hf.slice(p.length)}`;
  return hf;
}

function hfActivation(r: ConfigFields): void {
  // HF's Gemma runs the tanh form for "gelu" too (its config note: "gelu" was a misnomer).
  for (const k of ["hidden_activation", "hidden_act"]) {
    const a = r.raw(k);
    if (a === undefined || a === null) continue;
    if (a !== "gelu_pytorch_tanh" && a !== "gelu_tanh" && a !== "gelu") throw r.fail(k, `${describe(a)} is not supported (gelu_pytorch_tanh is)`);
    return;
  }
}

// An absent or null softcap is none; a number is checked.
function softcap(r: ConfigFields, key: string): number | undefined {
  const v = r.raw(key);
  return v === undefined || v === null ? undefined : r.positive(key);
}

function hfWindowsOf(r: ConfigFields, v: Variant, layers: number): number[] | undefined {
  const w = r.raw("sliding_window");
  if (w === undefined || w === null) return v.name === "gemma2" ? gemmaWindows(layers, 4096, 2) : undefined;
  const window = r.int("sliding_window", { min: 1 });
  return hfLayerTypes(r, layers, window) ?? gemmaWindows(layers, window, v.name === "gemma2" ? 2 : r.int("sliding_window_pattern", { min: 1, fallback: v.pattern }));
}

// GGUF: attention.sliding_window_pattern is a count (global every N) or a list of booleans
// (true: local), as llama.cpp reads it; Gemma 3 without a window has none.
function ggufWindowsOf(r: ConfigFields, p: string, v: Variant, layers: number): number[] | undefined {
  const key = p + "attention.sliding_window";
  if (!r.has(key) && v.name === "gemma3") return undefined;
  const window = r.has(key) ? r.int(key, { min: 0 }) : 4096;
  if (window === 0) return undefined;
  const pk = p + "attention.sliding_window_pattern";
  const pat = r.raw(pk);
  if (Array.isArray(pat)) {
    if (pat.length !== layers || !pat.every((x) => typeof x === "boolean")) throw r.fail(pk, `must list a boolean for each of the ${layers} layers`);
    return pat.map((x) => (x ? window : 0));
  }
  return gemmaWindows(layers, window, pat === undefined ? v.pattern : r.int(pk, { min: 1 }));
}

/** Global layers' RoPE from HF's rope_parameters (newer configs) or rope_theta and rope_scaling. */
function hfRope(r: ConfigFields, v: Variant): { theta: number; scaling: RopeScaling | null; local: number | undefined } {
  const params = r.child("rope_parameters");
  const full = params?.child("full_attention") ?? null;
  let theta: number;
  let scaling: RopeScaling | null;
  if (full) {
    theta = full.positive("rope_theta");
    const type = full.raw("rope_type");
    if (type === undefined || type === null || type === "default") scaling = null;
    else if (type === "linear") scaling = { type: "linear", factor: full.positive("factor") };
    else throw full.fail("rope_type", `unsupported ${describe(type)} (default and linear are supported)`);
  } else {
    theta = r.positive("rope_theta", 10000);
    scaling = hfRopeScaling(r);
  }
  if (v.name === "gemma2") return { theta, scaling, local: undefined };
  const sliding = params?.child("sliding_attention") ?? null;
  return { theta, scaling, local: sliding ? sliding.positive("rope_theta") : r.positive("rope_local_base_freq", 10000) };
}

/**
 * Gemma scales queries by query_pre_attn_scalar^-1/2. llama.cpp's GGUF has no key for it
 * and uses head_dim, or hidden / heads for the 27B (told by its layer count).
 */
function ggufQueryScalar(v: Variant, layers: number, hidden: number, heads: number, headDim: number): number {
  return layers === v.layers27b ? hidden / heads : headDim;
}

/** Gemma's scalings as multipliers: the embedding by sqrt(hidden), queries by queryScalar^-1/2 (f32, as llama.cpp computes them). */
export function gemmaMultipliers(hidden: number, queryScalar: number): Multipliers {
  return { embedding: Math.fround(Math.sqrt(hidden)), attention: Math.fround(1 / Math.sqrt(queryScalar)), residual: 1, logit: 1 };
}

function makeSpec(v: Variant): ArchSpec {
  const qkNorm = v.name === "gemma3";
  return {
    name: v.name,
    hfArchitectures: v.hfArchitectures,
    hfNormShift: 1,

    fromHF(j, path, extent) {
      // The multimodal checkpoints nest the text model's config.
      const text = j.text_config !== null && typeof j.text_config === "object" ? (j.text_config as Record<string, unknown>) : null;
      const r = text ? new ConfigFields(path, (k) => text[k], "text_config.") : new ConfigFields(path, (k) => j[k]);
      const a = attentionShape(r, { hidden: "hidden_size", heads: "num_attention_heads", kvHeads: "num_key_value_heads", headDim: ["head_dim"] });
      const vocab = vocabFits(r, "vocab_size", r.int("vocab_size", { min: 1 }), extent);
      hfActivation(r);
      const layers = r.int("num_hidden_layers", { min: 1, max: extent.tensorCount, maxWhy: `the weights hold only ${extent.tensorCount} tensors` });
      const rope = hfRope(r, v);
      // Gemma 3 configs set none, but HF applies one where given.
      const attn = softcap(r, "attn_logit_softcapping");
      const fin = softcap(r, "final_logit_softcapping");
      return {
        arch: v.name,
        vocabSize: vocab,
        hiddenSize: a.hidden,
        intermediateSize: r.int("intermediate_size", { min: 1 }),
        numLayers: layers,
        numHeads: a.heads,
        numKvHeads: a.kvHeads,
        headDim: a.headDim,
        rmsNormEps: r.positive("rms_norm_eps", 1e-6),
        ropeTheta: rope.theta,
        ropeScaling: rope.scaling,
        ropeLayout: "neox",
        maxPositionEmbeddings: r.int("max_position_embeddings", { min: 1, max: MAX_CONTEXT, fallback: 8192 }),
        tieWordEmbeddings: (text ?? j).tie_word_embeddings !== false,
        qkvBias: false,
        qkNorm,
        bosTokenId: r.tokenIds("bos_token_id", vocab)[0] ?? null,
        eosTokenIds: r.tokenIds("eos_token_id", vocab),
        multipliers: gemmaMultipliers(a.hidden, r.positive("query_pre_attn_scalar", a.headDim)),
        activation: "gelu_tanh",
        postNorms: true,
        ...optional("attentionWindows", hfWindowsOf(r, v, layers)),
        ...optional("localRopeTheta", rope.local),
        ...optional("attnSoftcap", attn),
        ...optional("finalSoftcap", fin),
      };
    },

    fromGGUF(m, path, extent) {
      const r = new ConfigFields(path, (k) => m[k]);
      const p = `${v.name}.`;
      const a = attentionShape(r, {
        hidden: p + "embedding_length", heads: p + "attention.head_count", kvHeads: p + "attention.head_count_kv",
        headDim: [p + "attention.key_length"],
      });
      for (const k of [p + "rope.dimension_count", p + "attention.value_length"]) {
        if (r.has(k) && r.int(k, { min: 1 }) !== a.headDim) throw r.fail(k, `${r.number(k)} differs from the head dim ${a.headDim}`);
      }
      const block = ggufBlock(r, p, m, extent, a);
      const layers = block.numLayers;
      const windows = ggufWindowsOf(r, p, v, layers);
      // llama.cpp's defaults: Gemma 2 caps at 50 and 30; Gemma 3 caps nothing unless told.
      const attn = v.name === "gemma2" ? (r.has(p + "attn_logit_softcapping") ? r.positive(p + "attn_logit_softcapping") : 50) : undefined;
      const finKey = p + "final_logit_softcapping";
      const fin = r.has(finKey) ? (r.number(finKey) === 0 ? undefined : r.positive(finKey)) : v.name === "gemma2" ? 30 : undefined;
      const local = v.name === "gemma3" && windows ? (r.has(p + "rope.freq_base_swa") ? r.positive(p + "rope.freq_base_swa") : 10000) : undefined;
      return {
        arch: v.name,
        ...block,
        ropeScaling: ggufRopeScaling(r, p),
        ropeLayout: "neox",
        tieWordEmbeddings: false,
        qkvBias: false,
        qkNorm,
        multipliers: gemmaMultipliers(a.hidden, ggufQueryScalar(v, layers, a.hidden, a.heads, a.headDim)),
        activation: "gelu_tanh",
        postNorms: true,
        ...optional("attentionWindows", windows),
        ...optional("localRopeTheta", local),
        ...optional("attnSoftcap", attn),
        ...optional("finalSoftcap", fin),
      };
    },

    settle(c, names) {
      return { ...c, tieWordEmbeddings: !names.includes("output.weight") };
    },

    toHF(c) {
      const out: Record<string, unknown> = {
        ...hfShapeFields(v.hfArchitectures[0]!, v.hfModelType, c),
        head_dim: c.headDim,
        hidden_activation: "gelu_pytorch_tanh",
        query_pre_attn_scalar: queryScalarOf(c),
        attn_logit_softcapping: c.attnSoftcap ?? null,
        final_logit_softcapping: c.finalSoftcap ?? null,
      };
      if (c.attentionWindows) {
        const w = Math.max(...c.attentionWindows);
        out.sliding_window = w;
        out.layer_types = c.attentionWindows.map((x) => (x > 0 ? "sliding_attention" : "full_attention"));
        if (c.attentionWindows.some((x) => x > 0 && x !== w)) throw new Error(`${v.name}: an HF config holds one sliding window, and this model's layers have several`);
      }
      if (c.localRopeTheta !== undefined) out.rope_local_base_freq = c.localRopeTheta;
      if (c.ropeScaling) out.rope_scaling = hfRopeScalingFields(c.ropeScaling);
      if (c.bosTokenId !== null) out.bos_token_id = c.bosTokenId;
      if (c.eosTokenIds.length > 0) out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
      return out;
    },

    toGGUF(c) {
      const p = v.name;
      const out: Record<string, GGUFWriteValue> = {
        ...ggufShapeKeys(p, c),
        [`${p}.attention.key_length`]: c.headDim,
        [`${p}.attention.value_length`]: c.headDim,
      };
      const q = queryScalarOf(c);
      if (q !== ggufQueryScalar(v, c.numLayers, c.hiddenSize, c.numHeads, c.headDim)) {
        throw new Error(`${p}: GGUF scales queries by head_dim (hidden / heads for the 27B), not by this model's query_pre_attn_scalar ${q}`);
      }
      if (c.attnSoftcap !== undefined) {
        if (v.name === "gemma3") throw new Error(`${p}: llama.cpp's gemma3 reads no attention soft-cap, and this model has one`);
        out[`${p}.attn_logit_softcapping`] = { type: "f32", value: c.attnSoftcap };
      }
      // Gemma 2's reader caps the logits at 30 unless told; 0 says none.
      out[`${p}.final_logit_softcapping`] = { type: "f32", value: c.finalSoftcap ?? 0 };
      if (c.ropeScaling?.type === "linear") Object.assign(out, ggufRopeScalingFields(p, c.ropeScaling));
      else if (c.ropeScaling) throw new Error(`${p}: GGUF holds linear RoPE scaling for this family, not ${c.ropeScaling.type}`);
      if (c.localRopeTheta !== undefined) out[`${p}.rope.freq_base_swa`] = { type: "f32", value: c.localRopeTheta };
      if (c.attentionWindows) {
        const sizes = new Set(c.attentionWindows.filter((x) => x > 0));
        if (sizes.size !== 1) throw new Error(`${p}: GGUF holds one sliding window, and this model's layers have ${sizes.size}`);
        const [w] = sizes;
        const windows = c.attentionWindows;
        const pattern = Array.from({ length: windows.length + 1 }, (_, k) => k + 1).find((n) => gemmaWindows(windows.length, w!, n).every((x, i) => x === windows[i]));
        if (pattern === undefined) throw new Error(`${p}: this model's local and global layers follow no global-every-N pattern, which GGUF holds`);
        out[`${p}.attention.sliding_window`] = w!;
        out[`${p}.attention.sliding_window_pattern`] = { type: "u32", value: pattern };
      } else if (v.name === "gemma2") {
        throw new Error(`${p}: GGUF's gemma2 always has sliding-window layers`);
      }
      return out;
    },

    tensors(c) {
      const h = c.hiddenSize;
      const q = c.numHeads * c.headDim;
      const kv = c.numKvHeads * c.headDim;
      const out: TensorSpec[] = [{ name: "token_embd.weight", shape: [c.vocabSize, h], isVector: false }];
      for (let i = 0; i < c.numLayers; i++) {
        const b = `blk.${i}.`;
        out.push({ name: b + "attn_norm.weight", shape: [h], isVector: true });
        out.push({ name: b + "attn_q.weight", shape: [q, h], isVector: false });
        out.push({ name: b + "attn_k.weight", shape: [kv, h], isVector: false });
        out.push({ name: b + "attn_v.weight", shape: [kv, h], isVector: false });
        if (c.qkNorm) {
          out.push({ name: b + "attn_q_norm.weight", shape: [c.headDim], isVector: true });
          out.push({ name: b + "attn_k_norm.weight", shape: [c.headDim], isVector: true });
        }
        out.push({ name: b + "attn_output.weight", shape: [h, q], isVector: false });
        out.push({ name: b + "post_attention_norm.weight", shape: [h], isVector: true });
        out.push({ name: b + "ffn_norm.weight", shape: [h], isVector: true });
        out.push({ name: b + "ffn_gate.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_up.weight", shape: [c.intermediateSize, h], isVector: false });
        out.push({ name: b + "ffn_down.weight", shape: [h, c.intermediateSize], isVector: false });
        out.push({ name: b + "post_ffw_norm.weight", shape: [h], isVector: true });
      }
      out.push({ name: "output_norm.weight", shape: [h], isVector: true });
      if (!c.tieWordEmbeddings) out.push({ name: "output.weight", shape: [c.vocabSize, h], isVector: false });
      return out;
    },

    internalName: (hf) => NAMES.internalName(textName(hf)),
    hfName: NAMES.hfName,
  };
}

// query_pre_attn_scalar from the attention multiplier (its inverse square root), rounded
// back to the whole number configs give.
function queryScalarOf(c: ModelConfig): number {
  const s = c.multipliers?.attention;
  if (s === undefined) throw new Error(`${c.arch}: no query scale`);
  return Math.round(1 / (s * s));
}

export const gemmaFamily: readonly ArchSpec[] = variants.map(makeSpec);
