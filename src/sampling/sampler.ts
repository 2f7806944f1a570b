// Picks the next token from one row of logits, for one request (or one of its n samples).
//
// sample() does, in this order:
//   1. Processing, on a copy of the logits: repetition penalty (over prompt + output
//      tokens), frequency and presence penalties (output tokens only), logit_bias, the
//      allowed-token mask, and -- while fewer than min_new_tokens tokens were generated --
//      a ban on EOS and stop_token_ids (dropped if the mask allows nothing else).
//   2. Selection: greedy (argmax, lowest id among equal maxima) when temperature < 1e-5;
//      otherwise temperature, min_p, top_k, then top_p renormalised over what top_k kept
//      (vLLM's order), and one draw among the kept tokens, walked in id order.
//   3. Logprobs, when asked: the log-softmax of the processed logits (step 1) at
//      temperature 1, before temperature / min_p / top_k / top_p (vLLM's "processed
//      logprobs"); so they describe the model as constrained, not the sampling knobs.
//      With logprobs_mode "raw", the log-softmax of the logits as the model gave them.
//
// Randomness: the draw for output position k is number k of the mulberry32 stream of the
// sample's seed. sample() reads the sampler's state and never changes it (calling it again
// gives the same result); accept(token) records the token the engine appended and moves
// to the next position. The same seed therefore gives the same tokens whatever else
// shares the batch, and a result that is thrown away leaves no trace.
//
// Cost per token: a copy and a max pass over the vocabulary; sampling adds one exp pass
// (none for top_k <= 64). top_k and top_p never sort: a histogram of the scaled logits
// finds the bucket where the cut falls, and quickselect resolves it inside that bucket.
import { mulberry32 } from "../util/random.js";
import { logSumExp, topLogprobs, type TokenLogprob } from "./logprobs.js";
import { drawCut, reserve, argmax, applyMask } from "./select.js";
import { logitBiasEntries, type SamplingParams } from "./params.js";

/** Below this temperature sampling is greedy (as in vLLM and SGLang). */
export const GREEDY_TEMPERATURE = 1e-5;

export interface SamplerOptions {
  /** Prompt token ids; with repetition_penalty they count as seen. */
  readonly promptTokens?: ArrayLike<number>;
  /** Length of every logits row; checked, and token ids in the params checked against it. */
  readonly vocabSize?: number;
  /** The model's EOS ids: banned before min_new_tokens (unless ignore_eos); see isStopToken. */
  readonly eosTokenIds?: readonly number[];
  /** Which of the request's n samples this is (0-based); picks its seed stream. */
  readonly sampleIndex?: number;
}

export interface SampleOptions {
  /** Allowed tokens (bit i % 32 of word i / 32 set = allowed), e.g. a grammar's mask. */
  readonly mask?: Uint32Array;
}

export interface SampleResult {
  readonly token: number;
  /** log P(token) under the processed logits at temperature 1; NaN unless params.logprobs. */
  readonly logprob: number;
  /** The top_logprobs most likely tokens (finite ones only), best first; when asked for. */
  readonly topLogprobs?: TokenLogprob[];
}

/**
 * The seed of sample `sampleIndex` of a request seeded with `seed` (any safe integer).
 * Sample 0 keeps the request's seed, so n = 1 and the first of n samples agree.
 */
