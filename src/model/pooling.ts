// How a model turns a text into one vector (embeddings) or a relevance score (rerankers),
// as its files declare it:
// - GGUF: `{arch}.pooling_type` (1 mean, 2 cls, 3 last, 4 rank), a rank model's classifier
//   head `cls.output.weight` (labels x hidden, `{arch}.classifier.output_labels`) and its
//   prompt in `tokenizer.chat_template.rerank` (llama.cpp's conversion of Qwen3-Reranker);
// - HF: sentence-transformers' modules.json, with its Pooling module's config.json
//   (pooling_mode_lasttoken / mean_tokens / cls_token) and a Normalize module.
// A plain causal LM declares nothing; it then embeds as vLLM embeds decoder models: the last
// token's hidden state, normalized.
import fs from "node:fs";
import path from "node:path";
import { fieldError } from "../formats/errors.js";
import { readJsonFile } from "../formats/hf-dir.js";
import type { WeightTensor } from "../kernels/tensor.js";
import { embeddingRow } from "../kernels/reference-ops.js";

export type PoolingType = "last" | "mean" | "cls";

export interface Pooling {
  readonly type: PoolingType;
  /** The vector is scaled to length 1 (sentence-transformers' Normalize, llama.cpp's default). */
  readonly normalize: boolean;
  /** The files declared it (else the default for a causal LM). */
  readonly declared: boolean;
}

/** A reranker's head over the pooled hidden state: label scores = rows . h + bias. */
export interface Classifier {
  readonly labels: readonly string[];
  /** One row of hiddenSize per label. */
  readonly rows: readonly Float32Array[];
  readonly bias: Float32Array | null;
}

export interface EmbeddingConfig {
  readonly pooling: Pooling;
  /** Why the files' pooling cannot be served (a Dense layer, max pooling); null when it can. */
  readonly problem: string | null;
  /** A rank model's classifier head (GGUF pooling_type 4); null otherwise. */
  readonly classifier: Classifier | null;
  /** A rank model's prompt with {query} and {document} (GGUF tokenizer.chat_template.rerank); null: none. */
  readonly rerankTemplate: string | null;
  /**
   * Its vectors keep their meaning cut to their first components (Matryoshka training), as
   * config.json's is_matryoshka or matryoshka_dimensions say (vLLM's test): `dimensions` is allowed.
   */
  readonly matryoshka: boolean;
}

export const DEFAULT_EMBEDDING: EmbeddingConfig = {
  pooling: { type: "last", normalize: true, declared: false }, problem: null, classifier: null, rerankTemplate: null, matryoshka: false,
};

const GGUF_POOLING: Readonly<Record<number, PoolingType>> = { 1: "mean", 2: "cls", 3: "last", 4: "last" };

/** The tensors of a GGUF classifier head, which the forward pass does not read. */
export const CLASSIFIER_TENSORS: ReadonlySet<string> = new Set(["cls.output.weight", "cls.output.bias", "cls.weight", "cls.bias"]);

/**
 * A GGUF's pooling, from its metadata; `head(name)` gives a classifier tensor the file holds
 * (or undefined). A rank model without its head is refused here, naming the tensor.
 */
export function embeddingFromGGUF(meta: Readonly<Record<string, unknown>>, arch: string, file: string,
  head: (name: string) => WeightTensor | undefined, hidden: number): EmbeddingConfig {
  const key = `${arch}.pooling_type`;
  const raw = meta[key];
  const template = typeof meta["tokenizer.chat_template.rerank"] === "string" ? meta["tokenizer.chat_template.rerank"] as string : null;
  if (raw === undefined || raw === 0 || raw === -1) return { ...DEFAULT_EMBEDDING, rerankTemplate: template };
  const type = typeof raw === "number" ? GGUF_POOLING[raw] : undefined;
  if (!type) throw fieldError(file, key, `unknown pooling type ${String(raw)} (known: 0 none, 1 mean, 2 cls, 3 last, 4 rank)`);
  const pooling: Pooling = { type, normalize: true, declared: true };
  if (raw !== 4) return { ...DEFAULT_EMBEDDING, pooling, rerankTemplate: template };
  const w = head("cls.output.weight") ?? head("cls.weight");
  if (!w) throw fieldError(file, "tensor \"cls.output.weight\"", "missing (the file says pooling_type 4, a reranker, which needs its classifier head)");
  if (w.shape.length !== 2 || w.shape[1] !== hidden || w.shape[0]! < 1 || w.shape[0]! > 64) {
    throw fieldError(file, "tensor \"cls.output.weight\"", `shape [${w.shape.join(", ")}] is not [labels, ${hidden}]`);
  }
  const rows = Array.from({ length: w.shape[0]! }, (_, i) => {
    const r = new Float32Array(hidden);
    embeddingRow(r, w, i);
    return r;
  });
  const b = head("cls.output.bias") ?? head("cls.bias");
  let bias: Float32Array | null = null;
  if (b) {
    if (b.shape.length !== 1 || b.shape[0] !== rows.length) throw fieldError(file, "tensor \"cls.output.bias\"", `shape [${b.shape.join(", ")}] is not [${rows.length}]`);
    bias = new Float32Array(rows.length);
    embeddingRow(bias, { ...b, shape: [1, rows.length] }, 0);
  }
  const given = meta[`${arch}.classifier.output_labels`];
  const labels = Array.isArray(given) && given.length === rows.length && given.every((l) => typeof l === "string")
    ? given as string[] : rows.map((_, i) => `LABEL_${i}`);
  return { ...DEFAULT_EMBEDDING, pooling, classifier: { labels, rows, bias }, rerankTemplate: template };
}

