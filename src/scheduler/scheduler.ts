// Continuous batching over a shared KV pool with prefix reuse. The scheduler owns every
// request from admission to release.
//
// schedule(): one token for every decoding request, then chunks of prefills (running ones
// first, then admissions in policy order) within the token budget. When the pool is short,
// unlocked cache entries are evicted; when that is not enough, the most recently admitted
// request is retracted: its progress goes into the cache and it waits again.
// complete(): the step's tokens are computed; prefill progress goes into the cache, and the
// parked samples of an n > 1 request start once their prompt is cached.
// postprocess(): sampled tokens are appended and finish conditions checked; a finished
// request's KV goes into the cache and it is released.
import type { KVPool } from "../kvcache/pool.js";
import type { CacheStats, PrefixCache } from "../kvcache/prefix-cache.js";
import { CacheManager } from "./cache-manager.js";
import type { FinishReason, Request, TokenLogprob } from "./request.js";
import { appendToken, flushOutput } from "./output.js";
import type { PolicyName } from "./policy.js";
import { Candidates, sharesUncachedPrefix } from "./candidates.js";
import type { DiskLoader } from "./disk-loader.js";
import type { Drafter } from "./drafter.js";
import { DraftSlots } from "./drafts.js";
import { ParkedSamples } from "./parked.js";
import { draftRows, type Batch, type BatchEntry } from "./plan.js";

/**
 * Prefill-first steps in a row while requests wait to decode; then one decode step. A steady
 * stream of arrivals (or a client that submits in a loop) cannot starve decoding.
 */
const MAX_DECODE_WAIT = 8;

export interface SchedulerOptions {
  /** Most tokens computed in one step (prefill chunks included). */
  readonly chunkedPrefillSize: number;
  readonly maxRunningRequests: number;
  readonly policy: PolicyName;
  /** Share of a running request's remaining max_new_tokens held back at admission. */
  readonly decodeReserveRatio: number;
  /**
   * Decode tokens ride in the same step as prefill chunks (true), or a step is either all
   * prefill or all decode, prefill first whenever there is any (false: SGLang's default
   * without mixed chunks). On a CPU a decode row costs as much as a prefill row, so
   * mixing buys smoother streams at the price of time to first token.
   */
  readonly mixedSteps?: boolean;
  /**
   * A request that shares more than the cached prefix with a prefill under way waits for it
   * (default true). Only worth it when the cache keeps what that prefill computes.
   */
  readonly waitForSharedPrefill?: boolean;
}

/** admit(): the request is admitted to load its prefix first, with no rows this step. */
const LOADING = "loading";

/** What a step, an abort or a failure produced for one request, in order. */
export type OutputEvent =
  | { readonly kind: "token"; readonly req: Request; readonly tokenId: number; readonly text: string; readonly logprob?: TokenLogprob }
  /** The request is released; `text` is what was held back until now. */
  | { readonly kind: "finish"; readonly req: Request; readonly text: string };

/** The token sampled for a request this step. */
export interface Sampled {
  readonly req: Request;
  readonly token: number;
  readonly logprob?: TokenLogprob;
}

export class Scheduler {
  readonly waiting: Request[] = [];
  readonly running: Request[] = [];
  /** Samples of n > 1 waiting for their first sibling to cache the prompt, by that sibling. */
  private readonly parked = new ParkedSamples();
  /** Requests retracted for memory since the start (statistics). */
  retractions = 0;
  /** Prefill-first: prefill steps in a row that left decoding requests waiting. */
  private decodeWait = 0;

  private readonly kv: CacheManager;
  private readonly candidates: Candidates;
  private loader: DiskLoader | null = null;
  private readonly drafts: DraftSlots;

  constructor(pool: KVPool, cache: PrefixCache, private readonly opts: SchedulerOptions) {
    this.kv = new CacheManager(pool, cache);
    this.candidates = new Candidates(this.kv, opts.policy);
    this.drafts = new DraftSlots(this.kv);
  }

  /** Decoding requests draft tokens to verify through `drafter` (speculative decoding). */
  setDrafter(drafter: Drafter): void {
    this.drafts.drafter = drafter;
  }

  /** Admissions load what the disk holds of their prefixes through `loader` (the engine's disk tier). */
  setDiskLoader(loader: DiskLoader): void {
    this.loader = loader;
  }

