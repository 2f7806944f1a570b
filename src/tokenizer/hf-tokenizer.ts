// The Tokenizer for a tokenizer.json (GGUF vocabularies arrive here as an equivalent
// tokenizer.json). Pipeline as in HF tokenizers: cut out added tokens -> normalize -> pre-tokenize
// into words -> BPE per word (cached by word) -> add BOS/EOS. Normalizers, regex translation and
// non-BPE models come from @huggingface/tokenizers; see pretokenize.ts and bpe.ts for what we do
// ourselves and why.
import { AddedTokenSplitter, type AddedTokenSpec } from "./added-tokens.js";
import { BpeModel } from "./bpe.js";
import { byteLevelEncode } from "./byte-level.js";
import { decodeScheme, firstPieceBytes, schemeTokenBytes, type DecodeScheme } from "./decoding.js";
import { jsonToGGUFMetadata } from "./gguf-export.js";
import { libDecoder, libNormalizer, libTokenizer, type LibDecoder, type LibModel, type LibNormalizer } from "./library.js";
import { configTokenText, isObject, parseAddedTokens, parseMerges, parseVocab, type Json } from "./json-fields.js";
import { planPreTokenizer, type PreTokenizerPlan } from "./pretokenize.js";
import { maxTextBytesPerToken } from "./text-bound.js";
import { quote } from "../formats/errors.js";
import type { DecodeOptions, EncodeOptions, GGUFTokenizerMetadata, Tokenizer, TokenizerJsonPair } from "./tokenizer.js";

export interface HFTokenizerOptions {
  source: string;
  extraEosIds?: readonly number[];
  /** The GGUF metadata this tokenizer.json was made from; toGGUFMetadata returns it. */
  gguf?: GGUFTokenizerMetadata;
  /** Token texts by id (GGUF): fills ids a tokenizer.json cannot hold, such as a repeated string. */
  tokenTexts?: readonly string[];
}

/** Token texts that end generation in common chat models (llama.cpp's list). */
const END_OF_GENERATION = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "<\uff5cend\u2581of\u2581sentence\uff5c>"];
/** Words longer than this are not cached (and SentencePiece text is first cut at safe places). */
const MAX_CACHED_WORD = 128;
const MAX_CACHE_ENTRIES = 1 << 16;
const MODEL_TYPES = ["BPE", "WordPiece", "WordLevel", "Unigram"];
/** Far above any real vocabulary (a few hundred thousand ids). */
const MAX_TOKEN_ID = 1 << 24;

const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

