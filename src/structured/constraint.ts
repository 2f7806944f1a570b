// One sample's grammar, on the engine's side. The matcher itself lives in the grammar worker
// (matcher.ts: masks, forced text, jump-forward). This end sends it the sampled tokens and
// reads its answers from memory both threads share (grammar-protocol.ts): the mask of the
// next token, which the worker computes as soon as it has the token before it, and the
// tokens a jump-forward took. Nothing large is copied per step.
import type { Grammar } from "./grammar.js";
import {
  DRAFT_SEQ, draftMemory, draftMemoryBytes, FORCED_COUNT, FORCED_MAX, JUMP_SEQ, MASK_SEQ, MATCHER_FAILED, matcherMemory, matcherMemoryBytes,
  WORKER_GONE, SEQ_NONE, type DraftMemory, type MatcherMemory,
} from "./grammar-protocol.js";

export class Constraint {
  private readonly memory: MatcherMemory;
  private readonly matcher: number;
  /** Operations sent that move the matcher; the worker's answers carry this number. */
  private seq = 0;
  /** Sampled tokens not sent yet: with jump-forward they go with the jump. */
  private unsent: number[] = [];
  /** Whether `current` is the mask of the next token. */
  private ready = false;
  /** The next token's mask: the one in memory, or one of a draft's (useDraftMask). */
  private current: Uint32Array | null = null;
  /** Speculative decoding: the masks along the last draft, grown to the longest draft seen. */
  private draft: { buffer: SharedArrayBuffer; memory: DraftMemory; tokens: number } | null = null;
  private done = false;
  private disposed = false;
  /** Dormant until the output ends with `after` (a reasoning model's </think>): then it constrains. */
  private dormant: boolean;
  private tail: number[] = [];

  /**
   * `jumpForward`: the engine asks takeForced() after each sampled token that does not end the
   * sample. `after`: the grammar starts once the output has ended with these tokens (the end
   * of a reasoning model's thinking); before them, tokens are free and the matcher sees none.
   */
  constructor(readonly grammar: Grammar, private readonly jumpForward = false, private readonly after: readonly number[] = []) {
    this.dormant = after.length > 0;
    const w = grammar.worker;
    const buffer = new SharedArrayBuffer(matcherMemoryBytes(w.maskWords));
    this.memory = matcherMemory(buffer);
    this.memory.control.fill(SEQ_NONE);
    // Opened now: the worker computes the first mask while the prompt is prefilled.
    this.matcher = w.open(grammar.id, buffer, this.memory.control);
  }

  /** Whether the grammar constrains the next token (false while dormant). */
  get active(): boolean {
    return !this.dormant;
  }

  /** Waits until the mask for the next token is in memory. Await it before nextMask(). */
  async prepare(): Promise<void> {
    if (this.ready || this.dormant) return;
    this.sendUnsent();
    await this.waitFor(MASK_SEQ);
    this.ready = true;
    this.current = this.memory.mask;
  }

  /** The allowed-token mask (prepare() or useDraftMask() first). */
  nextMask(): Uint32Array {
    if (!this.ready || !this.current) throw new Error("constraint: prepare() was not awaited before sampling");
    return this.current;
  }

  /**
   * Speculative decoding: has the worker compute the masks along `draft` (mask j: after its
   * first j tokens) up to the first token the grammar refuses; see draftAllowed. Nothing to
   * do while dormant.
   */
  async prepareDraft(draft: readonly number[]): Promise<void> {
    if (this.dormant) return;
    const words = this.memory.mask.length;
    if (!this.draft || this.draft.tokens < draft.length) {
      const buffer = new SharedArrayBuffer(draftMemoryBytes(words, draft.length));
      this.draft = { buffer, memory: draftMemory(buffer), tokens: draft.length };
    }
    this.ready = false;
    this.current = null;
    this.seq++;
    this.grammar.worker.draft(this.matcher, this.unsent, draft, this.seq, this.draft.buffer);
    this.unsent = [];
    await this.waitFor(DRAFT_SEQ);
  }

  /** How many tokens of the last draft the grammar allows (prepareDraft first). */
  get draftAllowed(): number {
    return this.draft?.memory.allowed[0] ?? 0;
  }

  /** The mask after the first `j` tokens of the last draft becomes the next token's (j <= draftAllowed). */
  useDraftMask(j: number): void {
    const d = this.draft!;
    const words = this.memory.mask.length;
    this.current = d.memory.masks.subarray(j * words, (j + 1) * words);
    this.ready = true;
  }

  /** Feeds a sampled token (one the current mask allows) to the matcher. */
  accept(token: number): void {
    if (this.dormant) {
      this.tail.push(token);
      if (this.tail.length > this.after.length) this.tail.shift();
      this.dormant = !(this.tail.length === this.after.length && this.tail.every((t, i) => t === this.after[i]));
      return;
    }
    // A stop token the mask allows is one the grammar can end at: the matcher takes it and
    // terminates, as xgrammar's isTerminated() would then say.
    const mask = this.ready ? this.current : null;
    if (mask && this.grammar.worker.stopTokenIds.has(token) && ((mask[token >>> 5]! >>> (token & 31)) & 1) === 1) this.done = true;
    this.ready = false;
    this.current = null;
    this.unsent.push(token);
    // Token by token, the worker starts on the next mask at once.
    if (!this.jumpForward) this.sendUnsent();
  }

  /** Whether the matcher took a stop token (the grammar is complete and closed). */
  get terminated(): boolean {
    return this.done;
  }

  /**
   * Jump-forward: the tokens of the text the grammar forces now (at most `budget`), which the
   * worker's matcher accepts; empty when nothing is forced.
   */
  async takeForced(budget: number): Promise<number[]> {
    if (this.dormant) return [];
    this.ready = false;
    this.current = null;
    const w = this.grammar.worker;
    this.seq++;
    w.jump(this.matcher, this.unsent, Math.min(budget, FORCED_MAX), this.seq);
    this.unsent = [];
    await this.waitFor(JUMP_SEQ);
    return Array.from(this.memory.forced.subarray(0, this.memory.control[FORCED_COUNT]));
  }

  /** Frees the matcher in the worker. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unsent = [];
    this.grammar.worker.free(this.matcher);
  }

  private sendUnsent(): void {
    if (this.unsent.length === 0 || this.disposed) return;
    this.seq++;
    this.grammar.worker.accept(this.matcher, this.unsent, this.seq);
    this.unsent = [];
  }

  /** Until the worker published the current sequence number in `slot`. */
  private async waitFor(slot: number): Promise<void> {
    if (this.disposed) throw new Error("constraint: used after dispose()");
    const c = this.memory.control;
    const w = this.grammar.worker;
    const seq = this.seq;
    await w.waitUntil(() => {
      const v = Atomics.load(c, slot);
      return v === seq || v === MATCHER_FAILED || v === WORKER_GONE;
    });
    const v = Atomics.load(c, slot);
    if (v === WORKER_GONE) throw w.error ?? new Error("the grammar worker is gone");
    if (v === MATCHER_FAILED) {
      w.hold();
      try {
        throw await w.matcherFailure(this.matcher);
      } finally {
        w.release();
      }
    }
  }
}
