// One generation request's state as it moves through the scheduler. Plain data: the
// scheduler owns the KV fields, the engine owns the output and the event queue.
import type { CacheHandle } from "../kvcache/prefix-cache.js";
import type { SamplingParams } from "../sampling/params.js";

export type RequestStatus = "waiting" | "running" | "finished";
export type FinishReason = "stop" | "length" | "abort";

export class Request {
  status: RequestStatus = "waiting";
  /** Prompt then output token ids. */
  readonly tokens: number[];
  readonly promptLength: number;
  /** Tokens whose K/V is in the pool: `slots[0..computed)` hold them. */
  computed = 0;
  /** KV slot of each position; grows as tokens are computed. The first `prefixLength` are the cache's. */
  slots = new Int32Array(0);
  /** Leading slots that came from the cache (locked through `handle`). */
  prefixLength = 0;
  handle: CacheHandle | null = null;
  /** Prompt tokens served from the cache when first admitted (usage.cached_tokens). */
  cachedPromptTokens = -1;
  /** Slots allocated so far: `computed` plus the tokens in flight this step. */
  allocated = 0;
  aborted = false;
  finishReason: FinishReason | null = null;
  readonly arrival: number;
  admittedAt = 0;
  /** First prompt position whose token logprob is wanted (-1: none): rows from one before it need logits. */
  promptLogprobsStart = -1;

  constructor(
    readonly id: string,
    prompt: readonly number[],
    readonly params: SamplingParams,
    readonly salt: string,
    arrival: number,
  ) {
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
    this.arrival = arrival;
  }

  get outputLength(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Tokens still to compute before the next logits. */
  get pending(): number {
    return this.tokens.length - this.computed;
  }

  /** Tokens the cache may serve at admission: all but the last, and none whose logits are wanted. */
  get matchLimit(): number {
    const all = this.tokens.length - 1;
    return this.promptLogprobsStart > 0 ? Math.min(all, this.promptLogprobsStart - 1) : all;
  }

  /** Positions in [from, to) whose logits give prompt logprobs: [start - 1, promptLength - 1). */
  promptLogitRange(from: number, to: number): [number, number] {
    if (this.promptLogprobsStart < 1) return [to, to];
    const lo = Math.max(from, this.promptLogprobsStart - 1);
    const hi = Math.min(to, this.promptLength - 1);
    return lo < hi ? [lo, hi] : [to, to];
  }

  /** Makes room for `n` more slots. */
  ensureSlots(n: number): void {
    if (this.slots.length >= n) return;
    const grown = new Int32Array(Math.max(n, this.slots.length * 2, 16));
    grown.set(this.slots);
    this.slots = grown;
  }
}