export class HFTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosIds: readonly number[];
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly source: string;
  private readonly json: Json;
  private readonly config: Json;
  private readonly gguf?: GGUFTokenizerMetadata;
  private readonly idToTokenTable: (string | undefined)[];
  private readonly tokenIds = new Map<string, number>();
  private readonly added = new Map<number, AddedTokenSpec>();
  private readonly rawSplitter: AddedTokenSplitter;
  private readonly normalizedSplitter: AddedTokenSplitter | null;
  private readonly normalizer: LibNormalizer | null;
  private readonly plan: PreTokenizerPlan;
  private readonly bpe: BpeModel | null;
  private readonly libModel: LibModel | null;
  private readonly canSafeSplit: boolean;
  private readonly scheme: DecodeScheme;
  private readonly prefixIds: number[];
  private readonly suffixIds: number[];
  private readonly cache = new Map<string, number[]>();
  private readonly bytesCache: (Uint8Array | undefined)[] = [];
  private libraryDecoder: LibDecoder | undefined;
  private textBound: number | undefined;

  constructor(tokenizerJson: object, tokenizerConfig: object, opts: HFTokenizerOptions) {
    const source = (this.source = opts.source);
    if (!isObject(tokenizerJson)) throw new Error(`${source}: expected a JSON object`);
    if (!isObject(tokenizerConfig)) throw new Error(`${source}: tokenizer_config must be a JSON object`);
    this.json = tokenizerJson;
    this.config = tokenizerConfig;
    this.gguf = opts.gguf;
    const model = tokenizerJson.model;
    if (!isObject(model)) throw new Error(`${source}: missing "model" object`);
    const type = model.type ?? (model.merges !== undefined ? "BPE" : undefined);
    if (type !== undefined && !MODEL_TYPES.includes(type as string)) {
      throw new Error(`${source}: model.type: ${typeof type === "string" ? quote(type, 32) : String(type)} is not a tokenizer model (${MODEL_TYPES.join(", ")} are)`);
    }

    // Vocabulary: model.vocab, then added_tokens on top.
    const vocab = parseVocab(model.vocab, type, source);
    for (const [token, id] of vocab) if (!this.tokenIds.has(token)) this.tokenIds.set(token, id);
    const addedList = parseAddedTokens(tokenizerJson.added_tokens, source);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    for (const t of addedList) {
      maxId = Math.max(maxId, t.id);
      this.added.set(t.id, t);
      this.tokenIds.set(t.content, t.id);
    }
    const texts = opts.tokenTexts ?? [];
    // The id table is sized by the largest id: bound it before a corrupt id sizes it.
    if (maxId >= MAX_TOKEN_ID) throw new Error(`${source}: token id ${maxId} is over the limit of ${MAX_TOKEN_ID}`);
    this.idToTokenTable = new Array<string | undefined>(Math.max(maxId + 1, texts.length));
    // Two strings for one id, in model.vocab or between model.vocab and added_tokens: encoding
    // one of them gives the other's id, and decoding cannot give both back.
    for (const [token, id] of vocab) {
      const had = this.idToTokenTable[id];
      if (had !== undefined) throw new Error(`${source}: model.vocab: tokens ${quote(had)} and ${quote(token)} both have id ${id}`);
      this.idToTokenTable[id] = token;
    }
    addedList.forEach((t, i) => {
      const had = this.idToTokenTable[t.id];
      if (had !== undefined && had !== t.content) {
        throw new Error(`${source}: added_tokens[${i}]: id ${t.id} of ${quote(t.content)} is already the id of ${quote(had)}`);
      }
      this.idToTokenTable[t.id] = t.content;
    });
    texts.forEach((t, id) => (this.idToTokenTable[id] ??= t));
    this.vocabSize = this.idToTokenTable.length;

    // Text pipeline.
    this.normalizer = isObject(tokenizerJson.normalizer) ? libNormalizer(tokenizerJson.normalizer) : null;
    const byNormalized = this.normalizer ? addedList.filter((t) => t.normalized) : [];
    this.rawSplitter = new AddedTokenSplitter(this.normalizer ? addedList.filter((t) => !t.normalized) : addedList);
    this.normalizedSplitter = byNormalized.length
      ? new AddedTokenSplitter(byNormalized.map((t) => ({ ...t, content: (this.normalizer as LibNormalizer).normalize(t.content) })))
      : null;
    this.plan = planPreTokenizer(tokenizerJson.pre_tokenizer, source);
    const plainBpe = type === "BPE" && !model.continuing_subword_prefix && !model.end_of_word_suffix;
    if (plainBpe) {
      const unk = typeof model.unk_token === "string" ? vocab.get(model.unk_token) : undefined;
      this.bpe = new BpeModel({
        vocab,
        merges: parseMerges(model.merges, source),
        unkId: unk,
        byteFallback: model.byte_fallback === true,
        fuseUnk: model.fuse_unk === true,
        ignoreMerges: model.ignore_merges === true,
        source,
      });
      this.libModel = null;
    } else {
      this.bpe = null;
      const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
      this.libModel = libTokenizer(complete, tokenizerConfig).model;
    }
    this.canSafeSplit = this.bpe !== null && !this.plan.byteLevelTail && model.ignore_merges !== true;
    this.scheme = decodeScheme(tokenizerJson.decoder);
    // Built now, not at the first decode, so a decoder the library cannot build fails the load.
    if (this.scheme.kind === "library" && isObject(tokenizerJson.decoder)) this.libraryDecoder = libDecoder(tokenizerJson.decoder);

    // BOS/EOS.
    const layout = specialLayout(tokenizerJson.post_processor, tokenizerConfig, (t) => this.tokenIds.get(t));
    for (const id of [...layout.prefix, ...layout.suffix]) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`${source}: post_processor: special token id ${describeId(id)} is not in the vocabulary (${this.vocabSize} tokens)`);
      }
    }
    this.prefixIds = layout.prefix;
    this.suffixIds = layout.suffix;
    this.addBos = layout.prefix.length > 0;
    this.addEos = layout.suffix.length > 0;
    this.bosId = layout.bosId;
    const eos = new Set<number>();
    if (layout.eosId !== undefined) eos.add(layout.eosId);
    for (const id of opts.extraEosIds ?? []) if (id >= 0 && id < this.vocabSize) eos.add(id);
    for (const text of END_OF_GENERATION) {
      const id = this.tokenIds.get(text);
      if (id !== undefined && this.added.has(id)) eos.add(id);
    }
    this.eosIds = [...eos];
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const parseSpecial = options.parseSpecial === true;
    const out: number[] = [];
    if (options.addSpecial) out.push(...this.prefixIds);
    const segments = this.rawSplitter.split(text, parseSpecial);
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      if (typeof seg === "number") out.push(seg);
      else this.encodeSection(seg, i, parseSpecial, out);
    }
    if (options.addSpecial) out.push(...this.suffixIds);
    return out;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const kept = options.skipSpecial ? ids.filter((id) => !this.isSpecial(id)) : ids;
    if (this.scheme.kind === "library") {
      const tokens = kept.flatMap((id) => this.idToTokenTable[id] ?? []);
      const decoder = this.json.decoder;
      if (!isObject(decoder)) return tokens.join(" ");
      this.libraryDecoder ??= libDecoder(decoder);
      return this.libraryDecoder.decode(tokens);
    }
    const pieces: Uint8Array[] = [];
    let total = 0;
    let first = true;
    for (const id of kept) {
      if (this.idToTokenTable[id] === undefined) continue;
      const p = this.pieceBytes(id, first);
      first = false;
      pieces.push(p);
      total += p.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of pieces) {
      all.set(p, at);
      at += p.length;
    }
    return UTF8.decode(all);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenTable[id];
  }

  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  isSpecial(id: number): boolean {
    return this.added.get(id)?.special === true;
  }

  /** Whether the id is an added token (special or not): its text is matched before BPE. */
  isAdded(id: number): boolean {
    return this.added.has(id);
  }

  tokenBytes(id: number): Uint8Array {
    const cached = this.bytesCache[id];
    if (cached) return cached;
    const token = this.idToTokenTable[id];
    if (token === undefined) return new Uint8Array(0);
    const bytes = schemeTokenBytes(this.scheme, token, this.added.has(id));
    this.bytesCache[id] = bytes;
    return bytes;
  }

  pieceBytes(id: number, first: boolean): Uint8Array {
    const bytes = this.tokenBytes(id);
    return first ? firstPieceBytes(this.scheme, this.idToTokenTable[id] ?? "", bytes) : bytes;
  }

  maxTextBytesPerToken(): number {
    this.textBound ??= maxTextBytesPerToken({
      vocabSize: this.vocabSize,
      model: this.json.model as Json,
      plainBpe: this.bpe !== null,
      normalizer: this.json.normalizer,
      preTokenizer: this.json.pre_tokenizer,
      added: [...this.added.values()],
      normalize: (t) => (this.normalizer ? this.normalizer.normalize(t) : t),
      idToToken: (id) => this.idToToken(id),
      tokenToId: (t) => this.tokenToId(t),
      tokenBytes: (id) => this.tokenBytes(id),
      isAdded: (id) => this.isAdded(id),
    });
    return this.textBound;
  }

  toTokenizerJson(): TokenizerJsonPair {
    return { tokenizer: this.json, config: this.config };
  }

  toGGUFMetadata(): GGUFTokenizerMetadata {
    if (this.gguf) return { ...this.gguf };
    return jsonToGGUFMetadata(this, this.json, this.config);
  }

  private encodeSection(text: string, sectionIndex: number, parseSpecial: boolean, out: number[]): void {
    const normalized = this.normalizer ? this.normalizer.normalize(text) : text;
    if (normalized.length === 0) return;
    if (!this.normalizedSplitter) return this.encodeWords(normalized, sectionIndex, out);
    for (const seg of this.normalizedSplitter.split(normalized, parseSpecial)) {
      if (typeof seg === "number") out.push(seg);
      else this.encodeWords(seg, sectionIndex, out);
    }
  }

  private encodeWords(text: string, sectionIndex: number, out: number[]): void {
    for (const word of this.plan.split(text, sectionIndex)) {
      if (word.length > MAX_CACHED_WORD && this.canSafeSplit) {
        for (const part of (this.bpe as BpeModel).safeSplit(word)) this.encodeWord(part, out);
      } else {
        this.encodeWord(word, out);
      }
    }
  }

  private encodeWord(word: string, out: number[]): void {
    if (word.length === 0) return;
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = [];
      if (this.bpe) {
        if (this.plan.byteLevelTail) this.bpe.encodeByteLevelWord(word, ids);
        else this.bpe.encodeWord(word, ids);
      } else {
        const lib = this.libModel as LibModel;
        for (const t of lib([this.plan.byteLevelTail ? byteLevelEncode(word) : word])) {
          const id = lib.tokens_to_ids.get(t) ?? lib.unk_token_id;
          if (id !== undefined) ids.push(id);
        }
      }
      if (word.length <= MAX_CACHED_WORD) {
        if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
        this.cache.set(word, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }
}

const describeId = (id: unknown): string => (typeof id === "string" ? quote(id, 32) : String(id));

interface SpecialLayout {
  prefix: number[];
  suffix: number[];
  bosId?: number;
  eosId?: number;
}

/** Tokens around a single sequence: from the post_processor template, overridden by add_bos/eos_token. */
function specialLayout(postProcessor: unknown, config: Json, idOf: (t: string) => number | undefined): SpecialLayout {
  const layout: SpecialLayout = { prefix: [], suffix: [] };
  const visit = (pp: unknown): void => {
    if (!isObject(pp)) return;
    if (pp.type === "Sequence" && Array.isArray(pp.processors)) pp.processors.forEach(visit);
    else if (pp.type === "TemplateProcessing" && Array.isArray(pp.single)) {
      const specials = isObject(pp.special_tokens) ? pp.special_tokens : {};
      let seenSequence = false;
      for (const item of pp.single) {
        if (!isObject(item)) continue;
        if (item.Sequence !== undefined) seenSequence = true;
        else if (isObject(item.SpecialToken) && typeof item.SpecialToken.id === "string") {
          const name = item.SpecialToken.id;
          const entry = specials[name];
          const ids = isObject(entry) && Array.isArray(entry.ids) ? (entry.ids as number[]) : [idOf(name)].filter((x): x is number => x !== undefined);
          (seenSequence ? layout.suffix : layout.prefix).push(...ids);
        }
      }
    } else if ((pp.type === "BertProcessing" || pp.type === "RobertaProcessing") && Array.isArray(pp.cls) && Array.isArray(pp.sep)) {
      if (Number.isInteger(pp.cls[1])) layout.prefix.push(pp.cls[1] as number);
      if (Number.isInteger(pp.sep[1])) layout.suffix.push(pp.sep[1] as number);
    }
  };
  visit(postProcessor);
  const bosText = configTokenText(config.bos_token);
  const eosText = configTokenText(config.eos_token);
  layout.bosId = bosText !== undefined ? idOf(bosText) : layout.prefix[0];
  layout.eosId = eosText !== undefined ? idOf(eosText) : undefined;
  if (typeof config.add_bos_token === "boolean") layout.prefix = config.add_bos_token && layout.bosId !== undefined ? [layout.bosId] : [];
  if (typeof config.add_eos_token === "boolean") layout.suffix = config.add_eos_token && layout.eosId !== undefined ? [layout.eosId] : [];
  return layout;
}
