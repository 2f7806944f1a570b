// One generation request (one sample of it, for n > 1) from admission to release. The
// scheduler owns it: the KV fields, the appended output, the finish. Plain data with the
// per-request machinery it carries: its sampler, its grammar's matcher, its incremental
// detokenizer and stop-string matcher.
import type { CacheHandle, CacheKey } from "../kvcache/prefix-cache.js";
import type { SamplingParams } from "../sampling/params.js";
import type { Sampler } from "../sampling/sampler.js";
import { StopMatcher } from "../sampling/stop.js";
import type { Constraint } from "../structured/constraint.js";
import type { IncrementalDetokenizer } from "../tokenizer/detokenizer.js";

/** "compiling": submitted, waiting (outside every queue) for its grammar to compile. */
export type RequestStatus = "compiling" | "waiting" | "parked" | "running" | "finished";
/** "error": this request alone failed (its grammar, its sampling, a failed step); see Request.error. */
export type FinishReason = "stop" | "length" | "abort" | "error";

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
  readonly topLogprobs?: readonly { token: number; logprob: number }[];
}

/** log P(prompt token at `start + i` | the tokens before it), for i = 0.. (the model's own, temperature 1). */
export interface PromptLogprobs {
  readonly start: number;
  readonly tokenIds: readonly number[];
  readonly logprobs: readonly number[];
}

/**
 * A failure that is the request's own doing (its grammar allows no token): a server answers
 * 400. Any other error a request fails with is ours: 500.
 */
export class RequestError extends Error {
  override name = "RequestError";
}

/**
 * What an embedding or scoring request keeps of its prompt instead of sampling: the final
 * hidden state pooled over its rows (the last, the mean, or the first), and optionally some
 * of the last row's logits (a reranker's "yes" and "no").
 */
export interface PoolSpec {
  readonly type: "last" | "mean" | "cls";
  /** Of the last row's logits, the values of these ids; absent: no logits are computed. */
  readonly logitIds?: readonly number[];
}

/** A pooling request's result so far. */
export interface Pooled {
  /** Sum (mean), or the row (last, cls), of the hidden states pooled so far. */
  readonly sum: Float64Array;
  /** Positions before this one are in `sum`; a recomputed row (after a retraction) is not added twice. */
  upTo: number;
  /** The last row's logits at `PoolSpec.logitIds`. */
  logits: Float32Array | null;
}

export interface RequestInit {
  /** This request's own id (shown to clients: a choice's id). */
  readonly id: string;
  /** The id the request was submitted under; abort finds it (and its siblings) by this. */
  readonly parentId: string;
  /** Its place among the outputs of its submission (prompt-major, then sample). */
  readonly index: number;
  /** Which prompt of its submission it samples. */
  readonly part: number;
  readonly prompt: readonly number[];
  /** Checked at the engine boundary. */
  readonly params: SamplingParams;
  readonly salt: string;
  readonly arrival: number;
  readonly sampler: Sampler;
  readonly detokenizer: IncrementalDetokenizer;
  readonly constraint?: Constraint | null;
  /** With a grammar: append forced text without a model call per token. */
  readonly jumpForward?: boolean;
  /** First prompt position whose token logprob is wanted (-1 or absent: none). */
  readonly promptLogprobsStart?: number;
  /** An embedding or scoring request: pool the prompt's hidden states, sample nothing. */
  readonly pool?: PoolSpec;
  /** Token ids of the output expected (OpenAI's predicted outputs): speculative decoding drafts from them. */
  readonly prediction?: readonly number[];
}

export class Request {
  readonly id: string;
  readonly parentId: string;
  readonly index: number;
  readonly part: number;
  readonly params: SamplingParams;
  readonly salt: string;
  readonly arrival: number;
  status: RequestStatus = "waiting";
  /** Prompt then output token ids (the output includes a final stop token; see outputIds). */
  readonly tokens: number[];
  readonly promptLength: number;

