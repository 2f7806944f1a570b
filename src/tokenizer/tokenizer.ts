// The Tokenizer interface and the types it speaks in. One implementation (HFTokenizer,
// hf-tokenizer.ts) serves both formats; load.ts builds it from a file, a tokenizer.json or
// GGUF metadata. This file imports no implementation, so any of them may import it.

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
  /**
   * The most bytes of UTF-8 text one token of encode() can stand for, so that a text of B bytes
   * has at least B / this many tokens (text-bound.ts); Infinity where the tokenizer can drop
   * or shrink text without limit. Computed once.
   */
  maxTextBytesPerToken(): number;
  /** This tokenizer as tokenizer.json + tokenizer_config.json. Treat the objects as read-only. */
  toTokenizerJson(): TokenizerJsonPair;
  /** This tokenizer as GGUF `tokenizer.ggml.*` metadata. */
  toGGUFMetadata(): GGUFTokenizerMetadata;
}
