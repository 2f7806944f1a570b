// What every family's config reading shares: the attention shape, the vocab check, optional
// fields, and sliding windows as HF configs and GGUF metadata spell them.
import type { WeightsExtent } from "./arch.js";
import type { ModelConfig } from "./config.js";
import type { GGUFWriteValue } from "../formats/gguf.js";
import { ConfigFields, describe } from "./config-fields.js";

/** The attention shape: heads divide into KV groups, head_dim is even (RoPE rotates pairs). */
export function attentionShape(r: ConfigFields, keys: { hidden: string; heads: string; kvHeads: string; headDim: string[] }): { heads: number; kvHeads: number; headDim: number; hidden: number } {
  const hidden = r.int(keys.hidden, { min: 1 });
  const heads = r.int(keys.heads, { min: 1, max: hidden, maxWhy: `${keys.hidden} is ${hidden}` });
  const given = keys.headDim.find((k) => r.has(k));
  let headDim: number;
  if (given !== undefined) {
    headDim = r.int(given, { min: 2 });
  } else {
    if (hidden % heads !== 0) throw r.fail(keys.heads, `${heads} heads do not divide ${keys.hidden} (${hidden}), and no ${keys.headDim[0]} is given`);
    headDim = hidden / heads;
  }
  if (headDim % 2 !== 0) throw r.fail(given ?? keys.heads, `head dim ${headDim} is odd (RoPE rotates pairs of dimensions)`);
  const kvHeads = r.int(keys.kvHeads, { min: 1, fallback: heads });
  if (heads % kvHeads !== 0) throw r.fail(keys.kvHeads, `${kvHeads} does not divide ${keys.heads} (${heads})`);
  return { heads, kvHeads, headDim, hidden };
}

/**
 * Per-layer sliding windows from an HF config: `layer_types` where given ("sliding_attention"
 * layers take `sliding_window`), else `sliding_window` on every layer (Mistral) or, for Qwen2,
 * on the layers from max_window_layers on; none when use_sliding_window is false. Absent
 * when no layer has one.
 */
export function hfWindows(r: ConfigFields, layers: number, fromLayer = 0): number[] | undefined {
  const w = r.raw("sliding_window");
  if (r.raw("use_sliding_window") === false || w === undefined || w === null || w === 0) return undefined;
  const window = r.int("sliding_window", { min: 1 });
  return hfLayerTypes(r, layers, window) ?? Array.from({ length: layers }, (_, i) => (i >= fromLayer ? window : 0));
}

/** `layer_types` as windows ("sliding_attention" layers take `window`), or undefined when the config has none. */
export function hfLayerTypes(r: ConfigFields, layers: number, window: number): number[] | undefined {
  const types = r.raw("layer_types");
  if (types === undefined || types === null) return undefined;
  if (!Array.isArray(types) || types.length !== layers || !types.every((t) => t === "sliding_attention" || t === "full_attention")) {
    throw r.fail("layer_types", `must name sliding_attention or full_attention for each of the ${layers} layers, got ${describe(types)}`);
  }
  return types.map((t) => (t === "sliding_attention" ? window : 0));
}

/** The keys of a block's shape every family's GGUF writes under its prefix `p`. */
export function ggufShapeKeys(p: string, c: ModelConfig): Record<string, GGUFWriteValue> {
  return {
    "general.architecture": p,
    [`${p}.vocab_size`]: c.vocabSize,
    [`${p}.context_length`]: c.maxPositionEmbeddings,
    [`${p}.embedding_length`]: c.hiddenSize,
    [`${p}.feed_forward_length`]: c.intermediateSize,
    [`${p}.block_count`]: c.numLayers,
    [`${p}.attention.head_count`]: c.numHeads,
    [`${p}.attention.head_count_kv`]: c.numKvHeads,
    [`${p}.rope.freq_base`]: { type: "f32", value: c.ropeTheta },
    [`${p}.attention.layer_norm_rms_epsilon`]: { type: "f32", value: c.rmsNormEps },
  };
}

/** HF's form of per-layer windows: one sliding_window, and layer_types where some layers have none. */
export function hfWindowFields(windows: readonly number[]): Record<string, unknown> {
  const sizes = new Set(windows.filter((w) => w > 0));
  if (sizes.size > 1) throw new Error(`an HF config holds one sliding window, and this model's layers have ${sizes.size}`);
  const [window] = sizes;
  if (window === undefined) return {};
  if (uniformWindow(windows) !== null) return { sliding_window: window };
  return { sliding_window: window, layer_types: windows.map((w) => (w > 0 ? "sliding_attention" : "full_attention")) };
}

// GGUF's attention.sliding_window, on every layer; 0 says none (llama.cpp's converter writes it so).
export function ggufWindows(r: ConfigFields, key: string, layers: number): number[] | undefined {
  const w = r.raw(key);
  if (w === undefined || w === null || w === 0 || w === 0n) return undefined;
  return new Array<number>(layers).fill(r.int(key, { min: 1 }));
}