  /**
   * The load of `req`'s prefix is over: `tokens` tokens are in its slots (ok), or it computes
   * them (not ok; its slots are its own either way). Its prefix goes into the cache.
   */
  loaded(req: Request, ok: boolean, tokens: number): void {
    req.loading = false;
    if (ok) req.computed = req.prefixLength + tokens;
    // Else it computes that part, chunk by chunk, in slots allocated as it goes.
    else this.kv.trim(req);
    this.kv.recordHit(req, ok ? tokens : 0);
    if (ok && !req.aborted) this.kv.cacheRequest(req, false);
  }

  /**
   * Queues the samples of one prompt. The first computes the prompt; the others park until
   * it is cached, then start from the cache.
   */
  enqueue(samples: readonly Request[]): void {
    const [first, ...rest] = samples;
    if (!first) return;
    this.waiting.push(first);
    this.parked.park(first, rest);
  }

  /** Requests not yet admitted: waiting and parked. */
  get queued(): number {
    return this.waiting.length + this.parked.count;
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0 && this.parked.count === 0;
  }

  /** The next batch, with every slot it writes allocated; null when there is nothing to run. */
  schedule(): Batch | null {
    const entries: BatchEntry[] = [];
    const inBatch = new Set<Request>();
    let budget = this.opts.chunkedPrefillSize;
    let decodeTokens = 0;

    const mixed = this.opts.mixedSteps ?? true;
    // 1. Decoding requests: one token each, retracting others when memory runs out.
    if (mixed) decodeTokens = this.scheduleDecodes(entries, inBatch);
    else if (this.decodeWait >= MAX_DECODE_WAIT) {
      this.decodeWait = 0;
      decodeTokens = this.scheduleDecodes(entries, inBatch);
      if (entries.length > 0) return { entries, prefillTokens: 0, decodeTokens };
    }
    // Drafted rows ride on top of the budget: they never take a prefill's place.
    budget -= decodeTokens - draftRows(entries);
    // 2. Prefills already under way (chunked), oldest first.
    let prefillTokens = 0;
    for (const req of this.running) {
      if (budget <= 0) break;
      if (inBatch.has(req) || req.pending <= 1 || req.loading) continue;
      const count = Math.min(req.pending, budget);
      if (!this.grow(req, count, inBatch)) break;
      entries.push({ req, start: req.computed, count, wantLogits: count === req.pending });
      inBatch.add(req);
      budget -= count;
      prefillTokens += count;
    }
    // 3. Admissions.
    if (budget > 0 && this.waiting.length > 0 && this.running.length < this.opts.maxRunningRequests) {
      for (const c of this.candidates.take(this.waiting)) {
        if (budget <= 0 || this.running.length >= this.opts.maxRunningRequests) break;
        if (this.opts.waitForSharedPrefill !== false && sharesUncachedPrefix(this.running, c)) continue;
        const e = this.admit(c.req, budget);
        if (!e) break;
        if (e === LOADING) continue;
        entries.push(e);
        inBatch.add(c.req);
        budget -= e.count;
        prefillTokens += e.count;
      }
    }
    // Prefill first: decoding waits for a step with no prefill work (or for too many of them).
    if (!mixed && entries.length === 0) decodeTokens = this.scheduleDecodes(entries, inBatch);
    else if (!mixed) this.decodeWait = this.running.some((r) => r.pending === 1 && !inBatch.has(r)) ? this.decodeWait + 1 : 0;
    if (entries.length === 0) return null;
    return { entries, prefillTokens, decodeTokens };
  }

  /**
   * Adds one token for every decoding request (retracting others when memory runs out), and
   * the drafts of speculating ones (which never retract anyone); returns how many tokens,
   * drafts included.
   */
  private scheduleDecodes(entries: BatchEntry[], inBatch: Set<Request>): number {
    let n = 0;
    const prefills = this.waiting.length > 0 || this.running.some((r) => r.pending > 1);
    let drafts = this.drafts.budget(this.opts.chunkedPrefillSize, prefills);
    for (const req of [...this.running]) {
      if (req.status !== "running" || req.pending !== 1 || req.loading) continue;
      const draft = drafts > 0 ? this.drafts.draftFor(req, drafts) : null;
      if (draft) {
        entries.push({ req, start: req.computed, count: 1 + draft.length, wantLogits: true, draft });
        drafts -= draft.length;
        n += 1 + draft.length;
      } else {
        if (!this.grow(req, 1, inBatch)) continue;
        entries.push({ req, start: req.computed, count: 1, wantLogits: true });
        n++;
      }
      inBatch.add(req);
    }
    return n;
  }