export function deriveSeed(seed: number, sampleIndex: number): number {
  const high = Math.floor(seed / 4294967296) | 0;
  const base = high === 0 ? seed >>> 0 : ((seed >>> 0) ^ fmix32(high ^ 0x5bd1e995)) >>> 0;
  return sampleIndex === 0 ? base : fmix32(base ^ fmix32(Math.imul(sampleIndex, 0x9e3779b9)));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Number k (0-based) of the mulberry32 stream of `seed`, without walking the stream. */
export function uniformAt(seed: number, k: number): number {
  // mulberry32 adds 0x6d2b79f5 to its state before each output.
  return mulberry32((seed + Math.imul(k, 0x6d2b79f5)) >>> 0)();
}

/** Mask and bias left no token with a finite logit: the request cannot go on. */
export class NoTokenAllowedError extends Error {
  override name = "NoTokenAllowedError";
  constructor(readonly position: number) {
    super(`no token is allowed at output position ${position} (every logit is -Infinity or NaN after the grammar's mask and logit_bias)`);
  }
}

export class Sampler {
  readonly seed: number;
  private readonly vocabSize: number | undefined;
  private readonly greedy: boolean;
  private readonly topK: number; // 0: no cut
  private readonly minP: number;
  private readonly repetition: number;
  private readonly frequency: number;
  private readonly presence: number;
  private readonly biasIds: Int32Array;
  private readonly biasValues: Float32Array;
  /** EOS (unless ignore_eos) and stop_token_ids: banned before min_new_tokens. */
  private readonly stopIds: Int32Array;
  private readonly stopSet: ReadonlySet<number>;
  private readonly stash: Float32Array;
  private readonly topScratch: Int32Array;
  // Penalty state, kept only when a penalty is on.
  private readonly seen = new Set<number>();
  private readonly seenIds: number[] = [];
  private readonly outIndex = new Map<number, number>();
  private readonly outIds: number[] = [];
  private readonly outCounts: number[] = [];
  private count = 0;

  /** `params` come checked (checkSamplingParams): the engine checks a request once, at its boundary. */
  constructor(readonly params: SamplingParams, opts: SamplerOptions = {}) {
    const index = opts.sampleIndex ?? 0;
    if (!Number.isInteger(index) || index < 0 || index >= (params.n ?? 1)) {
      throw new Error(`sampler: sample index ${index} is outside 0..${(params.n ?? 1) - 1}`);
    }
    this.seed = params.seed === undefined ? Math.floor(Math.random() * 4294967296) : deriveSeed(params.seed, index);
    this.vocabSize = opts.vocabSize;
    this.greedy = params.temperature < GREEDY_TEMPERATURE;
    this.topK = Math.max(0, params.topK);
    this.minP = params.minP ?? 0;
    this.repetition = params.repetitionPenalty ?? 1;
    this.frequency = params.frequencyPenalty ?? 0;
    this.presence = params.presencePenalty ?? 0;
    const bias = logitBiasEntries(params.logitBias);
    this.biasIds = bias.ids;
    this.biasValues = bias.values;
    const stops = new Set(params.stopTokenIds ?? []);
    if (!params.ignoreEos) for (const id of opts.eosTokenIds ?? []) stops.add(id);
    this.stopSet = stops;
    this.stopIds = Int32Array.from(stops);
    this.stash = new Float32Array(this.stopIds.length);
    this.topScratch = new Int32Array(params.topLogprobs ?? 0);
    const prompt = opts.promptTokens ?? [];
    if (this.repetition !== 1) for (let i = 0; i < prompt.length; i++) this.see(prompt[i]!);
  }

  /** Output tokens accepted so far. */
  get generated(): number {
    return this.count;
  }

  /** Whether `token` ends the sequence: a stop_token_id, or EOS unless ignore_eos. */
  isStopToken(token: number): boolean {
    return this.stopSet.has(token);
  }

  /** Records a token the engine appended to the output (call it for every output token). */
  accept(token: number): void {
    this.count++;
    if (this.repetition !== 1) this.see(token);
    if (this.frequency !== 0 || this.presence !== 0) {
      const j = this.outIndex.get(token);
      if (j === undefined) {
        this.outIndex.set(token, this.outIds.length);
        this.outIds.push(token);
        this.outCounts.push(1);
      } else {
        this.outCounts[j]!++;
      }
    }
  }

  /** sample() and accept() in one, for a loop that keeps every token. */
  sampleToken(logits: Float32Array, opts?: SampleOptions): number {
    const token = this.sample(logits, opts).token;
    this.accept(token);
    return token;
  }

  /** The next token for this row of logits (not modified). Changes no state; see accept(). */
  sample(logits: Float32Array, opts?: SampleOptions): SampleResult {
    const n = logits.length;
    if (this.vocabSize !== undefined && n !== this.vocabSize) {
      throw new Error(`sampler: the logits row has ${n} entries, the vocabulary ${this.vocabSize}`);
    }
    const x = reserve(n);
    x.set(logits);
    const banned = this.process(x, n, opts?.mask);
    let best = argmax(x, n);
    if (best < 0 && banned) {
      // The mask allows only stop tokens: it wins over min_new_tokens.
      for (let j = 0; j < this.stopIds.length; j++) x[this.stopIds[j]!] = this.stash[j]!;
      best = argmax(x, n);
    }
    if (best < 0) throw new NoTokenAllowedError(this.count);
    const max = x[best]!;
    const token = this.greedy ? best : drawCut(x, n, max, this.params.temperature, this.minP, this.topK, this.params.topP, uniformAt(this.seed, this.count));
    if (this.params.logprobs !== true) return { token, logprob: NaN };
    // Raw mode reads the model's logits as given (step 1 never touched them: it works on a copy).
    const y = this.params.logprobsMode === "raw" ? logits : x;
    const top = y === x ? max : y[argmax(y, n)]!;
    const logZ = logSumExp(y, n, top);
    const logprob = y[token]! - logZ;
    if (this.topScratch.length === 0) return { token, logprob };
    return { token, logprob, topLogprobs: topLogprobs(y, n, this.topScratch.length, logZ, this.topScratch) };
  }

  private see(id: number): void {
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.seenIds.push(id);
  }

  /** Step 1 on x[0..n); returns whether stop tokens were banned (their values in stash). */
  private process(x: Float32Array, n: number, mask: Uint32Array | undefined): boolean {
    const r = this.repetition;
    for (let j = 0; j < this.seenIds.length; j++) {
      const id = this.seenIds[j]!;
      if (id >= 0 && id < n) x[id] = x[id]! > 0 ? x[id]! / r : x[id]! * r;
    }
    for (let j = 0; j < this.outIds.length; j++) {
      const id = this.outIds[j]!;
      if (id < n) x[id] = x[id]! - (this.outCounts[j]! * this.frequency + this.presence);
    }
    for (let j = 0; j < this.biasIds.length; j++) {
      const id = this.biasIds[j]!;
      if (id < n) x[id] = x[id]! + this.biasValues[j]!;
    }
    if (mask !== undefined) applyMask(x, n, mask);
    if (this.count >= (this.params.minNewTokens ?? 0) || this.stopIds.length === 0) return false;
    for (let j = 0; j < this.stopIds.length; j++) {
      const id = this.stopIds[j]!;
      if (id >= n) continue;
      this.stash[j] = x[id]!;
      x[id] = -Infinity;
    }
    return true;
  }

}

