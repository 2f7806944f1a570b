// Continuous batching over a shared KV pool with prefix reuse. Each step: one token for
// every decoding request, then chunks of prefills (running ones first, then admissions in
// policy order) within the token budget. When the pool is short, unlocked cache entries
// are evicted; when that is not enough, the most recently admitted request is retracted:
// its progress goes into the cache and it waits again, resuming from the cache later.
import type { KVPool } from "../kvcache/pool.js";
import type { PrefixCache } from "../kvcache/prefix-cache.js";
import type { Request } from "../engine/request.js";
import { orderCandidates, type Candidate, type PolicyName } from "./policy.js";
import type { Batch, BatchEntry } from "./plan.js";

/** Shared tokens beyond the cached ones that make a request wait for another's prefill. */
const IN_BATCH_PREFIX_THRESHOLD = 32;

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
}

export class Scheduler {
  readonly waiting: Request[] = [];
  readonly running: Request[] = [];
  /** Requests retracted for memory since the start (statistics). */
  retractions = 0;
  /** Admission candidates matched while the previous step's forward pass ran. */
  private prepared: Candidate[] | null = null;
  /** The cache's version when `prepared` was matched. */
  private preparedVersion = -1;

  constructor(private readonly pool: KVPool, readonly cache: PrefixCache, private readonly opts: SchedulerOptions) {}

  enqueue(req: Request): void {
    this.waiting.push(req);
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0;
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
    budget -= decodeTokens;
    // 2. Prefills already under way (chunked), oldest first.
    let prefillTokens = 0;
    for (const req of this.running) {
      if (budget <= 0) break;
      if (inBatch.has(req) || req.pending <= 1) continue;
      const count = Math.min(req.pending, budget);
      if (!this.grow(req, count, inBatch)) break;
      entries.push({ req, start: req.computed, count, wantLogits: count === req.pending });
      inBatch.add(req);
      budget -= count;
      prefillTokens += count;
    }
    // 3. Admissions.
    if (budget > 0 && this.waiting.length > 0 && this.running.length < this.opts.maxRunningRequests) {
      for (const c of this.takeCandidates()) {
        if (budget <= 0 || this.running.length >= this.opts.maxRunningRequests) break;
        if (this.sharesUncachedPrefix(c)) continue;
        const e = this.admit(c.req, budget);
        if (!e) break;
        entries.push(e);
        inBatch.add(c.req);
        budget -= e.count;
        prefillTokens += e.count;
      }
    }
    // Prefill first: decoding waits for a step with no prefill work.
    if (!mixed && entries.length === 0) decodeTokens = this.scheduleDecodes(entries, inBatch);
    if (entries.length === 0) return null;
    return { entries, prefillTokens, decodeTokens };
  }

  /** Adds one token for every decoding request (retracting others when memory runs out); returns how many. */
  private scheduleDecodes(entries: BatchEntry[], inBatch: Set<Request>): number {
    let n = 0;
    for (const req of [...this.running]) {
      if (req.status !== "running" || req.pending !== 1) continue;
      if (!this.grow(req, 1, inBatch)) continue;
      entries.push({ req, start: req.computed, count: 1, wantLogits: true });
      inBatch.add(req);
      n++;
    }
    return n;
  }

  /**
   * Matches the waiting requests against the cache ahead of the next schedule(), so that
   * work overlaps the running forward pass. Matches only order admissions; admit() matches
   * again, so a stale one never changes what is computed. They are dropped when the cache
   * changed in between (a finished prefill chunk adds entries): lpm must see those matches,
   * or it admits a stranger ahead of the requests that share the prefix just computed.
   */
  prepare(): void {
    this.prepared = this.waiting.map((req) => this.candidate(req));
    this.preparedVersion = this.cache.version;
  }

  private candidate(req: Request): Candidate {
    const m = this.cache.match(req.tokens.slice(0, req.matchLimit), req.salt);
    return { req, matched: m.slots.length, node: m.handle.id };
  }

  private takeCandidates(): Candidate[] {
    const waiting = new Set(this.waiting);
    const fresh = this.prepared !== null && this.preparedVersion === this.cache.version;
    const ready = fresh ? this.prepared!.filter((c) => waiting.has(c.req)) : [];
    this.prepared = null;
    const seen = new Set(ready.map((c) => c.req));
    for (const req of this.waiting) if (!seen.has(req)) ready.push(this.candidate(req));
    return orderCandidates(this.opts.policy, ready);
  }

