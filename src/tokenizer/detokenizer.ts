// Incremental detokenization for streaming: each push returns the text that became complete.
// Tokens are turned into bytes exactly as decode() does (Tokenizer.pieceBytes), and the bytes go
// through a streaming UTF-8 decoder, which holds back the bytes of a character split across
// tokens (byte-level BPE pieces, SentencePiece <0xE2><0x82><0xAC>). So the deltas never end in
// half a character, and their concatenation equals decode(allIds).
import type { Tokenizer } from "./tokenizer.js";

export interface DetokenizerOptions {
  /** Leave out special tokens, as decode(ids, {skipSpecial: true}). Default false. */
  skipSpecial?: boolean;
}

export class IncrementalDetokenizer {
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private readonly skipSpecial: boolean;
  private first = true;

  constructor(
    private readonly tokenizer: Tokenizer,
    options: DetokenizerOptions = {},
  ) {
    this.skipSpecial = options.skipSpecial === true;
  }

  /** Adds one token; returns the text completed by it (possibly ""). */
  push(id: number): string {
    if (this.skipSpecial && this.tokenizer.isSpecial(id)) return "";
    if (this.tokenizer.idToToken(id) === undefined) return "";
    const bytes = this.tokenizer.pieceBytes(id, this.first);
    this.first = false;
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: returns what was held back, with U+FFFD for an incomplete final character. */
  flush(): string {
    this.first = true;
    return this.decoder.decode();
  }
}
