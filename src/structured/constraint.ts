// One sample's grammar state: an xgrammar matcher fed every output token, the mask of the
// tokens allowed next, and the text the grammar forces from here.
//
// Forced text. Where the grammar allows only one continuation string (findJumpForwardString:
// `{"name": "` after `{` in a schema whose first key is "name"), that string is tokenized
// once, canonically, and the sample follows those tokens whatever the mode:
// - token by token, the mask allows only the next forced token at each step;
// - with jump-forward, the engine appends them all at once and computes them in one chunk,
//   skipping a model call per token.
// The tokens are the same either way, and so is everything after them (the KV of a chunk
// equals the KV of the same tokens one by one: the kernels are batch-invariant), which is
// why jump-forward output equals token-by-token output.
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { Grammar } from "./grammar.js";
import type { XgGrammarMatcher } from "./xgrammar-shim.js";
import { isNarrowLead, secondByteOk, tokenFirstBytes } from "./vocab.js";

export class Constraint {
  private matcher: XgGrammarMatcher | null = null;
  private mask: Uint32Array | null = null;
  /** Forced tokens not yet emitted (their matcher state is not yet advanced). */
  private forced: number[] = [];
  private single: Uint32Array | null = null;
  /** The output's last byte when it is a lead byte that narrows the next one (E0, ED, F0, F4); else -1. */
  private lead = -1;

  constructor(readonly grammar: Grammar, private readonly tokenizer: Tokenizer, private readonly vocabSize: number,
    private readonly stopTokenIds: readonly number[]) {}

  /** Makes the matcher (first call) and the mask for the next token. Call before mask(). */
  async prepare(): Promise<void> {
    if (!this.matcher) {
      this.matcher = await this.grammar.instance.xg.GrammarMatcher.createGrammarMatcher(this.grammar.compiled, [...this.stopTokenIds]);
    }
    if (this.mask) return;
    if (this.forced.length === 0 && !this.matcher.isTerminated()) this.forced = this.forcedTokens();
    if (this.forced.length > 0) {
      this.mask = this.singleton(this.forced[0]!);
      return;
    }
    const bits = await this.matcher.getNextTokenBitmask();
    this.mask = new Uint32Array(bits.buffer, bits.byteOffset, bits.length);
    if (this.lead >= 0) this.narrowAfterLead(this.mask, this.lead);
  }

  /** xgrammar lets any continuation byte follow a lead; UTF-8 does not (E0 80 is overlong, ...). */
  private narrowAfterLead(mask: Uint32Array, lead: number): void {
    const first = tokenFirstBytes(this.tokenizer, this.vocabSize);
    for (let w = 0; w < mask.length; w++) {
      let bits = mask[w]!;
      if (bits === 0) continue;
      for (let j = 0; j < 32; j++) {
        if (((bits >>> j) & 1) === 0) continue;
        const b = first[(w << 5) + j]!;
        if (b >= 0 && !secondByteOk(lead, b)) bits &= ~(1 << j);
      }
      mask[w] = bits >>> 0;
    }
  }

  /** The allowed-token mask (prepare() first). */
  nextMask(): Uint32Array {
    if (!this.mask) throw new Error("constraint: prepare() was not awaited before sampling");
    return this.mask;
  }

  /** Feeds a sampled token to the matcher. False: the grammar rejects it (a bug upstream). */
  accept(token: number): boolean {
    this.mask = null;
    const bytes = this.tokenizer.tokenBytes(token);
    const last = bytes.length > 0 ? bytes[bytes.length - 1]! : -1;
    this.lead = token < this.tokenizer.vocabSize && !this.tokenizer.isSpecial(token) && isNarrowLead(last) ? last : -1;
    if (this.forced.length > 0) {
      if (this.forced[0] === token) {
        this.forced.shift();
      } else {
        this.forced = [];
      }
    }
    return this.matcher!.acceptToken(token);
  }

  /** Whether the matcher took a stop token (the grammar is complete and closed). */
  get terminated(): boolean {
    return this.matcher?.isTerminated() ?? false;
  }

  /**
   * The forced tokens from the current state, for jump-forward; the caller accept()s each
   * as it appends it. Empty when nothing is forced.
   */
  pendingForced(): readonly number[] {
    if (this.forced.length === 0 && this.matcher && !this.matcher.isTerminated()) this.forced = this.forcedTokens();
    return this.forced;
  }

  dispose(): void {
    this.matcher?.dispose();
    this.matcher = null;
  }

  /** The canonical tokens of the forced string that the matcher accepts (then rolled back). */
  private forcedTokens(): number[] {
    const m = this.matcher!;
    // The string can end inside a UTF-8 character (it is cut at a byte); drop that tail.
    const text = m.findJumpForwardString().replace(/\uFFFD+$/, "");
    if (text === "") return [];
    const ids = this.tokenizer.encode(text, { addSpecial: false, parseSpecial: false });
    let ok = 0;
    while (ok < ids.length && m.acceptToken(ids[ok]!)) ok++;
    if (ok > 0) m.rollBack(ok);
    return ids.slice(0, ok);
  }

  private singleton(token: number): Uint32Array {
    const words = (this.single ??= new Uint32Array((this.vocabSize + 31) >>> 5));
    words.fill(0);
    words[token >>> 5] = (1 << (token & 31)) >>> 0;
    return words;
  }
}
