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
import { expNeg, logSumExp, topLogprobs, topTokens, type TokenLogprob } from "./logprobs.js";
import { checkSamplingParams, logitBiasEntries, type SamplingParams } from "./params.js";

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

  constructor(readonly params: SamplingParams, opts: SamplerOptions = {}) {
    checkSamplingParams(params, opts.vocabSize);
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
    if (best < 0) throw new Error("sampler: no token is allowed (every logit is -Infinity or NaN after mask and bias)");
    const max = x[best]!;
    const token = this.greedy ? best : this.draw(x, n, max);
    if (this.params.logprobs !== true) return { token, logprob: NaN };
    const logZ = logSumExp(x, n, max);
    const logprob = x[token]! - logZ;
    if (this.topScratch.length === 0) return { token, logprob };
    return { token, logprob, topLogprobs: topLogprobs(x, n, this.topScratch.length, logZ, this.topScratch) };
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

  /**
   * Step 2 when not greedy: one draw among the tokens that temperature and the cuts keep.
   * Every cut keeps a prefix of the rank order (logit desc, then id asc), so the kept set
   * is "every token ranked at or before one boundary token"; it is walked in id order.
   */
  private draw(x: Float32Array, n: number, max: number): number {
    const invT = 1 / this.params.temperature;
    const zFloor = this.minP > 0 ? Math.log(this.minP) : -Infinity; // min_p: z >= log(min_p)
    const u = uniformAt(this.seed, this.count);
    const topK = this.topK;
    const topP = this.params.topP;
    if (topK > 0 && topK <= SMALL_K) return drawTopK(x, n, max, invT, zFloor, topK, topP, u);
    // One pass: weights, and a histogram of z = (logit - max) / T by count and mass that
    // tells in which bucket each cut falls; only that bucket is then resolved exactly.
    const cut = topK > 0 || topP < 1;
    if (cut) {
      counts.fill(0);
      masses.fill(0);
    }
    let total = 0;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const z = (v - max) * invT;
      if (!(v > -Infinity && z >= zFloor)) {
        weights[i] = 0;
        continue;
      }
      const w = expNeg(z);
      weights[i] = w;
      total += w;
      kept++;
      if (cut) {
        const b = bucketOfZ(z);
        counts[b]++;
        masses[b] += w;
      }
    }
    if (!cut) return walk(weights, n, u * total);
    let boundary = -1; // the last kept token in rank order; -1: every token above the floor
    let kBucket = BUCKETS; // the bucket where top_k cut, and how many of it it kept
    let kTaken = 0;
    let mass = total; // of what top_k kept
    if (topK > 0 && topK < kept) {
      let before = 0;
      let b = 0;
      for (mass = 0; before + counts[b]! < topK; b++) {
        before += counts[b]!;
        mass += masses[b]!;
      }
      kTaken = selectPrefix(x, null, ids, gatherBucket(x, n, max, invT, zFloor, b), topK - before);
      for (let j = 0; j < kTaken; j++) mass += weights[ids[j]!]!;
      kBucket = b;
      boundary = lastInRank(x, kTaken);
    }
    if (topP < 1) {
      const need = topP * mass; // renormalised over what top_k kept
      let acc = 0;
      let b = 0;
      for (; b < kBucket && b < BUCKETS - 1 && acc + masses[b]! < need; b++) acc += masses[b]!;
      // In top_k's bucket, the members it kept are still in ids[0..kTaken).
      const members = b === kBucket ? kTaken : gatherBucket(x, n, max, invT, zFloor, b);
      // (no members: rounding left the mass short of need everywhere; keep all)
      if (members > 0) boundary = lastInRank(x, selectPrefix(x, weights, ids, members, need - acc));
    }
    return drawKept(x, n, boundary, u);
  }
}

// ---- work buffers and selection ----

/** top_k up to this: one insertion pass, no exp over the vocabulary. */
const SMALL_K = 64;
/** Histogram of z = (logit - max) / T in steps of 1/16 down to -64; the last bucket holds the rest. */
const BUCKETS = 1024;
const BUCKETS_PER_UNIT = 16;

// Shared by all samplers: sample() is synchronous, so no two calls can interleave, and
// per-sampler copies would cost ~2.5 MB each at a 152k vocabulary.
let values = new Float32Array(0); // processed logits
let weights = new Float64Array(0); // exp((logit - max) / T) of the tokens above the floor, else 0
let ids = new Int32Array(0); // candidate token ids
const counts = new Int32Array(BUCKETS);
const masses = new Float64Array(BUCKETS);

function reserve(n: number): Float32Array {
  if (values.length < n) {
    values = new Float32Array(n);
    weights = new Float64Array(n);
    ids = new Int32Array(n);
  }
  return values;
}

function bucketOfZ(z: number): number {
  const b = -z * BUCKETS_PER_UNIT;
  return b < BUCKETS - 1 ? b | 0 : BUCKETS - 1;
}

/** The lowest id of the largest logit; -1 when none is > -Infinity. */
function argmax(x: Float32Array, n: number): number {
  let best = -1;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}

