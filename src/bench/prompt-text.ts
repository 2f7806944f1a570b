// Prompt text of an exact token count. Workload ids are drawn from the tokenizer's "word"
// tokens (a space and letters, one token each), so a run of them decodes to text that
// tokenizes back to the same ids: the lengths the flags ask for are the lengths sent.
import type { Tokenizer } from "../tokenizer/tokenizer.js";

/** Fewer words than this and prompts would repeat too much to be a fair workload. */
export const MIN_ALPHABET = 32;

/**
 * Ordinary token ids that stand for one space-led word, and that keep their identity when
 * written twice in a row (the pretokenizer splits at the space, nothing merges across).
 */
export function wordAlphabet(tok: Tokenizer, limit = 4096): number[] {
  const out: number[] = [];
  const utf8 = new TextDecoder("utf-8", { fatal: false });
  for (let id = 0; id < tok.vocabSize && out.length < limit; id++) {
    if (tok.isSpecial(id)) continue;
    const piece = utf8.decode(tok.tokenBytes(id));
    if (!/^ [A-Za-z]{2,16}$/.test(piece)) continue;
    const twice = tok.encode(tok.decode([id, id]));
    if (twice.length === 2 && twice[0] === id && twice[1] === id) out.push(id);
  }
  return out;
}

/** Turns workload ids into text; `continuation` is text that follows earlier text. */
export class PromptText {
  private readonly anchor: number;
  private readonly anchorText: string;

  constructor(readonly tokenizer: Tokenizer, alphabet: readonly number[]) {
    if (alphabet.length === 0) throw new Error("no word tokens to build prompt text from");
    this.anchor = alphabet[0]!;
    this.anchorText = tokenizer.decode([this.anchor]);
  }

  /** Text at the start of a prompt (or of a chat message). */
  first(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /**
   * Text that follows other text: decoded after an anchor word, so a tokenizer that drops the
   * leading space of a sequence's first word (SentencePiece) keeps it here.
   */
  continuation(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    return this.tokenizer.decode([this.anchor, ...ids]).slice(this.anchorText.length);
  }

  /** Tokens of text as the server's prompt encoder sees them, special tokens aside. */
  count(text: string): number {
    return this.tokenizer.encode(text).length;
  }
}