/** The one window every layer has, or null when layers differ. */
export function uniformWindow(windows: readonly number[]): number | null {
  return windows.every((w) => w === windows[0]) ? windows[0]! : null;
}

/** `{ [key]: value }` where value is defined, else nothing: for optional config fields. */
export function optional<K extends string, T>(key: K, value: T | undefined): { [k in K]?: T } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]?: T });
}

/** Positions are int32 throughout the engine. */
export const MAX_CONTEXT = 0x7fffffff;

/**
 * The vocab size is the embedding's row count. Checked here, before token ids are checked
 * against it, so a wrong vocab size is reported as such and not as an id out of range.
 */
export function vocabFits(r: ConfigFields, key: string, vocab: number, extent: WeightsExtent): number {
  const rows = extent.shapeOf("token_embd.weight")?.[0];
  if (rows !== undefined && rows !== vocab) throw r.fail(key, `${vocab} tokens, but the token embedding has ${rows} rows`);
  if (vocab < 1) throw r.fail(key, "the vocabulary is empty");
  return vocab;
}

/**
 * HF tensor names to internal (GGUF-style) ones and back, from a family's table of per-layer
 * names (after "model.layers.N.") and of global ones; `more` maps per-layer names the tables
 * do not hold (experts).
 */
export function hfNaming(layer: Readonly<Record<string, string>>, global: Readonly<Record<string, string>>, more?: {
  internal(rest: string): string | null;
  hf(rest: string): string | null;
}): { internalName(hf: string): string | null; hfName(internal: string): string } {
  const internalLayer = Object.fromEntries(Object.entries(layer).map(([a, b]) => [b, a]));
  const internalGlobal = Object.fromEntries(Object.entries(global).map(([a, b]) => [b, a]));
  return {
    internalName(hf) {
      const g = global[hf];
      if (g) return g;
      const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
      if (!m) return null;
      const rest = layer[m[2]!] ?? more?.internal(m[2]!) ?? null;
      return rest ? `blk.${m[1]}.${rest}` : null;
    },
    hfName(internal) {
      const g = internalGlobal[internal];
      if (g) return g;
      const m = /^blk\.(\d+)\.(.+)$/.exec(internal);
      const rest = m ? internalLayer[m[2]!] ?? more?.hf(m[2]!) ?? null : null;
      if (!m || !rest) throw new Error(`no HF name for tensor ${internal}`);
      return `model.layers.${m[1]}.${rest}`;
    },
  };
}

/**
 * What every family's GGUF says alike: the vocab (vocab_size, or the tokenizer's token count),
 * the block's shape, its norm epsilon and RoPE base (required and defaulted as llama.cpp
 * does), the context, and the special tokens.
 */
export function ggufBlock(r: ConfigFields, p: string, m: Readonly<Record<string, unknown>>, extent: WeightsExtent, a: { hidden: number; heads: number; kvHeads: number; headDim: number }): Pick<ModelConfig,
  "vocabSize" | "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads" | "numKvHeads" | "headDim" | "rmsNormEps" | "ropeTheta" | "maxPositionEmbeddings" | "bosTokenId" | "eosTokenIds"> {
  const tokens = m["tokenizer.ggml.tokens"];
  const vocabKey = r.has(p + "vocab_size") || !Array.isArray(tokens) ? p + "vocab_size" : "tokenizer.ggml.tokens";
  const vocab = vocabFits(r, vocabKey, vocabKey === "tokenizer.ggml.tokens" ? (tokens as unknown[]).length : r.int(vocabKey, { min: 1 }), extent);
  return {
    vocabSize: vocab,
    hiddenSize: a.hidden,
    intermediateSize: r.int(p + "feed_forward_length", { min: 1 }),
    numLayers: r.int(p + "block_count", { min: 1, max: extent.tensorCount, maxWhy: `the file holds only ${extent.tensorCount} tensors` }),
    numHeads: a.heads,
    numKvHeads: a.kvHeads,
    headDim: a.headDim,
    // Required, as llama.cpp requires it: a default would silently change the model.
    rmsNormEps: r.positive(p + "attention.layer_norm_rms_epsilon"),
    ropeTheta: r.positive(p + "rope.freq_base", 10000),
    maxPositionEmbeddings: r.int(p + "context_length", { min: 1, max: MAX_CONTEXT }),
    bosTokenId: r.tokenIds("tokenizer.ggml.bos_token_id", vocab)[0] ?? null,
    eosTokenIds: [...r.tokenIds("tokenizer.ggml.eos_token_id", vocab), ...r.tokenIds("tokenizer.ggml.eot_token_id", vocab)],
  };
}

/** HF's names of the tensors outside the layers, shared by every family here. */
export const HF_GLOBAL: Readonly<Record<string, string>> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

/** The fields of a block's shape every family's HF config.json has, for `architecture` and `modelType`. */
export function hfShapeFields(architecture: string, modelType: string, c: ModelConfig): Record<string, unknown> {
  return {
    architectures: [architecture],
    model_type: modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: "float32",
  };
}
