// The most bytes of input text one token can stand for, so that a text can be measured
// against a token limit before it is tokenized: a text of B bytes has at least B / bound
// tokens. The bound must hold for every text, or a text that fits would be refused, so it is
// Infinity (no bound) wherever the pipeline can drop or shrink text without limit: a
// normalizer that strips or removes characters, a pre-tokenizer that drops whitespace, an
// added token that swallows the whitespace around it (lstrip/rstrip), an unknown character
// that is dropped or fused with its neighbours, or a model other than plain BPE.
//
// Otherwise every piece of text ends up in exactly one token: an added token covers its
// content; a BPE token covers its own string (byte-level: its bytes); an unknown character
// (unk) at most 4 bytes. Normalizers may shrink text by a bounded factor (measured over all
// of Unicode with String.prototype.normalize and toLowerCase, which the library uses):
//   NFD <= 3 (U+1FEF, 3 bytes, is U+0060), NFKD <= 4 (a 4-byte letter is an ASCII one),
//   composition <= 3 (U+0390, 2 bytes, from 6), so NFC <= 9 and NFKC <= 12 (loose but safe);
//   Lowercase <= 3 (the Kelvin sign, 3 bytes, is "k"); Replace of a string: its length over
//   its replacement's.
import type { AddedTokenSpec } from "./added-tokens.js";
import { BYTE_TO_CHAR } from "./byte-level.js";

/** What the bound depends on, as the tokenizer reads it from tokenizer.json. */
export interface TokenizerPipeline {
  readonly vocabSize: number;
  /** tokenizer.json's `model`. */
  readonly model: Readonly<Record<string, unknown>>;
  /** Whether the model is run by our BPE (plain BPE: no subword prefix or suffix). */
  readonly plainBpe: boolean;
  readonly normalizer: unknown;
  readonly preTokenizer: unknown;
  readonly added: readonly AddedTokenSpec[];
  /** Normalizes an added token's content (identity without a normalizer). */
  normalize(text: string): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  tokenBytes(id: number): Uint8Array;
  isAdded(id: number): boolean;
}

const utf8 = (s: string): number => Buffer.byteLength(s, "utf8");

type Obj = Readonly<Record<string, unknown>>;
const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);

/** How much the normalizer may shrink text (input bytes / output bytes, at most); Infinity when unbounded. */
export function normalizerShrink(cfg: unknown): number {
  if (cfg === null || cfg === undefined) return 1;
  if (!isObj(cfg)) return Infinity;
  switch (cfg.type) {
    case "Sequence":
      return Array.isArray(cfg.normalizers) ? cfg.normalizers.reduce((f: number, n: unknown) => f * normalizerShrink(n), 1) : Infinity;
    case "Prepend":
      return 1;
    case "NFD":
      return 3;
    case "NFKD":
      return 4;
    case "NFC":
      return 9;
    case "NFKC":
      return 12;
    case "Lowercase":
      return 3;
    case "Replace": {
      const pattern = isObj(cfg.pattern) ? cfg.pattern.String : undefined;
      const content = cfg.content;
      if (typeof pattern !== "string" || typeof content !== "string" || content.length === 0) return Infinity;
      return Math.max(1, utf8(pattern) / utf8(content));
    }
    default:
      // Strip, StripAccents, BertNormalizer, Precompiled, Nmt: they remove characters.
      return Infinity;
  }
}

/** Whether the pre-tokenizer keeps every character (it may add some). */
export function preTokenizerKeepsText(cfg: unknown): boolean {
  if (cfg === null || cfg === undefined) return true;
  if (!isObj(cfg)) return false;
  switch (cfg.type) {
    case "Sequence":
      return Array.isArray(cfg.pretokenizers) && cfg.pretokenizers.every(preTokenizerKeepsText);
    case "ByteLevel":
    case "Digits":
      return true;
    case "Split":
    case "Punctuation":
      return cfg.behavior !== "Removed";
    case "Metaspace":
      return typeof cfg.replacement !== "string" || cfg.replacement.length > 0;
    default:
      // Whitespace, WhitespaceSplit, BertPreTokenizer drop whitespace; others are not ours.
      return false;
  }
}

/** Most bytes of input text one token stands for; Infinity when the pipeline gives no bound. */
export function maxTextBytesPerToken(p: TokenizerPipeline): number {
  if (!p.plainBpe) return Infinity;
  if (p.added.some((t) => t.lstrip || t.rstrip)) return Infinity;
  if (!preTokenizerKeepsText(p.preTokenizer)) return Infinity;
  const shrink = normalizerShrink(p.normalizer);
  if (!Number.isFinite(shrink)) return Infinity;
  // After a ByteLevel step (last or not), words are spelled in its alphabet: one character per byte.
  const byteLevel = hasByteLevel(p.preTokenizer);
  let piece = 0;
  for (let id = 0; id < p.vocabSize; id++) {
    const token = p.idToToken(id);
    if (token === undefined || p.isAdded(id)) continue;
    // Byte-level: one alphabet character per byte. Otherwise the token's own text, as the
    // normalized words spell it (a <0xNN> fallback token counts 6 for its one byte: safe).
    piece = Math.max(piece, byteLevel ? Math.max(token.length, p.tokenBytes(id).length) : utf8(token));
  }
  // A character with no token of its own: dropped without an unk token (unless every byte has
  // a token to fall back to), fused into one unk token with fuse_unk: both unbounded. A lone
  // unk token covers one character, at most 4 bytes.
  const inModel = (t: string): boolean => {
    const id = p.tokenToId(t);
    return id !== undefined && !p.isAdded(id);
  };
  const everyByte = byteLevel ? UTF8_BYTES.every((b) => inModel(BYTE_TO_CHAR[b]!)) : p.model.byte_fallback === true && BYTE_TOKENS.every(inModel);
  if (!everyByte) {
    if (typeof p.model.unk_token !== "string" || !inModel(p.model.unk_token) || p.model.fuse_unk === true) return Infinity;
    piece = Math.max(piece, 4);
  }
  for (const t of p.added) piece = Math.max(piece, utf8(t.content), t.normalized ? utf8(p.normalize(t.content)) : 0);
  return piece * shrink;
}

function hasByteLevel(cfg: unknown): boolean {
  if (!isObj(cfg)) return false;
  return cfg.type === "ByteLevel" || (cfg.type === "Sequence" && Array.isArray(cfg.pretokenizers) && cfg.pretokenizers.some(hasByteLevel));
}

/** Bytes that occur in UTF-8 (0xC0, 0xC1 and 0xF5..0xFF never do): a byte-level vocabulary may lack the others. */
const UTF8_BYTES = Array.from({ length: 256 }, (_, b) => b).filter((b) => b !== 0xc0 && b !== 0xc1 && b < 0xf5);

const BYTE_TOKENS = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