  /** Verifying a draft: the rows before `computed` hold the request's real tokens (drafts.ts). */
  draftVerified(req: Request, computed: number): void {
    this.drafts.verified(req, computed);
  }

  /** After a draft's verification: the rows the model disagreed with give their slots back. */
  settleDraft(req: Request): void {
    if (req.status === "running") this.drafts.settle(req);
  }

  /** Matches the waiting requests ahead of the next schedule(), while a forward pass runs (candidates.ts). */
  prepare(): void {
    this.candidates.prepare(this.waiting);
  }

  /** Tokens of future decoding the running requests may still need. */
  private reserved(): number {
    let n = 0;
    for (const r of this.running) n += this.decodeReserve(r);
    return n;
  }

  /** A request's share of future decoding, capped as SGLang does: max_tokens defaults to the whole context. */
  private decodeReserve(r: Request): number {
    return Math.ceil(Math.min(Math.max(0, r.params.maxNewTokens - r.outputLength), 4096) * this.opts.decodeReserveRatio);
  }

  private admit(req: Request, budget: number): BatchEntry | typeof LOADING | null {
    // Match again: earlier admissions in this step may have evicted or added entries.
    // Always leave one token to compute so there are logits to sample from (and every row
    // whose logits give prompt logprobs).
    const m = this.kv.match(req);
    const matched = m.slots.length;
    const onDisk = m.disk && this.loader?.wants(req) ? m.disk.reduce((a, r) => a + r.length, 0) : 0;
    if (onDisk > 0) {
      // Slots for the part on disk, and room for the rest as for any admission.
      const room = this.running.length > 0 ? req.tokens.length - matched - onDisk + this.reserved() + this.decodeReserve(req) : 0;
      if (!this.kv.attach(req, m, onDisk, room, false)) return null;
      this.start(req);
      req.loading = true;
      this.loader!.load(req, m.disk!, req.slots.slice(matched, matched + onDisk));
      return LOADING;
    }
    const count = Math.min(req.tokens.length - matched, budget);
    const reserve = this.reserved() + this.decodeReserve(req);
    // All it has left to compute must fit, not just this chunk: a later chunk that does not
    // retracts a running request, which (with nothing cached) may do the same in turn. Alone,
    // it goes ahead and relies on retraction.
    const room = this.running.length > 0 ? req.tokens.length - matched - count + reserve : 0;
    if (!this.kv.attach(req, m, count, room)) return null;
    this.start(req);
    return { req, start: matched, count, wantLogits: matched + count === req.tokens.length };
  }

  private start(req: Request): void {
    this.waiting.splice(this.waiting.indexOf(req), 1);
    req.status = "running";
    this.running.push(req);
  }

  /** Allocates `n` more slots for a running request, retracting others if needed. */
  private grow(req: Request, n: number, inBatch: Set<Request>): boolean {
    while (!this.kv.grow(req, n)) {
      // Not one whose load is writing its slots.
      const victim = [...this.running].reverse().find((r) => r !== req && !inBatch.has(r) && !r.loading);
      if (!victim) return false;
      this.retract(victim);
    }
    return true;
  }

  /** After a step: the computed tokens are in the pool; prefill progress goes into the cache. */
  complete(batch: Batch): void {
    for (const e of batch.entries) {
      const req = e.req;
      // Drafted rows count as computed only as far as their verification accepts them.
      req.computed = e.start + e.count - (e.draft?.length ?? 0);
      // Prefill progress is cached at once, so requests sharing this prefix (the other
      // samples of n > 1, a burst of same-prompt requests) reuse it while this one runs.
      if (req.aborted || e.start >= req.promptLength) continue;
      this.kv.cacheRequest(req, false);
      if (req.computed >= req.promptLength) this.unpark(req);
    }
  }

  /** The samples parked behind `req` start: its prompt is cached (or it is gone, and they compute it). */
  private unpark(req: Request): void {
    for (const r of this.parked.release(req)) {
      r.status = "waiting";
      this.waiting.push(r);
    }
  }