  /**
   * Whether a prefill under way (or admitted this step) is computing a prefix this request
   * shares beyond what the cache holds: then it waits a step and reuses that prefix instead
   * of computing it again (SGLang's in-batch prefix check).
   */
  private sharesUncachedPrefix(c: Candidate): boolean {
    if (!this.cache.keepsEntries) return false;
    for (const r of this.running) {
      if (r.computed >= r.promptLength || r.salt !== c.req.salt) continue;
      let n = 0;
      const limit = Math.min(r.promptLength, c.req.tokens.length - 1);
      while (n < limit && r.tokens[n] === c.req.tokens[n]) n++;
      if (n >= c.matched + IN_BATCH_PREFIX_THRESHOLD) return true;
    }
    return false;
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

  private admit(req: Request, budget: number): BatchEntry | null {
    // Match again: earlier admissions in this step may have evicted or added entries.
    // Always leave one token to compute so there are logits to sample from (and every row
    // whose logits give prompt logprobs).
    const m = this.cache.match(req.tokens.slice(0, req.matchLimit), req.salt);
    const matched = m.slots.length;
    const count = Math.min(req.tokens.length - matched, budget);
    const reserve = this.reserved() + this.decodeReserve(req);
    this.cache.lock(m.handle);
    const available = this.pool.freeCount + this.cache.stats().evictableTokens;
    if (available < count + reserve && this.running.length > 0) {
      this.cache.unlock(m.handle);
      return null;
    }
    const fresh = this.alloc(count);
    if (!fresh) {
      this.cache.unlock(m.handle);
      return null;
    }
    this.waiting.splice(this.waiting.indexOf(req), 1);
    req.ensureSlots(matched + count);
    req.slots.set(m.slots, 0);
    req.slots.set(fresh, matched);
    req.prefixLength = matched;
    req.computed = matched;
    req.allocated = matched + count;
    req.handle = m.handle;
    if (req.cachedPromptTokens < 0) {
      req.cachedPromptTokens = Math.min(matched, req.promptLength);
      this.cache.recordQuery(req.promptLength, req.cachedPromptTokens);
    }
    req.status = "running";
    this.running.push(req);
    return { req, start: matched, count, wantLogits: matched + count === req.tokens.length };
  }

  /** Allocates `n` more slots for a running request, retracting others if needed. */
  private grow(req: Request, n: number, inBatch: Set<Request>): boolean {
    let fresh = this.alloc(n);
    while (!fresh) {
      const victim = [...this.running].reverse().find((r) => r !== req && !inBatch.has(r));
      if (!victim) return false;
      this.retract(victim);
      fresh = this.alloc(n);
    }
    req.ensureSlots(req.allocated + n);
    req.slots.set(fresh, req.allocated);
    req.allocated += n;
    return true;
  }

  private alloc(n: number): Int32Array | null {
    const short = n - this.pool.freeCount;
    if (short > 0) this.cache.evict(short);
    return this.pool.alloc(n);
  }

  /** After a step: the computed tokens are in the pool; chunk progress goes into the cache. */
  complete(batch: Batch): void {
    for (const e of batch.entries) {
      const req = e.req;
      req.computed = e.start + e.count;
      // Prefill progress is cached at once, so requests sharing this prefix (the other
      // samples of n > 1, a burst of same-prompt requests) reuse it while this one runs.
      if (this.cache.keepsEntries && !req.aborted && e.start < req.promptLength) this.cacheProgress(req);
    }
  }

  /** Inserts a running request's computed tokens and re-points its prefix at the cache's slots. */
  private cacheProgress(req: Request): void {
    const ids = req.tokens.slice(0, req.computed);
    const r = this.cache.insert(ids, req.slots.slice(0, req.computed), req.salt);
    if (r.alreadyCached > req.prefixLength) this.pool.free(req.slots.subarray(req.prefixLength, r.alreadyCached));
    const m = this.cache.match(ids, req.salt);
    this.cache.lock(m.handle);
    if (req.handle) this.cache.unlock(req.handle);
    req.handle = m.handle;
    req.slots.set(m.slots, 0);
    req.prefixLength = m.slots.length;
  }

  /** Releases a request that is done (finished or aborted): its KV goes into the cache. */
  release(req: Request): void {
    const i = this.running.indexOf(req);
    if (i >= 0) {
      this.running.splice(i, 1);
      this.saveAndUnlock(req);
    } else {
      const w = this.waiting.indexOf(req);
      if (w >= 0) this.waiting.splice(w, 1);
    }
    req.status = "finished";
  }

  private saveAndUnlock(req: Request): void {
    // Slots allocated for tokens that never got computed (a step that failed) go back as is.
    if (req.allocated > req.computed) this.pool.free(req.slots.subarray(req.computed, req.allocated));
    const r = this.cache.insert(req.tokens.slice(0, req.computed), req.slots.slice(0, req.computed), req.salt);
    if (this.cache.keepsEntries && r.alreadyCached > req.prefixLength) {
      this.pool.free(req.slots.subarray(req.prefixLength, r.alreadyCached));
    }
    if (req.handle) this.cache.unlock(req.handle);
    req.handle = null;
    req.prefixLength = 0;
    req.computed = 0;
    req.allocated = 0;
  }

  private retract(req: Request): void {
    this.running.splice(this.running.indexOf(req), 1);
    this.saveAndUnlock(req);
    req.status = "waiting";
    this.waiting.unshift(req);
    this.retractions++;
  }

  /** Slots held by running requests outside the cache. */
  ownedSlots(): number {
    let n = 0;
    for (const r of this.running) n += r.allocated - r.prefixLength;
    return n;
  }

  /** free + evictable + protected + owned == capacity; throws when it does not hold. */
  checkAccounting(): void {
    const s = this.cache.stats();
    const total = this.pool.freeCount + s.evictableTokens + s.protectedTokens + this.ownedSlots();
    if (total !== this.pool.capacity) {
      throw new Error(`KV accounting broken: free ${this.pool.freeCount} + evictable ${s.evictableTokens} + protected ${s.protectedTokens} + owned ${this.ownedSlots()} != ${this.pool.capacity}`);
    }
  }
}
