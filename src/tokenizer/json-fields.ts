// Reading the parts of a tokenizer.json / tokenizer_config.json, with one-line errors that name the file.
import type { AddedTokenSpec } from "./added-tokens.js";
import { quote } from "../formats/errors.js";

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseVocab(vocab: unknown, type: unknown, source: string): Map<string, number> {
  const out = new Map<string, number>();
  if (Array.isArray(vocab) && type === "Unigram") {
    // Unigram: [[piece, score], ...]; ids are positions.
    vocab.forEach((entry: unknown, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== "string") throw new Error(`${source}: model.vocab[${id}] must be [piece, score]`);
      out.set(entry[0], id);
    });
    return out;
  }
  // The library reads a Unigram vocabulary as a list whatever it is given.
  if (type === "Unigram") throw new Error(`${source}: model.vocab must be a list of [piece, score] for a Unigram model`);
  if (!isObject(vocab)) throw new Error(`${source}: model.vocab must be an object mapping tokens to ids (model type ${typeof type === "string" ? quote(type, 32) : String(type)})`);
  const tokens = Object.keys(vocab); // faster than Object.entries on 150k-entry objects
  for (let i = 0; i < tokens.length; i++) {
    const id = vocab[tokens[i]];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw new Error(`${source}: model.vocab[${JSON.stringify(tokens[i])}] is not a non-negative integer id`);
    out.set(tokens[i], id);
  }
  return out;
}

export function parseMerges(merges: unknown, source: string): [string, string][] {
  if (!Array.isArray(merges)) throw new Error(`${source}: model.merges must be an array`);
  return merges.map((m: unknown, i) => {
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length !== 2) throw new Error(`${source}: model.merges[${i}] ${JSON.stringify(m)} is not "left right"`);
      return [parts[0], parts[1]];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return [m[0], m[1]];
    throw new Error(`${source}: model.merges[${i}] must be "left right" or ["left", "right"]`);
  });
}

export function parseAddedTokens(list: unknown, source: string): AddedTokenSpec[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${source}: added_tokens must be an array`);
  return list.map((t: unknown, i) => {
    if (!isObject(t) || !Number.isInteger(t.id) || (t.id as number) < 0 || typeof t.content !== "string") {
      throw new Error(`${source}: added_tokens[${i}] needs an integer "id" and a string "content"`);
    }
    const special = t.special === true;
    return {
      id: t.id as number,
      content: t.content,
      special,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      singleWord: t.single_word === true,
      normalized: typeof t.normalized === "boolean" ? t.normalized : !special,
    };
  });
}

/** A tokenizer_config token entry: "<s>" or {"content": "<s>", ...}. */
export function configTokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

