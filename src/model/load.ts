// Opens a model from an HF folder or a GGUF file: config, weights (mapped in place),
// tokenizer and chat template, all validated so that a broken file fails here, clearly.
import fs from "node:fs";
import { readGGUF } from "../formats/gguf.js";
import { readHFDir, isHFDir } from "../formats/hf-dir.js";
import { FormatError } from "../formats/errors.js";
import { loadTokenizerJson, tokenizerFromGGUF } from "../tokenizer/load.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { archByHFArchitecture, archByName, knownArchitectures } from "./registry.js";
import type { ModelConfig } from "./config.js";
import { Weights } from "./weights.js";

export interface LoadedModel {
  readonly path: string;
  readonly format: "hf" | "gguf";
  readonly config: ModelConfig;
  readonly weights: Weights;
  readonly tokenizer: Tokenizer;
  /** Jinja source of the chat template, or null when the model ships none. */
  readonly chatTemplate: string | null;
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
    const named = t as { name?: unknown; template?: unknown }[];
    const d = named.find((x) => x.name === "default") ?? named[0];
    return typeof d?.template === "string" ? d.template : null;
  }
  return null;
}

function uniq(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}

async function loadHF(dir: string): Promise<LoadedModel> {
  const hf = readHFDir(dir);
  const archs = Array.isArray(hf.config.architectures) ? hf.config.architectures.map(String) : [];
  const spec = archs.map(archByHFArchitecture).find((s) => s !== undefined);
  if (!spec) {
    throw new FormatError(`${dir}/config.json`, `unknown architecture ${archs.join(", ") || "(none given)"} (supported: ${knownArchitectures().join(", ")})`);
  }
  let config = spec.fromHF(hf.config, `${dir}/config.json`);
  const weights = new Weights();
  for (const shard of hf.shards) {
    for (const [name, info] of shard.tensors) {
      const internal = spec.internalName(name);
      if (internal) weights.add(internal, info, shard.bytes);
    }
  }
  if (!weights.has("output.weight") && !config.tieWordEmbeddings) config = { ...config, tieWordEmbeddings: true };
  weights.check(spec.tensors(config), dir);
  if (!hf.tokenizerJson) throw new FormatError(dir, "no tokenizer.json in the model folder");
  let tokenizer: Tokenizer;
  try {
    tokenizer = loadTokenizerJson(hf.tokenizerJson, hf.tokenizerConfig ?? undefined);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`${dir}/tokenizer.json`, err instanceof Error ? err.message : String(err));
  }
  const genEos = hf.generationConfig?.eos_token_id;
  const eos = uniq([
    ...(Array.isArray(genEos) ? genEos.map(Number) : typeof genEos === "number" ? [genEos] : []),
    ...config.eosTokenIds,
    ...tokenizer.eosIds,
  ]);
  config = { ...config, eosTokenIds: eos, bosTokenId: config.bosTokenId ?? tokenizer.bosId ?? null };
  return {
    path: dir, format: "hf", config, weights, tokenizer,
    chatTemplate: chatTemplateOf(hf.tokenizerConfig),
    close: () => weights.close(),
  };
}

async function loadGGUF(path: string): Promise<LoadedModel> {
  const f = await readGGUF(path);
  if (f.tensors.size === 0) {
    f.bytes.close();
    throw new FormatError(path, "the file holds no tensors (a vocabulary-only GGUF is a tokenizer, not a runnable model)");
  }
  const archName = String(f.metadata["general.architecture"] ?? "");
  const spec = archByName(archName);
  if (!spec) {
    f.bytes.close();
    throw new FormatError(path, `unknown architecture ${archName || "(none given)"} (supported: ${knownArchitectures().join(", ")})`);
  }
  let config = spec.fromGGUF(f.metadata, path);
  const weights = new Weights();
  for (const [name, info] of f.tensors) weights.add(name, info, f.bytes);
  config = { ...config, tieWordEmbeddings: !weights.has("output.weight") };
  try {
    weights.check(spec.tensors(config), path);
  } catch (err) {
    weights.close();
    throw err;
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromGGUF(f.metadata);
  } catch (err) {
    weights.close();
    if (err instanceof FormatError) throw err;
    throw new FormatError(path, `bad tokenizer metadata: ${err instanceof Error ? err.message : String(err)}`);
  }
  config = { ...config, eosTokenIds: uniq([...config.eosTokenIds, ...tokenizer.eosIds]) };
  const tmpl = f.metadata["tokenizer.chat_template"];
  return {
    path, format: "gguf", config, weights, tokenizer,
    chatTemplate: typeof tmpl === "string" ? tmpl : null,
    close: () => weights.close(),
  };
}
