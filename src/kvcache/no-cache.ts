// The no-reuse cache (--disable-radix-cache): nothing is kept, so every insert frees the
// slots at once and every match is empty. Same interface and accounting as RadixCache.
import type { KVPool } from "./pool.js";
import type { CacheHandle, CacheStats, InsertResult, MatchResult, PrefixCache } from "./prefix-cache.js";

const NONE: CacheHandle = { id: 0 };

export class NoCache implements PrefixCache {
  readonly keepsEntries = false;
  readonly version = 0;
  private queried = 0;
  constructor(private readonly pool: KVPool) {}
  match(): MatchResult {
    return { slots: new Int32Array(0), handle: NONE };
  }
  insert(_ids: ArrayLike<number>, slots: Int32Array): InsertResult {
    this.pool.free(slots);
    // Nothing was cached, and the slots are already freed: the caller has none to free.
    return { alreadyCached: 0, handle: NONE };
  }
  lock(): void {}
  unlock(): void {}
  evict(): number {
    return 0;
  }
  flush(): void {
    this.queried = 0;
  }
  recordQuery(queried: number): void {
    this.queried += queried;
  }
  stats(): CacheStats {
    return { cachedTokens: 0, evictableTokens: 0, protectedTokens: 0, hitTokens: 0, queriedTokens: this.queried, evictedTokens: 0 };
  }
}