interface StModule {
  readonly type: string;
  readonly path: string;
}

/** Most bytes of a sentence-transformers JSON file read (they are a few hundred). */
const MAX_JSON_BYTES = 1 << 20;

function smallJson(file: string): Record<string, unknown> {
  if (fs.statSync(file).size > MAX_JSON_BYTES) throw fieldError(file, "size", `larger than ${MAX_JSON_BYTES} bytes`);
  return readJsonFile(file);
}

/** An HF folder's pooling, from sentence-transformers' modules.json (the default when there is none), and config.json's Matryoshka fields. */
export function embeddingFromHF(dir: string, config: Readonly<Record<string, unknown>>): EmbeddingConfig {
  const matryoshka = config.is_matryoshka === true || (Array.isArray(config.matryoshka_dimensions) && config.matryoshka_dimensions.length > 0);
  return { ...stPooling(dir), matryoshka };
}

function stPooling(dir: string): EmbeddingConfig {
  const file = path.join(dir, "modules.json");
  if (!fs.existsSync(file)) return DEFAULT_EMBEDDING;
  if (fs.statSync(file).size > MAX_JSON_BYTES) throw fieldError(file, "size", `larger than ${MAX_JSON_BYTES} bytes`);
  let list: unknown;
  try {
    list = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    throw fieldError(file, "modules", "not valid JSON");
  }
  if (!Array.isArray(list)) throw fieldError(file, "modules", "expected a list of modules");
  const modules: StModule[] = list.map((m, i) => {
    const o = (typeof m === "object" && m !== null ? m : {}) as Record<string, unknown>;
    if (typeof o.type !== "string" || typeof o.path !== "string") throw fieldError(file, `[${i}]`, "a module needs a type and a path");
    return { type: o.type, path: o.path };
  });
  const kind = (m: StModule): string => m.type.split(".").pop()!;
  const poolModule = modules.find((m) => kind(m) === "Pooling");
  const normalize = modules.some((m) => kind(m) === "Normalize");
  const other = modules.find((m) => !["Transformer", "Pooling", "Normalize"].includes(kind(m)));
  const problem = other ? `its sentence-transformers module ${kind(other)} (${other.path}) is not supported` : null;
  if (!poolModule) return { ...DEFAULT_EMBEDDING, pooling: { type: "last", normalize, declared: true }, problem: problem ?? "modules.json has no Pooling module" };
  // The module's folder comes with the model; never let it point outside it.
  if (poolModule.path.includes("..") || path.isAbsolute(poolModule.path)) throw fieldError(file, "Pooling.path", `${poolModule.path} is not a folder inside the model`);
  const cfgFile = path.join(dir, poolModule.path, "config.json");
  const cfg = fs.existsSync(cfgFile) ? smallJson(cfgFile) : {};
  const modes: [string, PoolingType | null][] = [
    ["pooling_mode_lasttoken", "last"], ["pooling_mode_mean_tokens", "mean"], ["pooling_mode_cls_token", "cls"],
    ["pooling_mode_max_tokens", null], ["pooling_mode_mean_sqrt_len_tokens", null], ["pooling_mode_weightedmean_tokens", null],
  ];
  const on = modes.filter(([k]) => cfg[k] === true);
  if (on.length !== 1 || on[0]![1] === null) {
    const named = on.map(([k]) => k).join(" + ") || "none";
    return { ...DEFAULT_EMBEDDING, pooling: { type: "last", normalize, declared: true }, problem: `its pooling (${named}) is not supported (last token, mean or CLS)` };
  }
  return { ...DEFAULT_EMBEDDING, pooling: { type: on[0]![1]!, normalize, declared: true }, problem };
}
