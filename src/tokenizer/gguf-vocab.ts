// GGUF vocabularies -> Tokenizer. The `tokenizer.ggml.*` keys are written out as the
// tokenizer.json (+ tokenizer_config.json) that the model's Hugging Face tokenizer has, and that
// goes through the same code as any tokenizer.json:
// - `llama` (SentencePiece BPE): tokens + scores + types; merges derived from the scores, "▁" for
//   spaces (with a "▁" put in front of the text), <0xNN> byte tokens as fallback;
// - `gpt2` (byte-level BPE): tokens + merges, with the pre-tokenizer named by `tokenizer.ggml.pre`.
// Control tokens become special added tokens, user-defined ones non-special added tokens.
import { HFTokenizer } from "./hf-tokenizer.js";
import { preTokenizerForGGUF } from "./gguf-pre.js";
import { spmMergesFromScores, TOKEN_TYPE } from "./spm-merges.js";
import type { GGUFMetadataValue, GGUFTokenizerMetadata, Tokenizer } from "./tokenizer.js";
import { quote } from "../formats/errors.js";

export interface GGUFLoadOptions {
  /** Names the file in error messages. */
  source?: string;
}

export function tokenizerFromGGUF(metadata: Record<string, unknown>, options: GGUFLoadOptions = {}): Tokenizer {
  const source = options.source ?? "GGUF metadata";
  const kept = tokenizerKeys(metadata);
  const hfJson = metadata["tokenizer.huggingface.json"];
  if (typeof hfJson === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(hfJson);
    } catch (e) {
      throw new Error(`${source}: tokenizer.huggingface.json is not valid JSON: ${(e as Error).message.split("\n")[0]}`);
    }
    const { config } = ggufToTokenizerJson(metadata, source, false);
    return new HFTokenizer(parsed as object, config, { source, gguf: kept });
  }
  const { tokenizer, config, extraEosIds } = ggufToTokenizerJson(metadata, source, true);
  const tokenTexts = metadata["tokenizer.ggml.tokens"] as string[];
  return new HFTokenizer(tokenizer, config, { source, gguf: kept, extraEosIds, tokenTexts });
}

interface Converted {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
  extraEosIds: number[];
}

function ggufToTokenizerJson(md: Record<string, unknown>, source: string, needVocab: boolean): Converted {
  const model = md["tokenizer.ggml.model"];
  const tokens = stringArray(md, "tokenizer.ggml.tokens", source);
  const n = tokens?.length ?? 0;
  const types = numberArray(md, "tokenizer.ggml.token_type", source, n);
  const scores = numberArray(md, "tokenizer.ggml.scores", source, n);
  // A special id outside the vocabulary would be dropped silently (an end-of-turn id never
  // seen, an unknown-token id never used): refuse it.
  const id = (key: string): number | undefined => {
    const v = md[`tokenizer.ggml.${key}`];
    if (v === undefined) return undefined;
    const x = typeof v === "bigint" ? Number(v) : v;
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || (tokens && x >= n)) {
      throw new Error(`${source}: tokenizer.ggml.${key}: ${typeof v === "string" ? quote(v, 32) : String(v)} is not a token id (the vocabulary has ${n} tokens)`);
    }
    return x;
  };
  const flag = (key: string): boolean | undefined => {
    const v = md[`tokenizer.ggml.${key}`];
    return typeof v === "boolean" ? v : undefined;
  };
  const text = (i: number | undefined): string | undefined => (i === undefined || !tokens ? undefined : tokens[i]);
  const bos = id("bos_token_id");
  const eos = id("eos_token_id");
  const unk = id("unknown_token_id");
  const pad = id("padding_token_id");
  const extraEosIds = [id("eot_token_id"), id("eom_token_id")].filter((x): x is number => x !== undefined);

  let addBos = flag("add_bos_token");
  const addEos = flag("add_eos_token") ?? false;
  let body: Record<string, unknown> = {};
  if (needVocab) {
    if (!tokens) throw new Error(`${source}: missing tokenizer.ggml.tokens`);
    const vocab = new Map<string, number>();
    tokens.forEach((t, i) => {
      if (!vocab.has(t)) vocab.set(t, i);
    });
    const typeOf = (i: number): number => (types ? types[i] : TOKEN_TYPE.NORMAL);
    // Phi-3's added tokens eat the whitespace after them (rstrip), as in its tokenizer.json; llama.cpp does the same.
    const modelName = typeof md["general.name"] === "string" ? md["general.name"].toLowerCase() : "";
    const phi3 = modelName.includes("phi-3") || modelName.includes("phi3");
    const rstrip = (t: string): boolean => phi3 && !["<unk>", "<s>", "<|endoftext|>"].includes(t);
    const addedTokens = tokens.flatMap((t, i) => {
      const ty = typeOf(i);
      if (ty !== TOKEN_TYPE.CONTROL && ty !== TOKEN_TYPE.USER_DEFINED && ty !== TOKEN_TYPE.UNKNOWN) return [];
      if (vocab.get(t) !== i) return [];
      return [{ id: i, content: t, single_word: false, lstrip: false, rstrip: rstrip(t), normalized: false, special: ty !== TOKEN_TYPE.USER_DEFINED }];
    });
    if (model === "llama") {
      if (!scores) throw new Error(`${source}: tokenizer.ggml.model is "llama" but tokenizer.ggml.scores is missing`);
      const merges = md["tokenizer.ggml.merges"] !== undefined ? splitMerges(stringArray(md, "tokenizer.ggml.merges", source) ?? [], source) : spmMergesFromScores(tokens, scores, types);
      const prefix = typeof md["tokenizer.ggml.add_space_prefix"] === "boolean" ? (md["tokenizer.ggml.add_space_prefix"] as boolean) : true;
      addBos ??= true;
      body = {
        normalizer: {
          type: "Sequence",
          normalizers: [...(prefix ? [{ type: "Prepend", prepend: "\u2581" }] : []), { type: "Replace", pattern: { String: " " }, content: "\u2581" }],
        },
        pre_tokenizer: null,
        decoder: {
          type: "Sequence",
          decoders: [
            { type: "Replace", pattern: { String: "\u2581" }, content: " " },
            { type: "ByteFallback" },
            { type: "Fuse" },
            { type: "Strip", content: " ", start: prefix ? 1 : 0, stop: 0 },
          ],
        },
        model: bpeModel(vocab, merges, text(unk) ?? null, true, false),
      };
    } else if (model === "gpt2") {
      const merges = stringArray(md, "tokenizer.ggml.merges", source);
      if (!merges) throw new Error(`${source}: tokenizer.ggml.model is "gpt2" but tokenizer.ggml.merges is missing`);
      const pre = typeof md["tokenizer.ggml.pre"] === "string" ? (md["tokenizer.ggml.pre"] as string) : undefined;
      const { spec } = preTokenizerForGGUF(pre, source);
      addBos ??= spec.addBos ?? false;
      body = {
        normalizer: spec.normalizer,
        pre_tokenizer: spec.preTokenizer,
        decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: bpeModel(vocab, splitMerges(merges, source), text(unk) ?? null, false, spec.ignoreMerges ?? false),
      };
    } else {
      throw new Error(`${source}: unsupported tokenizer.ggml.model ${JSON.stringify(model)} (supported: "llama", "gpt2")`);
    }
    body = { version: "1.0", truncation: null, padding: null, added_tokens: addedTokens, ...body };
    body.post_processor = template(addBos && bos !== undefined ? text(bos) : undefined, addEos && eos !== undefined ? text(eos) : undefined, bos, eos);
  }
  const config: Record<string, unknown> = {
    tokenizer_class: "PreTrainedTokenizerFast",
    add_bos_token: addBos ?? false,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: false,
  };
  if (text(bos) !== undefined) config.bos_token = text(bos);
  if (text(eos) !== undefined) config.eos_token = text(eos);
  if (text(unk) !== undefined) config.unk_token = text(unk);
  if (text(pad) !== undefined) config.pad_token = text(pad);
  if (model === "llama") config.legacy = true;
  if (typeof md["tokenizer.chat_template"] === "string") config.chat_template = md["tokenizer.chat_template"];
  return { tokenizer: body, config, extraEosIds };
}