function applyMask(x: Float32Array, n: number, mask: Uint32Array): void {
  const words = (n + 31) >>> 5;
  if (mask.length < words) throw new Error(`sampler: the token mask has ${mask.length} words, the vocabulary needs ${words}`);
  for (let w = 0; w < words; w++) {
    const bits = mask[w]!;
    if (bits === 0xffffffff) continue;
    const base = w << 5;
    const end = Math.min(base + 32, n);
    for (let i = base; i < end; i++) if (((bits >>> (i - base)) & 1) === 0) x[i] = -Infinity;
  }
}

/** The tokens above the floor in bucket b into ids[0..), in id order; returns how many. */
function gatherBucket(x: Float32Array, n: number, max: number, invT: number, zFloor: number, b: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const z = (v - max) * invT;
    if (v > -Infinity && z >= zFloor && bucketOfZ(z) === b) ids[count++] = i;
  }
  return count;
}

/** Whether token a ranks before token b: higher logit, then lower id. */
function before(x: Float32Array, a: number, b: number): boolean {
  return x[a]! > x[b]! || (x[a] === x[b] && a < b);
}

/** The lowest-ranked of ids[0..count). */
function lastInRank(x: Float32Array, count: number): number {
  let last = ids[0]!;
  for (let j = 1; j < count; j++) if (before(x, last, ids[j]!)) last = ids[j]!;
  return last;
}

/**
 * Reorders ids[0..m) so that ids[0..c) is the shortest prefix, in rank order, whose
 * weight reaches `need`, and returns c (m if none does). `w` null: every token weighs 1.
 * Quickselect: expected O(m), no sort.
 */
function selectPrefix(x: Float32Array, w: Float64Array | null, ids: Int32Array, m: number, need: number): number {
  let lo = 0;
  let hi = m;
  while (hi - lo > 16) {
    // median of three as the pivot, moved to hi - 1
    const mid = (lo + hi) >>> 1;
    let a = ids[lo]!;
    let b = ids[mid]!;
    let c = ids[hi - 1]!;
    let t: number;
    if (before(x, b, a)) (t = a), (a = b), (b = t);
    if (before(x, c, b)) (t = b), (b = c), (c = t);
    if (before(x, b, a)) (t = a), (a = b), (b = t);
    ids[lo] = a;
    ids[mid] = c;
    ids[hi - 1] = b;
    const pivot = b;
    let store = lo;
    let mass = 0;
    for (let i = lo; i < hi - 1; i++) {
      const id = ids[i]!;
      if (before(x, id, pivot)) {
        ids[i] = ids[store]!;
        ids[store++] = id;
        mass += w === null ? 1 : w[id]!;
      }
    }
    ids[hi - 1] = ids[store]!;
    ids[store] = pivot;
    if (mass >= need) {
      hi = store;
      continue;
    }
    mass += w === null ? 1 : w[pivot]!;
    if (mass >= need) return store + 1;
    need -= mass;
    lo = store + 1;
  }
  for (let i = lo + 1; i < hi; i++) {
    const id = ids[i]!;
    let j = i;
    while (j > lo && before(x, id, ids[j - 1]!)) {
      ids[j] = ids[j - 1]!;
      j--;
    }
    ids[j] = id;
  }
  let mass = 0;
  for (let i = lo; i < hi; i++) {
    mass += w === null ? 1 : w[ids[i]!]!;
    if (mass >= need) return i + 1;
  }
  return hi;
}

/** top_k <= SMALL_K: the k best by insertion, then min_p and top_p down the ranked list. */
function drawTopK(x: Float32Array, n: number, max: number, invT: number, zFloor: number, k: number, topP: number, u: number): number {
  let count = topTokens(x, n, k, ids);
  while (count > 1 && !((x[ids[count - 1]!]! - max) * invT >= zFloor)) count--;
  let total = 0;
  for (let j = 0; j < count; j++) {
    const id = ids[j]!;
    const w = expNeg((x[id]! - max) * invT);
    weights[id] = w;
    total += w;
  }
  if (topP < 1) {
    const need = topP * total;
    let acc = 0;
    for (let j = 0; j < count; j++) {
      acc += weights[ids[j]!]!;
      if (acc >= need) {
        count = j + 1;
        break;
      }
    }
  }
  const kept = ids.subarray(0, count).sort();
  return walkIds(kept, count, u);
}

/** The first of w[0..n) whose running sum exceeds r (the last nonzero one if rounding runs out). */
function walk(w: Float64Array, n: number, r: number): number {
  let acc = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const wi = w[i]!;
    if (wi === 0) continue;
    acc += wi;
    last = i;
    if (r < acc) return i;
  }
  return last;
}

/** A draw among ids[0..count) (in id order) with probability proportional to their weights. */
function walkIds(list: Int32Array, count: number, u: number): number {
  let total = 0;
  for (let j = 0; j < count; j++) total += weights[list[j]!]!;
  const r = u * total;
  let acc = 0;
  let last = list[0]!;
  for (let j = 0; j < count; j++) {
    const wj = weights[list[j]!]!;
    if (wj === 0) continue;
    acc += wj;
    last = list[j]!;
    if (r < acc) return last;
  }
  return last;
}

/** A draw among the tokens ranked at or before `boundary` (-1: all with weight), in id order. */
function drawKept(x: Float32Array, n: number, boundary: number, u: number): number {
  if (boundary < 0) {
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    return walk(weights, n, u * total);
  }
  const bv = x[boundary]!;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (v > bv || (v === bv && i <= boundary)) ids[count++] = i;
  }
  return walkIds(ids, count, u);
}
