// The contract the scheduler uses for prefix reuse. RadixCache keeps every finished
// sequence's KV; NoCache keeps nothing (--disable-radix-cache). Both account for slots the
// same way, so the scheduler never knows which one it has.

/** Opaque position in the cache that a match or insert ended at. */
export interface CacheHandle {
  readonly id: number;
}

export interface MatchResult {
  /** KV slots of the longest cached prefix of the query, in position order. */
  readonly slots: Int32Array;
  /**
   * Where the match ended. Lock it before using `slots`, or they may be evicted; unlock
   * it when done.
   */
  readonly handle: CacheHandle;
}

export interface InsertResult {
  /**
   * Leading tokens that were already cached. The caller's slots between the end of its own
   * matched prefix and this length are duplicates: the caller frees them (the tree keeps
   * its own). Slots the caller got from match() are the tree's and are never freed by it.
   */
  readonly alreadyCached: number;
  readonly handle: CacheHandle;
}

export interface CacheStats {
  /** Tokens held by the cache. */
  readonly cachedTokens: number;
  /** Cached tokens no running request has locked: eviction may free them. */
  readonly evictableTokens: number;
  /** Cached tokens locked by running requests. */
  readonly protectedTokens: number;
  /** Tokens served from the cache by match() since the start (or the last flush). */
  readonly hitTokens: number;
  /** Tokens asked for by match() since the start (or the last flush). */
  readonly queriedTokens: number;
  /** Tokens evicted to make room since the start. */
  readonly evictedTokens: number;
}

export interface PrefixCache {
  /** False for the no-reuse cache: inserting a still-running request would free its slots. */
  readonly keepsEntries: boolean;
  /** Changes whenever entries are added or dropped, so a match taken earlier may be stale. */
  readonly version: number;
  /** Longest cached prefix of `ids` in namespace `salt`. */
  match(ids: ArrayLike<number>, salt?: string): MatchResult;
  /** Takes ownership of `slots` (one per id) beyond what was already cached. */
  insert(ids: ArrayLike<number>, slots: Int32Array, salt?: string): InsertResult;
  lock(handle: CacheHandle): void;
  unlock(handle: CacheHandle): void;
  /** Frees at least `tokens` slots of unlocked entries, least recently used first; returns how many. */
  evict(tokens: number): number;
  /** Drops every unlocked entry. */
  flush(): void;
  stats(): CacheStats;
  /** Records that `matched` of `queried` tokens came from the cache (for the hit rate). */
  recordQuery(queried: number, matched: number): void;
}
