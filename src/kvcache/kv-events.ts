// KV events: the radix tree's changes told as vLLM tells its prefix cache's, in blocks of
// `blockSize` tokens counted from position 0 of each cached sequence and named by their
// chained hashes (block-hash.ts). A block is stored when the tree comes to hold all of its
// tokens, and removed when eviction drops any of them (a namespace goes only once its last
// entry has gone, so its blocks have been reported by then); a flush that empties the tree is
// one AllBlocksCleared. A partial block at the end of a sequence is never published, as vLLM
// publishes full blocks only. Every stored block has one prefix, so its hash names one path
// of the tree: a subscriber that adds and drops hashes as told holds the tree's blocks.
//
// Events are gathered into one batch per turn of the event loop (the engine's loop yields
// with setImmediate between steps, so that is a step, or the flush or eviction that an HTTP
// route caused) and handed to the sink, which numbers and publishes them.
import { blockDigests, extendDigests, publishedHash } from "./block-hash.js";
import { RadixCache, type CacheListener } from "./radix-cache.js";

/** A run of blocks of one sequence, each the parent of the next. */
export interface BlockStored {
  readonly type: "BlockStored";
  readonly blockHashes: readonly bigint[];
  /** The hash of the block before the first one; null when the first is the sequence's first block. */
  readonly parentBlockHash: bigint | null;
  /** The tokens of all the blocks, in order (blockSize per block). */
  readonly tokenIds: readonly number[];
  readonly blockSize: number;
}

export interface BlockRemoved {
  readonly type: "BlockRemoved";
  readonly blockHashes: readonly bigint[];
}

export interface AllBlocksCleared {
  readonly type: "AllBlocksCleared";
}

export type KvEvent = BlockStored | BlockRemoved | AllBlocksCleared;

/** One published batch: numbered from 0 by its publisher, stamped in seconds since the epoch (vLLM's ts). */
export interface KvEventBatch {
  readonly seq: number;
  readonly ts: number;
  readonly events: readonly KvEvent[];
}

/** What the engine hands its KV events to (the server's hub, or a test's recorder). */
export interface KvEventSink {
  /** Tokens per block (vLLM's default is 16). */
  readonly blockSize: number;
  /** The seed of every block chain (vLLM's PYTHONHASHSEED, llm-d's hashSeed). */
  readonly hashSeed: string;
  /** Called once, when the engine's radix cache is made. */
  attach(source: KvEventSource): void;
  /** One batch: what the tree did in one turn of the event loop, in order. */
  publish(events: readonly KvEvent[]): void;
}

/** What a sink may ask of the cache it listens to. */
export interface KvEventSource {
  /** Publishes what is pending now, so that the tree and the last published batch agree. */
  flush(): void;
  /** Every block the tree holds now, as BlockStored runs (one per cached sequence, each block once). */
  snapshot(): BlockStored[];
}

/** Chains the recorder remembers (a few prefills interleave step by step). */
const RECENT_CHAINS = 8;

/** Turns the radix tree's changes into block events and batches them. */
export class KvEventRecorder implements CacheListener, KvEventSource {
  private pending: KvEvent[] = [];
  private scheduled = false;
  private cache: RadixCache | null = null;
  /**
   * The last few chains hashed, most recent last: a prompt cached chunk by chunk during its
   * prefill, or leaves evicted under a shared prefix, reuse the digests of the blocks they
   * share instead of hashing from position 0 every time.
   */
  private readonly recent: { salt: string; ids: Int32Array; digests: Buffer[] }[] = [];

  constructor(private readonly sink: KvEventSink) {
    if (!Number.isInteger(sink.blockSize) || sink.blockSize < 1) throw new RangeError(`KV events: block size must be a positive integer, got ${sink.blockSize}`);
  }

  /** The cache this recorder listens to (for snapshots). */
  listen(cache: RadixCache): void {
    this.cache = cache;
  }