  // KV, owned by the scheduler.
  /** Tokens whose K/V is in the pool: `slots[0..computed)` hold them. */
  computed = 0;
  /** KV slot of each position; grows as tokens are computed. The first `prefixLength` are the cache's. */
  slots = new Int32Array(0);
  /** Leading slots that are the cache's (locked through `handle`). */
  prefixLength = 0;
  handle: CacheHandle | null = null;
  /** Prompt tokens served from the cache when first admitted (usage.cached_tokens). */
  cachedPromptTokens = -1;
  /** Slots allocated so far: `computed` plus the tokens in flight this step. */
  allocated = 0;

  // Output, appended by the scheduler's postprocess.
  readonly sampler: Sampler;
  /** Its grammar's matcher; set once the grammar is compiled. */
  constraint: Constraint | null;
  readonly jumpForward: boolean;
  readonly detokenizer: IncrementalDetokenizer;
  readonly stop: StopMatcher;
  /** The output text so far (stop strings cut, text that may still be one held back). */
  text = "";
  readonly logprobs: TokenLogprob[] = [];
  /** The last token is a stop token (EOS, a stop_token_id): computed never, shown never. */
  endedOnStopToken = false;
  /** First prompt position whose token logprob is wanted (-1: none): rows from one before it need logits. */
  promptLogprobsStart: number;
  /** The prompt logprobs, filled as the rows are computed; sent with the first event. */
  readonly promptLogprobs: { readonly start: number; readonly tokenIds: number[]; readonly logprobs: number[] } | null;
  promptLogprobsSent = false;

  /**
   * Admitted with part of its prefix on disk: that part is being loaded into its slots (from
   * prefixLength on). It runs no rows, is never retracted, and is reaped only once the load is in.
   */
  loading = false;

  /** The output expected, as token ids (empty: none); see RequestInit.prediction. */
  readonly prediction: readonly number[];
  /** Speculative decoding: draft tokens verified, the ones accepted, and the verifications (meta_info, usage). */
  readonly spec = { draftTokens: 0, acceptedTokens: 0, verifySteps: 0 };

  /** An embedding or scoring request (see PoolSpec), and its result so far. */
  readonly pool: PoolSpec | null;
  pooled: Pooled | null = null;

  aborted = false;
  finishReason: FinishReason | null = null;
  /** Why it failed (finishReason "error"): a RequestError, or what went wrong on our side. */
  error: Error | null = null;

  constructor(init: RequestInit) {
    this.id = init.id;
    this.parentId = init.parentId;
    this.index = init.index;
    this.part = init.part;
    this.params = init.params;
    this.salt = init.salt;
    this.arrival = init.arrival;
    this.tokens = [...init.prompt];
    this.promptLength = init.prompt.length;
    this.sampler = init.sampler;
    this.detokenizer = init.detokenizer;
    this.constraint = init.constraint ?? null;
    this.jumpForward = init.jumpForward === true;
    this.stop = new StopMatcher(init.params.stop ?? []);
    this.pool = init.pool ?? null;
    this.prediction = init.prediction ?? [];
    const start = init.promptLogprobsStart ?? -1;
    this.promptLogprobsStart = start >= 1 ? Math.min(start, this.promptLength) : -1;
    const from = this.promptLogprobsStart;
    this.promptLogprobs = from < 1 ? null : {
      start: from,
      tokenIds: this.tokens.slice(from, this.promptLength),
      logprobs: new Array<number>(this.promptLength - from).fill(Number.NaN),
    };
  }

  /** The cache key of the first `n` tokens. */
  key(n = this.tokens.length): CacheKey {
    return { ids: n === this.tokens.length ? this.tokens : this.tokens.slice(0, n), salt: this.salt };
  }

  get outputLength(): number {
    return this.tokens.length - this.promptLength;
  }

  /** The output token ids as shown: without a final stop token. */
  get outputIds(): number[] {
    return this.tokens.slice(this.promptLength, this.tokens.length - (this.endedOnStopToken ? 1 : 0));
  }

  /** Tokens still to compute before the next logits. */
  get pending(): number {
    return this.tokens.length - this.computed;
  }

  /** Tokens the cache may serve at admission: all but the last, and none whose logits are wanted. */
  get matchLimit(): number {
    // A mean or first-token pool needs every row's hidden state, and the cache keeps only K/V.
    if (this.pool && this.pool.type !== "last") return 0;
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
