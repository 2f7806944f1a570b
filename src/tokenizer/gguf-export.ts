// tokenizer.json -> GGUF `tokenizer.ggml.*` keys, the inverse of gguf-vocab.ts: byte-level BPE
// becomes model "gpt2" with the `pre` name whose pre-tokenizer behaves the same; SentencePiece-style
// BPE (byte fallback, "▁") becomes model "llama" with scores that reproduce the merge order.
import { configTokenText, isObject, parseMerges, type Json } from "./json-fields.js";
import { findGGUFPreName } from "./gguf-pre.js";
import { scoresFromMerges, spmMergesFromScores, TOKEN_TYPE } from "./spm-merges.js";
import type { GGUFTokenizerMetadata, Tokenizer } from "./tokenizer.js";

/**
 * What the export reads of the tokenizer built from `json`: its ids and flags, plus two facts
 * the Tokenizer interface does not carry. An interface rather than HFTokenizer itself, so that
 * HFTokenizer can call this without the two files importing each other.
 */
export interface ExportedVocab extends Pick<Tokenizer, "vocabSize" | "bosId" | "eosIds" | "addBos" | "addEos" | "idToToken" | "tokenToId" | "isSpecial"> {
  /** Names the origin in error messages. */
  readonly source: string;
  /** Whether the id is an added token (special or not). */
  isAdded(id: number): boolean;
}

export function jsonToGGUFMetadata(tok: ExportedVocab, json: Json, config: Json): GGUFTokenizerMetadata {
  const source = tok.source;
  const model = json.model as Json;
  if (model.type !== "BPE" && !(model.type === undefined && model.merges !== undefined)) {
    throw new Error(`${source}: a ${String(model.type)} tokenizer cannot be written as GGUF tokenizer.ggml.* keys (only BPE)`);
  }
  const byteLevel = mentions(json.pre_tokenizer, "ByteLevel") || mentions(json.decoder, "ByteLevel");
  const spm = !byteLevel && (model.byte_fallback === true || mentions(json.pre_tokenizer, "Metaspace") || mentions(json.normalizer, "Prepend"));
  if (!byteLevel && !spm) throw new Error(`${source}: this BPE tokenizer is neither byte-level nor SentencePiece-style; GGUF cannot describe it`);

  const unkText = typeof model.unk_token === "string" ? model.unk_token : undefined;
  const unkId = unkText !== undefined ? tok.tokenToId(unkText) : undefined;
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    const t = tok.idToToken(id);
    tokens.push(t ?? `[PAD${id}]`);
    if (t === undefined) types.push(TOKEN_TYPE.UNUSED);
    else if (id === unkId) types.push(TOKEN_TYPE.UNKNOWN);
    else if (tok.isSpecial(id)) types.push(TOKEN_TYPE.CONTROL);
    else if (tok.isAdded(id)) types.push(TOKEN_TYPE.USER_DEFINED);
    else if (spm && /^<0x[0-9A-F]{2}>$/.test(t)) types.push(TOKEN_TYPE.BYTE);
    else types.push(TOKEN_TYPE.NORMAL);
  }
  const merges = parseMerges(model.merges, source);
  const md: GGUFTokenizerMetadata = { "tokenizer.ggml.model": spm ? "llama" : "gpt2" };

  if (byteLevel) {
    const pre = findGGUFPreName(json.normalizer, json.pre_tokenizer, model.ignore_merges === true);
    md["tokenizer.ggml.pre"] = pre ?? "default";
    if (pre === undefined) {
      console.warn(`${source}: no GGUF pre-tokenizer name matches this tokenizer.json; writing "default" and the whole tokenizer.json as tokenizer.huggingface.json`);
      md["tokenizer.huggingface.json"] = JSON.stringify(json);
    }
    md["tokenizer.ggml.tokens"] = tokens;
    md["tokenizer.ggml.token_type"] = types;
    md["tokenizer.ggml.merges"] = merges.map(([a, b]) => `${a} ${b}`);
  } else {
    md["tokenizer.ggml.pre"] = "default";
    md["tokenizer.ggml.tokens"] = tokens;
    const scores = scoresFromMerges(tokens, merges).map((s, i) => (types[i] === TOKEN_TYPE.NORMAL ? s : 0));
    md["tokenizer.ggml.scores"] = scores;
    md["tokenizer.ggml.token_type"] = types;
    const again = spmMergesFromScores(tokens, scores, types);
    const same = again.length === merges.length && again.every(([a, b], i) => a === merges[i][0] && b === merges[i][1]);
    if (!same) {
      // Scores cannot express this merge list; keep it (llama.cpp ignores the key, we read it).
      if (merges.some(([a, b]) => a.includes(" ") || b.includes(" "))) {
        console.warn(`${source}: the merge list is not the SentencePiece kind and has tokens with spaces; GGUF scores only approximate it`);
      } else {
        md["tokenizer.ggml.merges"] = merges.map(([a, b]) => `${a} ${b}`);
      }
    }
    md["tokenizer.ggml.add_space_prefix"] = addsSpacePrefix(json);
  }

  const idOf = (v: unknown): number | undefined => {
    const text = configTokenText(v);
    return text === undefined ? undefined : tok.tokenToId(text);
  };
  const ids: [string, number | undefined][] = [
    ["bos_token_id", tok.bosId],
    ["eos_token_id", idOf(config.eos_token) ?? tok.eosIds[0]],
    ["unknown_token_id", unkId],
    ["padding_token_id", idOf(config.pad_token)],
  ];
  for (const [key, id] of ids) if (id !== undefined) md[`tokenizer.ggml.${key}`] = id;
  md["tokenizer.ggml.add_bos_token"] = tok.addBos;
  md["tokenizer.ggml.add_eos_token"] = tok.addEos;
  if (typeof config.chat_template === "string") md["tokenizer.chat_template"] = config.chat_template;
  return md;
}

function mentions(cfg: unknown, type: string): boolean {
  if (!isObject(cfg)) return false;
  if (cfg.type === type) return true;
  return Object.values(cfg).some((v) => Array.isArray(v) && v.some((x) => mentions(x, type)));
}

function addsSpacePrefix(json: Json): boolean {
  const prepends = (cfg: unknown): boolean => {
    if (!isObject(cfg)) return false;
    if (cfg.type === "Prepend" && cfg.prepend === "\u2581") return true;
    if (cfg.type === "Metaspace") return cfg.prepend_scheme !== "never" && cfg.add_prefix_space !== false;
    return Object.values(cfg).some((v) => Array.isArray(v) && v.some(prepends));
  };
  return prepends(json.normalizer) || prepends(json.pre_tokenizer);
}