  stored(salt: string, ids: ArrayLike<number>, from: number): void {
    const size = this.sink.blockSize;
    // Blocks that end inside the new run [from, ids.length) are new; those ending at or
    // before `from` were held already. Hashing starts at 0: a block's hash is its whole prefix's.
    const first = Math.floor(from / size);
    if (Math.floor(ids.length / size) <= first) return;
    const digests = this.digests(ids, salt);
    const tokenIds: number[] = [];
    for (let i = first * size; i < digests.length * size; i++) tokenIds.push(ids[i]!);
    this.push({
      type: "BlockStored",
      blockHashes: digests.slice(first).map(publishedHash),
      parentBlockHash: first > 0 ? publishedHash(digests[first - 1]!) : null,
      tokenIds,
      blockSize: size,
    });
  }

  removed(salt: string, path: Int32Array, from: number): void {
    const size = this.sink.blockSize;
    // Blocks that end past `from` had a token in the run that goes.
    const first = Math.floor(from / size);
    if (Math.floor(path.length / size) <= first) return;
    const digests = this.digests(path, salt);
    this.push({ type: "BlockRemoved", blockHashes: digests.slice(first).map(publishedHash) });
  }

  /** The digests of the full blocks of `ids`, from the recent chain that shares the most of them. */
  private digests(ids: ArrayLike<number>, salt: string): Buffer[] {
    const size = this.sink.blockSize;
    const blocks = Math.floor(ids.length / size);
    let known: Buffer[] = [];
    for (const r of this.recent) {
      if (r.salt !== salt) continue;
      const limit = Math.min(r.digests.length, blocks) * size;
      let same = 0;
      while (same < limit && r.ids[same] === ids[same]) same++;
      const shared = Math.floor(same / size);
      if (shared > known.length) known = r.digests.slice(0, shared);
    }
    const digests = extendDigests(known, ids, size, salt, this.sink.hashSeed);
    if (this.recent.length >= RECENT_CHAINS) this.recent.shift();
    const copy = new Int32Array(blocks * size);
    for (let i = 0; i < copy.length; i++) copy[i] = ids[i]!;
    this.recent.push({ salt, ids: copy, digests });
    return digests;
  }

  cleared(): void {
    // Whatever was pending is moot once everything is gone, but order is kept: a subscriber
    // applies it and then clears.
    this.push({ type: "AllBlocksCleared" });
  }

  private push(e: KvEvent): void {
    this.pending.push(e);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.sink.publish(events);
  }

  snapshot(): BlockStored[] {
    return this.cache ? storedBlocks(this.cache, this.sink.blockSize, this.sink.hashSeed) : [];
  }
}

/**
 * Every block `cache` holds, computed from the tree alone (not from events): one BlockStored
 * run per cached sequence, with the blocks an earlier run already named left out (so a run's
 * parent is always named before it). Resyncs and tests use it.
 */
export function storedBlocks(cache: RadixCache, blockSize: number, hashSeed: string): BlockStored[] {
  const seen = new Set<bigint>();
  const out: BlockStored[] = [];
  for (const { salt, ids } of cache.sequences()) {
    const hashes = blockDigests(ids, blockSize, salt, hashSeed).map(publishedHash);
    let first = 0;
    while (first < hashes.length && seen.has(hashes[first]!)) first++;
    if (first === hashes.length) continue;
    for (let i = first; i < hashes.length; i++) seen.add(hashes[i]!);
    out.push({
      type: "BlockStored",
      blockHashes: hashes.slice(first),
      parentBlockHash: first > 0 ? hashes[first - 1]! : null,
      tokenIds: Array.from(ids.subarray(first * blockSize, hashes.length * blockSize)),
      blockSize,
    });
  }
  return out;
}

/** A radix cache whose changes go to `sink` as KV events; a plain one without a sink. */
export function radixCacheWithEvents(sink: KvEventSink | undefined): RadixCache {
  if (!sink) return new RadixCache();
  const recorder = new KvEventRecorder(sink);
  const cache = new RadixCache(recorder);
  recorder.listen(cache);
  sink.attach(recorder);
  return cache;
}