function bpeModel(vocab: Map<string, number>, merges: [string, string][], unk: string | null, spm: boolean, ignoreMerges: boolean): object {
  return {
    type: "BPE",
    dropout: null,
    unk_token: unk,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: spm,
    byte_fallback: spm,
    ignore_merges: ignoreMerges,
    vocab: Object.fromEntries(vocab),
    merges,
  };
}

function template(bos: string | undefined, eos: string | undefined, bosId: number | undefined, eosId: number | undefined): object | null {
  if (bos === undefined && eos === undefined) return null;
  const special = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  const single = [...(bos !== undefined ? [special(bos)] : []), { Sequence: { id: "A", type_id: 0 } }, ...(eos !== undefined ? [special(eos)] : [])];
  const pair = [...single, ...(bos !== undefined ? [special(bos)] : []), { Sequence: { id: "B", type_id: 1 } }, ...(eos !== undefined ? [special(eos)] : [])];
  const specialTokens: Record<string, object> = {};
  if (bos !== undefined) specialTokens[bos] = { id: bos, ids: [bosId], tokens: [bos] };
  if (eos !== undefined) specialTokens[eos] = { id: eos, ids: [eosId], tokens: [eos] };
  return { type: "TemplateProcessing", single, pair, special_tokens: specialTokens };
}

function splitMerges(merges: string[], source: string): [string, string][] {
  return merges.map((m, i) => {
    const at = m.indexOf(" ", 1);
    if (at < 0) throw new Error(`${source}: tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} is not "left right"`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
}

function stringArray(md: Record<string, unknown>, key: string, source: string): string[] | undefined {
  const v = md[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`${source}: ${key} must be an array of strings`);
  return v as string[];
}

function numberArray(md: Record<string, unknown>, key: string, source: string, length: number): number[] | undefined {
  const v = md[key];
  if (v === undefined) return undefined;
  const arr = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
  if (!Array.isArray(arr) || !arr.every((x) => typeof x === "number" || typeof x === "bigint")) throw new Error(`${source}: ${key} must be an array of numbers`);
  if (arr.length !== length) throw new Error(`${source}: ${key} has ${arr.length} entries for ${length} tokens`);
  return arr.map(Number);
}

/** The tokenizer.* keys of a GGUF header as plain values (bigints as numbers). */
function tokenizerKeys(md: Record<string, unknown>): GGUFTokenizerMetadata {
  const out: GGUFTokenizerMetadata = {};
  for (const [key, raw] of Object.entries(md)) {
    if (!key.startsWith("tokenizer.")) continue;
    const v = typeof raw === "bigint" ? Number(raw) : ArrayBuffer.isView(raw) ? Array.from(raw as unknown as ArrayLike<number>) : raw;
    if (Array.isArray(v)) out[key] = v.map((x) => (typeof x === "bigint" ? Number(x) : x)) as GGUFMetadataValue;
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[key] = v;
  }
  return out;
}
