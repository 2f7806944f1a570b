// The KV side of the scheduler: which slots each request holds, the leading ones the
// cache's (locked through the request's handle), the rest its own. Slots go back to the pool
// here and nowhere else; the prefix cache hands back what it evicts or does not keep.
import type { KVPool } from "../kvcache/pool.js";
import type { CacheStats, MatchResult, PrefixCache } from "../kvcache/prefix-cache.js";
import type { Request } from "./request.js";

export class CacheManager {
  constructor(private readonly pool: KVPool, private readonly cache: PrefixCache) {}

  /** Changes whenever cache entries are added or dropped. */
  get version(): number {
    return this.cache.version;
  }

  /** Slots free now, or once unlocked cache entries are evicted. */
  get available(): number {
    return this.pool.freeCount + this.cache.stats().evictableTokens;
  }

  /** The longest cached prefix a waiting request may start from. Lock it (attach) before using it. */
  match(req: Request): MatchResult {
    return this.cache.match(req.key(req.matchLimit));
  }

  /**
   * Starts a request on its matched prefix plus `count` fresh slots; false, holding nothing,
   * when the pool cannot give them, or cannot also keep `room` more for later.
   */
  attach(req: Request, m: MatchResult, count: number, room = 0, recordHit = true): boolean {
    // Locked first: the matched prefix is no longer evictable room.
    this.cache.lock(m.handle);
    const fresh = this.available >= count + room ? this.alloc(count) : null;
    if (!fresh) {
      this.cache.unlock(m.handle);
      return false;
    }
    const matched = m.slots.length;
    req.ensureSlots(matched + count);
    req.slots.set(m.slots, 0);
    req.slots.set(fresh, matched);
    req.prefixLength = matched;
    req.computed = matched;
    req.allocated = matched + count;
    req.handle = m.handle;
    if (recordHit) this.recordHit(req, 0);
    return true;
  }

  /** The request's prompt tokens served from the cache (its computed prefix now), `fromDisk` of them loaded from disk for it; once per request. */
  recordHit(req: Request, fromDisk: number): void {
    if (req.cachedPromptTokens >= 0) return;
    req.cachedPromptTokens = Math.min(req.computed, req.promptLength);
    this.cache.recordQuery(req.promptLength, req.cachedPromptTokens, Math.min(fromDisk, req.cachedPromptTokens));
  }

  /** Slots a running request holds past what it computed go back to the pool (a failed load's). */
  trim(req: Request): void {
    this.free(req.slots.subarray(req.computed, req.allocated));
    req.allocated = req.computed;
  }

  /** `n` more slots for a running request; false when the pool cannot give them. */
  grow(req: Request, n: number): boolean {
    const fresh = this.alloc(n);
    if (!fresh) return false;
    req.ensureSlots(req.allocated + n);
    req.slots.set(fresh, req.allocated);
    req.allocated += n;
    return true;
  }

  private alloc(n: number): Int32Array | null {
    const short = n - this.pool.freeCount;
    if (short > 0) this.free(this.cache.evict(short));
    return this.pool.alloc(n);
  }

  /** The one place slots go back to the pool. */
  private free(slots: Int32Array): void {
    if (slots.length > 0) this.pool.free(slots);
  }

  /**
   * Puts a request's computed tokens into the cache (mini-sglang's cache_req). Finished: its
   * slots go to the cache or back to the pool, and it holds nothing. Saving progress: it
   * keeps running on the cache's slots for what the cache holds, locked, and on its own for
   * the rest.
   */
  cacheRequest(req: Request, finished: boolean): void {
    const n = req.computed;
    const r = this.cache.insert(req.key(n), req.slots.subarray(0, n));
    // The slots of tokens someone else cached meanwhile are duplicates.
    if (r.alreadyCached > req.prefixLength) this.free(req.slots.subarray(req.prefixLength, r.alreadyCached));
    if (req.handle) this.cache.unlock(req.handle);
    req.handle = null;
    if (finished) {
      // What the cache did not keep (everything, for NoCache), and slots of tokens never
      // computed (a failed step). The cache keeps at least what was cached before.
      this.free(req.slots.subarray(r.cached, req.allocated));
      req.prefixLength = 0;
      req.computed = 0;
      req.allocated = 0;
      return;
    }
    const m = this.cache.match(req.key(n));
    this.cache.lock(m.handle);
    req.handle = m.handle;
    req.slots.set(m.slots, 0);
    req.prefixLength = m.slots.length;
  }

  /** Drops every unlocked cache entry. */
  flush(): void {
    this.free(this.cache.flush());
  }

  stats(): CacheStats {
    return this.cache.stats();
  }

  /** free + evictable + protected + owned by `running` == capacity; throws when it does not hold. */
  checkAccounting(running: readonly Request[]): void {
    const s = this.cache.stats();
    let owned = 0;
    for (const r of running) owned += r.allocated - r.prefixLength;
    const total = this.pool.freeCount + s.evictableTokens + s.protectedTokens + owned;
    if (total !== this.pool.capacity) {
      throw new Error(`KV accounting broken: free ${this.pool.freeCount} + evictable ${s.evictableTokens} + protected ${s.protectedTokens} + owned ${owned} != ${this.pool.capacity}`);
    }
  }
}
