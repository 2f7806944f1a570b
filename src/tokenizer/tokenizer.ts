// The Tokenizer interface and its loaders. One implementation (HFTokenizer) serves both formats:
// a tokenizer.json is read as is; a GGUF vocabulary is first written as the equivalent
// tokenizer.json (gguf-vocab.ts), so both go through the same code and give the same ids.
import fs from "node:fs";
import path from "node:path";
import { HFTokenizer } from "./hf-tokenizer.js";
import { tokenizerFromGGUF } from "./gguf-vocab.js";
import { isGGUFFile, readGGUFMetadata } from "../formats/gguf.js";

export interface EncodeOptions {
  /** Add the tokens the model wants around a sequence (BOS, and EOS where the model adds one). Default false. */
  addSpecial?: boolean;
  /**
   * Recognise special tokens (control tokens such as <|im_start|>, <s>) written in the text.
   * Default false: they are tokenized as plain text. Non-special added tokens (user-defined
   * tokens such as Qwen's <think>) are always recognised, as in HF tokenizers and llama.cpp.
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens. Default false. */
  skipSpecial?: boolean;
}

/** A tokenizer.json + tokenizer_config.json pair, as plain JSON objects. */
export interface TokenizerJsonPair {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

export type GGUFMetadataValue = string | number | boolean | string[] | number[];
/** GGUF `tokenizer.*` keys. Arrays: tokens string[], scores float32, token_type int32, merges string[]. */
export type GGUFTokenizerMetadata = Record<string, GGUFMetadataValue>;

export interface Tokenizer {
  /** Number of token ids (highest id + 1); may be below the model's embedding rows. */
  readonly vocabSize: number;
  readonly bosId?: number;
  /** Ids that end generation: EOS, and end-of-turn tokens such as <|im_end|> or <|eot_id|>. */
  readonly eosIds: readonly number[];
  /** Whether encode(..., {addSpecial: true}) puts a BOS token first. */
  readonly addBos: boolean;
  /** Whether encode(..., {addSpecial: true}) puts an EOS token last. */
  readonly addEos: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  isSpecial(id: number): boolean;
  /** The exact bytes the token stands for (byte-level and <0xNN> tokens decoded, "▁" as a space). */
  tokenBytes(id: number): Uint8Array;
  /**
   * The bytes the token adds to decode() output: tokenBytes, except that the first token of a
   * decoded sequence may lose the leading space its encoder added (SentencePiece's "▁").
   */
  pieceBytes(id: number, first: boolean): Uint8Array;
  /** This tokenizer as tokenizer.json + tokenizer_config.json. Treat the objects as read-only. */
  toTokenizerJson(): TokenizerJsonPair;
  /** This tokenizer as GGUF `tokenizer.ggml.*` metadata. */
  toGGUFMetadata(): GGUFTokenizerMetadata;
}

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


export { tokenizerFromGGUF } from "./gguf-vocab.js";
