// Opens a model from an HF folder or a GGUF file: config, weights (mapped in place),
// tokenizer and chat template, all validated so that a broken file fails here, clearly.
import fs from "node:fs";
import { readGGUFModel } from "../formats/gguf-split.js";
import { readHFDir, isHFDir } from "../formats/hf-dir.js";
import { fieldError, FormatError, quote } from "../formats/errors.js";
import { loadTokenizerJson, tokenizerFromGGUF } from "../tokenizer/load.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { TokenizerSource } from "../tokenizer/source.js";
import { archByHFArchitecture, archByName, knownArchitectures } from "./registry.js";
import type { ModelConfig } from "./config.js";
import { ConfigFields, describe } from "./config-fields.js";
import { generationDefaultsFromGGUF, generationDefaultsFromHF, type GenerationDefaults } from "./generation-defaults.js";
import { checkGGUFTokenCount, checkTokenizerJsonIds, tokenizerError } from "./vocab-fit.js";
import { Weights } from "./weights.js";
import type { TensorInfo } from "../formats/gguf.js";
import type { FileBytes } from "../formats/file-bytes.js";
import { CLASSIFIER_TENSORS, embeddingFromGGUF, embeddingFromHF, type EmbeddingConfig } from "./pooling.js";
import type { WeightTensor } from "../kernels/tensor.js";

export interface LoadedModel {
  readonly path: string;
  readonly format: "hf" | "gguf";
  readonly config: ModelConfig;
  readonly weights: Weights;
  readonly tokenizer: Tokenizer;
  /** Jinja source of the chat template, or null when the model ships none. */
  readonly chatTemplate: string | null;
  /** The sampling defaults the model ships with (generation_config.json, general.sampling.*); {} when none. */
  readonly generationDefaults: GenerationDefaults;
  /** How it embeds and scores texts (pooling.ts). */
  readonly embedding: EmbeddingConfig;
  /**
   * It has no language-model head (an HF sentence-transformers model saved without
   * lm_head): it embeds, and refuses to generate.
   */
  readonly headless: boolean;
  close(): void;
}

export async function loadModel(path: string): Promise<LoadedModel> {
  if (!fs.existsSync(path)) throw new FormatError(path, "no such file or folder");
  if (isHFDir(path)) return loadHF(path);
  if (fs.statSync(path).isDirectory()) throw new FormatError(path, "folder has no config.json (not a Hugging Face model folder)");
  return loadGGUF(path);
}

function chatTemplateOf(cfg: Record<string, unknown> | null): string | null {
  const t = cfg?.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name?: unknown; template?: unknown } => typeof x === "object" && x !== null);
    const d = named.find((x) => x.name === "default") ?? named[0];
    return typeof d?.template === "string" ? d.template : null;
  }
  return null;
}

function uniq(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}

const known = (): string => knownArchitectures().join(", ");

async function loadHF(dir: string): Promise<LoadedModel> {
  const hf = readHFDir(dir);
  const weights = new Weights();
  try {
    const configPath = `${dir}/config.json`;
    const archs = Array.isArray(hf.config.architectures) ? hf.config.architectures : [];
    const spec = archs.map((a) => (typeof a === "string" ? archByHFArchitecture(a) : undefined)).find((s) => s !== undefined);
    if (!spec) {
      const named = archs.map((a) => (typeof a === "string" ? quote(a, 40) : describe(a))).join(", ") || "(none given)";
      throw fieldError(configPath, "architectures", `unknown architecture ${named} (supported: ${known()})`);
    }
    // Some embedding models are saved as the bare backbone (Qwen3-Embedding: `layers.0...`,
    // `embed_tokens.weight`, `norm.weight`), without the causal LM's `model.` prefix.
    const all = hf.shards.flatMap((sh) => [...sh.tensors.keys()]);
    const bare = !all.some((n) => n.startsWith("model.")) && all.some((n) => n.startsWith("layers."));
    const hfNameOf = (n: string): string => (bare && n !== "lm_head.weight" ? `model.${n}` : n);
    const embedding = embeddingFromHF(dir, hf.config);
    // Experts' matrices (`name@e`) are stacked into one tensor per name.
    const stacks = new Map<string, { e: number; info: TensorInfo; file: FileBytes; path: string }[]>();
    for (const shard of hf.shards) {
      for (const [name, info] of shard.tensors) {
        const internal = spec.internalName(hfNameOf(name));
        if (!internal) continue;
        const at = internal.indexOf("@");
        if (at >= 0) {
          const base = internal.slice(0, at);
          if (!stacks.has(base)) stacks.set(base, []);
          stacks.get(base)!.push({ e: Number(internal.slice(at + 1)), info, file: shard.bytes, path: shard.path });
          continue;
        }
        if (weights.has(internal)) throw fieldError(shard.path, `tensor ${quote(name)}`, "another shard holds it too");
        weights.add(internal, info, shard.bytes);
      }
    }
    for (const [base, parts] of stacks) {
      parts.sort((a, b) => a.e - b.e);
      parts.forEach((p, i) => {
        const same = p.info.type === parts[0]!.info.type && p.info.shape.length === parts[0]!.info.shape.length && p.info.shape.every((d, k) => d === parts[0]!.info.shape[k]);
        if (p.e !== i || !same) throw fieldError(p.path, `tensor ${quote(p.info.name)}`, p.e !== i ? `expert ${i} of ${base} is missing or given twice` : "its type or shape differs from expert 0's");
      });
      weights.addStack(base, parts);
    }
    const tensorCount = hf.shards.reduce((n, s) => n + s.tensors.size, 0);
    let config = spec.fromHF(hf.config, configPath, { tensorCount, shapeOf: (n) => weights.shapeOf(n) });
    // An untied model without its output matrix would run on the embedding instead; a
    // sentence-transformers model saved without one (Qwen3-Embedding-8B) is headless: it embeds.
    const headless = hf.config.tie_word_embeddings === false && !weights.has("output.weight") && embedding.pooling.declared;
    if (hf.config.tie_word_embeddings === false && !weights.has("output.weight") && !headless) {
      throw fieldError(dir, `tensor ${quote(spec.hfName("output.weight"))}`, "missing (config.json says tie_word_embeddings: false)");
    }
    for (const t of spec.hfConfigTensors?.(config) ?? []) weights.addVector(t.name, t.data);
    config = spec.settle(config, weights.names());
    weights.check(spec.tensors(config), { path: dir, fileName: (n) => spec.hfName(n), configName: "config.json", onlyKnown: false });
    if (spec.hfNormShift) for (const n of weights.names()) if (/norm\.weight$/.test(n)) weights.shift(n, spec.hfNormShift);
    const tokenizerPath = `${dir}/tokenizer.json`;
    if (!hf.tokenizerJson) throw new FormatError(dir, "no tokenizer.json in the model folder");
    checkTokenizerJsonIds(hf.tokenizerJson, config.vocabSize, tokenizerPath, "vocab_size in config.json");
    let tokenizer: Tokenizer;
    try {
      tokenizer = loadTokenizerJson(hf.tokenizerJson, hf.tokenizerConfig ?? undefined, { source: tokenizerPath });
    } catch (err) {
      throw tokenizerError(err, tokenizerPath);
    }
    const gen = hf.generationConfig;
    const genPath = `${dir}/generation_config.json`;
    const genEos = gen ? new ConfigFields(genPath, (k) => gen[k]).tokenIds("eos_token_id", config.vocabSize) : [];
    const eos = uniq([...genEos, ...config.eosTokenIds, ...tokenizer.eosIds]);
    config = { ...config, eosTokenIds: eos, bosTokenId: config.bosTokenId ?? tokenizer.bosId ?? null };
    return {
      path: dir, format: "hf", config, weights, tokenizer,
      chatTemplate: chatTemplateOf(hf.tokenizerConfig),
      generationDefaults: gen ? generationDefaultsFromHF(gen, genPath) : {},
      embedding, headless,
      close: () => weights.close(),
    };
  } catch (err) {
    weights.close();
    for (const s of hf.shards) s.bytes.close();
    throw err;
  }
}

