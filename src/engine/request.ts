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

  /** Makes room for `n` more slots. */
  ensureSlots(n: number): void {
    if (this.slots.length >= n) return;
    const grown = new Int32Array(Math.max(n, this.slots.length * 2, 16));
    grown.set(this.slots);
    this.slots = grown;
  }
}
