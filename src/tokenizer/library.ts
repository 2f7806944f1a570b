// Typed access to the parts of @huggingface/tokenizers we use. Its bundled .d.ts files re-export
// without file extensions, which NodeNext resolution cannot follow, so the shapes are declared here.
import * as tokenizersLib from "@huggingface/tokenizers";

export interface LibNormalizer {
  normalize(text: string): string;
}

export interface LibPreTokenizer {
  pre_tokenize_text(text: string, options?: { section_index?: number }): string[];
}

export interface LibSplit extends LibPreTokenizer {
  pattern: RegExp | null;
}

export interface LibDecoder {
  decode(tokens: string[]): string;
}

export interface LibModel {
  (tokens: string[]): string[];
  tokens_to_ids: Map<string, number>;
  unk_token_id?: number;
}

export interface LibTokenizer {
  model: LibModel;
}

interface LibraryExports {
  Tokenizer: new (tokenizerJson: object, config: object) => LibTokenizer;
  SequenceNormalizer: new (config: object) => LibNormalizer;
  SequencePreTokenizer: new (config: object) => LibPreTokenizer;
  SequenceDecoder: new (config: object) => LibDecoder;
  SplitPreTokenizer: new (config: object) => LibSplit;
}

const lib = tokenizersLib as unknown as LibraryExports;

/** The library's normalizer for one tokenizer.json `normalizer` entry. */
export function libNormalizer(config: object): LibNormalizer {
  return new lib.SequenceNormalizer({ type: "Sequence", normalizers: [config] });
}

/** The library's pre-tokenizer for one tokenizer.json `pre_tokenizer` entry. */
export function libPreTokenizer(config: object): LibPreTokenizer {
  return new lib.SequencePreTokenizer({ type: "Sequence", pretokenizers: [config] });
}

/** The library's decoder for one tokenizer.json `decoder` entry. */
export function libDecoder(config: object): LibDecoder {
  return new lib.SequenceDecoder({ type: "Sequence", decoders: [config] });
}

/**
 * A JS RegExp (flags "gu") for a tokenizer.json pattern: `{Regex: ...}` in Oniguruma syntax, as
 * the Rust library reads it, rewritten by the JS library; `{String: ...}` matched literally.
 */
export function libPattern(pattern: object): RegExp {
  const split = new lib.SplitPreTokenizer({ type: "Split", pattern, behavior: "Isolated", invert: false });
  if (!split.pattern) throw new Error(`unsupported split pattern ${JSON.stringify(pattern)}`);
  return split.pattern;
}

/** The library's whole tokenizer; used for model types other than BPE (Unigram, WordPiece). */
export function libTokenizer(tokenizerJson: object, config: object): LibTokenizer {
  return new lib.Tokenizer(tokenizerJson, config);
}