async function loadGGUF(file: string): Promise<LoadedModel> {
  // A split model is opened from any of its parts and named by its first.
  const f = await readGGUFModel(file);
  const path = f.path;
  try {
    if (f.tensorCount === 0) {
      throw new FormatError(path, "the file holds no tensors (a vocabulary-only GGUF is a tokenizer, not a runnable model)");
    }
    const arch = f.metadata["general.architecture"];
    const spec = typeof arch === "string" ? archByName(arch) : undefined;
    if (!spec) {
      const named = arch === undefined ? "(none given)" : describe(arch);
      throw fieldError(path, "general.architecture", `unknown architecture ${named} (supported: ${known()})`);
    }
    const weights = new Weights();
    // A reranker's classifier head is read here, not by the forward pass.
    const heads = new Weights();
    for (const part of f.parts) for (const [name, info] of part.tensors) (CLASSIFIER_TENSORS.has(name) ? heads : weights).add(name, info, part.bytes);
    let config = spec.fromGGUF(f.metadata, path, { tensorCount: f.tensorCount - heads.size, shapeOf: (n) => weights.shapeOf(n) });
    const head = (n: string): WeightTensor | undefined => (heads.has(n) ? heads.get(n) : undefined);
    const embedding = embeddingFromGGUF(f.metadata, arch as string, path, head, config.hiddenSize);
    config = spec.settle(config, weights.names());
    weights.check(spec.tensors(config), { path, fileName: (n) => n, configName: "the GGUF metadata", onlyKnown: true });
    checkGGUFTokenCount(f.metadata, config.vocabSize, path);
    let tokenizer: Tokenizer;
    try {
      tokenizer = tokenizerFromGGUF(f.metadata, { source: path });
    } catch (err) {
      throw tokenizerError(err, path);
    }
    if (tokenizer.vocabSize > config.vocabSize) {
      throw fieldError(path, "tokenizer", `token id ${tokenizer.vocabSize - 1} is beyond token_embd.weight's ${config.vocabSize} rows`);
    }
    config = { ...config, eosTokenIds: uniq([...config.eosTokenIds, ...tokenizer.eosIds]) };
    const tmpl = f.metadata["tokenizer.chat_template"];
    return {
      path, format: "gguf", config, weights, tokenizer,
      chatTemplate: typeof tmpl === "string" ? tmpl : null,
      generationDefaults: generationDefaultsFromGGUF(f.metadata, path),
      embedding, headless: false,
      // f.close() too: a part that holds no tensors (gguf-split --no-tensor-first-split) is not in weights.
      close: () => {
        weights.close();
        f.close();
      },
    };
  } catch (err) {
    f.close();
    throw err;
  }
}

/** How a worker thread gets the model's tokenizer: from the model's file when it is still there (nothing large is copied). */
export function tokenizerSource(model: LoadedModel): TokenizerSource {
  if (fs.existsSync(model.path)) return { kind: "file", path: model.path };
  if (model.format === "gguf") return { kind: "gguf", metadata: model.tokenizer.toGGUFMetadata() };
  return { kind: "json", ...model.tokenizer.toTokenizerJson() };
}
