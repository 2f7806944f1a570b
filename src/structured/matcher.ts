// One sample's grammar state, in the grammar worker: an xgrammar matcher fed every output
// token, the mask of the tokens allowed next (written into memory the engine reads), and
// the text the grammar forces from here.
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
import type { XgGrammarMatcher } from "./xgrammar-shim.js";
import { isNarrowLead, secondByteOk, tokenFirstBytes } from "./vocab.js";

export class SampleMatcher {
  /** Forced tokens not yet accepted. */
  private forced: number[] = [];
  /** The output's last byte when it is a lead byte that narrows the next one (E0, ED, F0, F4); else -1. */
  private lead = -1;
  /** Whether `mask` holds the mask of the next token. */
  private prepared = false;

  constructor(private readonly matcher: XgGrammarMatcher, private readonly tokenizer: Tokenizer, private readonly vocabSize: number,
    private readonly mask: Uint32Array, private readonly stopTokens: ReadonlySet<number> = new Set()) {}

  /** Writes the mask of the next token into the shared buffer (once per position). */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    await this.writeMask(this.mask);
    this.prepared = true;
  }

  /** The mask of the next token, into `mask`. */
  private async writeMask(mask: Uint32Array): Promise<void> {
    if (this.forced.length === 0 && !this.matcher.isTerminated()) this.forced = this.forcedTokens();
    if (this.forced.length > 0) {
      const t = this.forced[0]!;
      mask.fill(0);
      mask[t >>> 5] = (1 << (t & 31)) >>> 0;
    } else {
      const bits = await this.matcher.getNextTokenBitmask();
      mask.set(new Uint32Array(bits.buffer, bits.byteOffset, bits.length));
      if (this.lead >= 0) this.narrowAfterLead(this.lead, mask);
    }
  }

  /**
   * Speculative decoding: the masks along `draft` into `masks` (mask j, `vocab / 32` words, is
   * the one after draft[0..j)), up to the first draft token the grammar refuses or one that
   * ends it; returns how many draft tokens it allows. The matcher ends where it began.
   */
  async draftMasks(draft: readonly number[], masks: Uint32Array): Promise<number> {
    const words = this.mask.length;
    const saved = { forced: [...this.forced], lead: this.lead, prepared: this.prepared };
    let taken = 0;
    let allowed = 0;
    try {
      for (let j = 0; ; j++) {
        const mask = masks.subarray(j * words, (j + 1) * words);
        await this.writeMask(mask);
        if (j === draft.length) break;
        const t = draft[j]!;
        if (((mask[t >>> 5]! >>> (t & 31)) & 1) === 0) break;
        allowed++;
        // A stop token ends the sample: nothing after it is verified.
        if (this.stopTokens.has(t) || !this.accept(t)) break;
        taken++;
      }
    } finally {
      if (taken > 0) this.matcher.rollBack(taken);
      this.forced = saved.forced;
      this.lead = saved.lead;
      this.prepared = saved.prepared;
    }
    return allowed;
  }

  /** xgrammar lets any continuation byte follow a lead; UTF-8 does not (E0 80 is overlong, ...). */
  private narrowAfterLead(lead: number, mask: Uint32Array): void {
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

  /** Feeds an output token to the matcher. False: the grammar rejects it (a bug upstream). */
  accept(token: number): boolean {
    this.prepared = false;
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
    return this.matcher.acceptToken(token);
  }

  /**
   * Jump-forward: accepts the text the grammar forces from here, as token-by-token decoding
   * would sample it, until nothing is forced or `budget` tokens were taken; returns them.
   */
  takeForced(budget: number): number[] {
    const out: number[] = [];
    while (out.length < budget) {
      if (this.forced.length === 0 && !this.matcher.isTerminated()) this.forced = this.forcedTokens();
      if (this.forced.length === 0) break;
      for (const id of [...this.forced]) {
        this.accept(id);
        out.push(id);
        if (out.length >= budget) break;
      }
    }
    return out;
  }

  dispose(): void {
    this.matcher.dispose();
  }

  /** The canonical tokens of the forced string that the matcher accepts (then rolled back). */
  private forcedTokens(): number[] {
    const m = this.matcher;
    // The string can end inside a UTF-8 character (it is cut at a byte); drop that tail.
    const text = m.findJumpForwardString().replace(/\uFFFD+$/, "");
    if (text === "") return [];
    const ids = this.tokenizer.encode(text, { addSpecial: false, parseSpecial: false });
    let ok = 0;
    while (ok < ids.length && m.acceptToken(ids[ok]!)) ok++;
    if (ok > 0) m.rollBack(ok);
    return ids.slice(0, ok);
  }
}