  private retract(req: Request): void {
    this.running.splice(this.running.indexOf(req), 1);
    this.kv.cacheRequest(req, true);
    req.status = "waiting";
    this.waiting.unshift(req);
    this.retractions++;
  }

  /**
   * Appends each request's sampled token and checks whether it is done; done requests are
   * released. `limited`: requests that reached max_new_tokens without sampling (asked for 0).
   */
  postprocess(sampled: readonly Sampled[], limited: readonly Request[] = []): OutputEvent[] {
    const out: OutputEvent[] = [];
    for (const req of limited) out.push(...this.finish(req, "length"));
    for (const s of sampled) this.append(s.req, s.token, s.logprob, true, out);
    return out;
  }

  /** Appends tokens a grammar forced (jump-forward: its matcher took them already). */
  appendForced(req: Request, ids: readonly number[], logprobs: (id: number) => TokenLogprob | undefined): OutputEvent[] {
    const out: OutputEvent[] = [];
    for (const id of ids) if (!this.append(req, id, logprobs(id), false, out)) break;
    return out;
  }

  /** Appends one token; returns whether the request goes on. */
  private append(req: Request, id: number, logprob: TokenLogprob | undefined, toMatcher: boolean, out: OutputEvent[]): boolean {
    if (req.status === "finished") return false;
    if (req.aborted) {
      out.push(...this.finish(req, "abort"));
      return false;
    }
    let r;
    try {
      r = appendToken(req, id, logprob, toMatcher);
    } catch (err) {
      out.push(...this.fail(req, err));
      return false;
    }
    if (r.shown) out.push({ kind: "token", req, tokenId: id, text: r.text, ...(logprob ? { logprob } : {}) });
    if (!r.finish) return true;
    out.push(...this.finish(req, r.finish));
    return false;
  }

  /** Ends a request for its own failure: only it (the caller decides about its siblings). */
  fail(req: Request, err: unknown): OutputEvent[] {
    req.error = err instanceof Error ? err : new Error(String(err));
    return this.finish(req, "error");
  }

  /**
   * Releases a request, wherever it is: a running one's KV goes into the cache (call this
   * between steps, never while a forward pass uses its slots). Returns its finish event.
   */
  finish(req: Request, reason: FinishReason): OutputEvent[] {
    if (req.status === "finished") return [];
    if (req.status === "running") {
      this.running.splice(this.running.indexOf(req), 1);
      this.kv.cacheRequest(req, true);
    } else if (req.status === "waiting") {
      const i = this.waiting.indexOf(req);
      if (i >= 0) this.waiting.splice(i, 1);
    } else if (req.status === "parked") {
      this.parked.remove(req);
    }
    // Samples still parked behind it compute the prompt themselves.
    this.unpark(req);
    req.status = "finished";
    req.finishReason = reason;
    req.constraint?.dispose();
    let text = "";
    try {
      text = flushOutput(req);
    } catch {
      // A detokenizer that fails at the end costs only the held-back tail.
    }
    return [{ kind: "finish", req, text }];
  }

  /** Releases the aborted requests (between steps); their finish events. */
  reapAborted(): OutputEvent[] {
    // Called before every step: collect first (finishing changes the queues), copy nothing when none is aborted.
    // One whose load is writing its slots goes once the load is in.
    const aborted = this.running.filter((r) => r.aborted && !r.loading);
    for (const r of this.waiting) if (r.aborted) aborted.push(r);
    aborted.push(...this.parked.aborted());
    return aborted.flatMap((r) => this.finish(r, "abort"));
  }

  /** A forward pass failed: every request in it fails; the rest go on. */
  failBatch(batch: Batch, err: unknown): OutputEvent[] {
    return batch.entries.flatMap((e) => this.fail(e.req, err));
  }

  /** Drops every cached entry no request is using; false while requests run (as SGLang). */
  flushCache(): boolean {
    if (!this.idle) return false;
    this.kv.flush();
    return true;
  }

  cacheStats(): CacheStats {
    return this.kv.stats();
  }

  /** Slots held by running requests outside the cache. */
  ownedSlots(): number {
    let n = 0;
    for (const r of this.running) n += r.allocated - r.prefixLength;
    return n;
  }

  /** free + evictable + protected + owned == capacity; throws when it does not hold. */
  checkAccounting(): void {
    this.kv.checkAccounting(this.running);
  }
}
