// The contract the scheduler uses for prefix reuse. RadixCache keeps every finished
// sequence's KV; NoCache keeps nothing (--disable-radix-cache). Neither frees a slot: the
// slots an insert does not keep and the slots eviction drops go back to the caller, which
// returns them to the pool. So the scheduler treats both the same and is the pool's only
// freer.

/**
 * What a cached sequence is looked up by: its token ids in a namespace. Requests with
 * different salts never share KV, so the salt travels with the ids, never on its own
 * (SGLang's RadixKey). The shared namespace is the empty salt, given explicitly.
 */
export interface CacheKey {
  readonly ids: ArrayLike<number>;
  readonly salt: string;
}

/** Opaque position in the cache that a match or insert ended at. */
export interface CacheHandle {
  readonly id: number;
}

export interface MatchResult {
  /** KV slots of the longest cached prefix of the key, in position order. */
  readonly slots: Int32Array;
  /**
   * Where the match ended. Lock it before using `slots`, or they may be evicted; unlock
   * it when done.
   */
  readonly handle: CacheHandle;
  /**
   * The key's cached continuation past `slots` whose KV is on disk, not in the pool (a tiered
   * RadixCache): runs in position order, each a node's tokens within a stored item.
   */
  readonly disk?: readonly DiskRun[];
}

/** A run of a cached sequence whose KV is on disk: tokens `from`..`from + length` of `item`. */
export interface DiskRun {
  readonly item: string;
  readonly from: number;
  readonly length: number;
}

export interface InsertResult {
  /**
   * Leading tokens that were cached before the insert. The caller's slots between the end
   * of its own matched prefix and this length are duplicates of the cache's: the caller
   * frees them. Slots the caller got from match() are the cache's and never freed by it.
   */
  readonly alreadyCached: number;
  /**
   * Leading tokens the cache holds for the key after the insert: it owns their slots now
   * (the whole key for RadixCache, none for NoCache). The caller still owns the rest.
   */
  readonly cached: number;
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
  /** Of hitTokens, those a disk tier loaded back for the request that used them (a tiered RadixCache). */
  readonly diskHitTokens?: number;
  /** Tokens asked for by match() since the start (or the last flush). */
  readonly queriedTokens: number;
  /** Tokens evicted to make room since the start. */
  readonly evictedTokens: number;
  /** Cache namespaces (distinct salts) holding entries; an emptied one is dropped. */
  readonly namespaces: number;
  /** Tokens whose KV only the disk tier holds (a tiered RadixCache). */
  readonly diskTokens?: number;
}

export interface PrefixCache {
  /** Changes whenever entries are added or dropped, so a match taken earlier may be stale. */
  readonly version: number;
  /** Longest cached prefix of the key. */
  match(key: CacheKey): MatchResult;
  /** Takes ownership of the slots (one per id) of the key's tokens it keeps; see InsertResult. */
  insert(key: CacheKey, slots: Int32Array): InsertResult;
  lock(handle: CacheHandle): void;
  unlock(handle: CacheHandle): void;
  /**
   * Drops unlocked entries, least recently used first, until at least `tokens` slots are
   * dropped or none is left; returns their slots for the caller to free.
   */
  evict(tokens: number): Int32Array;
  /** Drops every unlocked entry; returns their slots for the caller to free. */
  flush(): Int32Array;
  stats(): CacheStats;
  /** A request was admitted: `queried` prompt tokens, `matched` of them cached, `fromDisk` of those loaded from disk for it. */
  recordQuery(queried: number, matched: number, fromDisk?: number): void;
}

/** The slots of several runs as one array. */
export function concatSlots(parts: readonly Int32Array[]): Int32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
