// The no-reuse cache (--disable-radix-cache): nothing is kept, so every match is empty and
// every insert leaves all its slots with the caller. Same interface and accounting as
// RadixCache.
import type { CacheHandle, CacheStats, InsertResult, MatchResult, PrefixCache } from "./prefix-cache.js";

const NONE: CacheHandle = { id: 0 };
const EMPTY = new Int32Array(0);

export class NoCache implements PrefixCache {
  readonly version = 0;
  private queried = 0;
  match(): MatchResult {
    return { slots: EMPTY, handle: NONE };
  }
  insert(): InsertResult {
    return { alreadyCached: 0, cached: 0 };
  }
  lock(): void {}
  unlock(): void {}
  evict(): Int32Array {
    return EMPTY;
  }
  flush(): Int32Array {
    this.queried = 0;
    return EMPTY;
  }
  recordQuery(queried: number): void {
    this.queried += queried;
  }
  stats(): CacheStats {
    return { cachedTokens: 0, evictableTokens: 0, protectedTokens: 0, hitTokens: 0, queriedTokens: this.queried, evictedTokens: 0, namespaces: 0 };
  }
}
