// Loaders of the Tokenizer: a tokenizer.json is read as is; a GGUF vocabulary is first
// written as the equivalent tokenizer.json (gguf-vocab.ts), so both go through the same code
// (HFTokenizer) and give the same ids.
import fs from "node:fs";
import path from "node:path";
import { HFTokenizer } from "./hf-tokenizer.js";
import { tokenizerFromGGUF } from "./gguf-vocab.js";
import type { Tokenizer } from "./tokenizer.js";
import { isGGUFFile, readGGUFMetadata } from "../formats/gguf.js";

export { tokenizerFromGGUF };

export interface LoadOptions {
  /** Names the origin in error messages (default "tokenizer.json"). */
  source?: string;
  /** More end-of-generation ids, e.g. generation_config.json's eos_token_id. */
  extraEosIds?: readonly number[];
}

/** A tokenizer from a parsed tokenizer.json (and tokenizer_config.json, when there is one). */
export function loadTokenizerJson(tokenizerJson: object, tokenizerConfig: object = {}, options: LoadOptions = {}): Tokenizer {
  return new HFTokenizer(tokenizerJson, tokenizerConfig, {
    source: options.source ?? "tokenizer.json",
    extraEosIds: options.extraEosIds,
  });
}

/**
 * A tokenizer from a file: a tokenizer.json (its tokenizer_config.json beside it is read too), a
 * Hugging Face model folder, or a GGUF file (a full model or a vocabulary-only file).
 */
export async function loadTokenizerFile(file: string): Promise<Tokenizer> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new Error(`${file}: no such file or folder`);
  }
  if (stat.isDirectory()) {
    const json = path.join(file, "tokenizer.json");
    if (!fs.existsSync(json)) {
      const ggufs = fs.readdirSync(file).filter((f) => f.endsWith(".gguf"));
      if (ggufs.length === 1) return loadTokenizerFile(path.join(file, ggufs[0]));
      throw new Error(`${file}: no tokenizer.json in this folder`);
    }
    return loadJsonFile(json);
  }
  if (isGGUFFile(file)) return tokenizerFromGGUF(await readGGUFMetadata(file), { source: file });
  return loadJsonFile(file);
}

function loadJsonFile(file: string): Tokenizer {
  const dir = path.dirname(file);
  const tokenizer = readJson(file);
  const configPath = path.join(dir, "tokenizer_config.json");
  const config = fs.existsSync(configPath) ? readJson(configPath) : {};
  const genPath = path.join(dir, "generation_config.json");
  const extraEosIds: number[] = [];
  if (fs.existsSync(genPath)) {
    const eos = readJson(genPath).eos_token_id;
    for (const id of Array.isArray(eos) ? eos : [eos]) if (Number.isInteger(id)) extraEosIds.push(id as number);
  }
  return loadTokenizerJson(tokenizer, config, { source: file, extraEosIds });
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}
