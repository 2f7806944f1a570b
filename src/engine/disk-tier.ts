// The disk tier behind the radix cache (issue 21): pool-resident runs are written to the disk
// store in the background, least recently used first, so that when eviction takes their slots
// they stay in the tree, disk-only. A request whose prefix continues into disk-only runs is
// admitted with slots for them (the scheduler's DiskLoader), loads them while it runs no rows,
// and goes on from there instead of computing them. Copies run off the event loop (the
// runner's exportKv/importKv on libuv workers, the store's reads and writes on libuv's pool);
// the tree changes only at the start of a step.
import { itemKey, itemMeta, placeItems } from "./disk-items.js";
import type { ModelRunner } from "../kernels/backend.js";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { CacheHandle, DiskRun } from "../kvcache/prefix-cache.js";
import type { RadixCache } from "../kvcache/radix-cache.js";
import type { Request } from "../scheduler/request.js";
import type { DiskLoader } from "../scheduler/disk-loader.js";
import type { Scheduler } from "../scheduler/scheduler.js";

/** Writes in flight at once (each one node's run). Loads are bounded by admission: one per admitted request. */
const MAX_WRITES = 2;
/**
 * Read-ahead for queued requests: the items their prefixes continue into are read (and
 * checksummed) while they wait, and kept in memory for their loads, up to this many bytes, for
 * at most AHEAD_MS, looking at the first AHEAD_REQUESTS waiting requests.
 */
const AHEAD_BYTES = 256 << 20;
const AHEAD_MS = 10_000;
const AHEAD_REQUESTS = 16;

export interface DiskTierStats {
  /** Tokens and bytes of KV written to the store, and the items written. */
  readonly writtenTokens: number;
  readonly writtenBytes: number;
  readonly writes: number;
  /**
   * Tokens and bytes loaded back into the pool for waiting requests (the prefix-cache hits
   * served from disk: hitTokens less these were served from RAM), and the loads.
   */
  readonly loadedTokens: number;
  readonly loadedBytes: number;
  readonly loads: number;
  /** Wall time of loads (read, checksum and copy into the pool), summed; failed ones included. */
  readonly loadMsTotal: number;
  readonly failedLoads: number;
  /** Bytes read ahead for queued requests (their loads then only copy). */
  readonly prefetchedBytes: number;
  /** Tokens the tree holds on disk only (evicted from the pool, loadable). */
  readonly diskOnlyTokens: number;
  /** Tokens pinned by /save_cache sessions. */
  readonly pinnedTokens: number;
  /** The store: items, live bytes, file bytes and the bound on them. */
  readonly storeItems: number;
  readonly storeBytes: number;
  readonly storeFileBytes: number;
  readonly storeMaxBytes: number;
}

interface LoadDone {
  readonly req: Request;
  readonly tokens: number;
  readonly ok: boolean;
}

export class DiskTier implements DiskLoader {
  private writes = 0;
  private readonly done: LoadDone[] = [];
  /** Items a load found missing or damaged: the tree forgets them, so no request waits on them again. */
  private readonly missing: string[] = [];
  private readonly forgotten: string[] = [];
  /** Requests whose load failed: they compute their prefix instead of waiting on another. */
  private readonly failedFor = new WeakSet<Request>();
  /** Runs being written: unsaved() lists them until they are marked. */
  private readonly writing = new Set<CacheHandle>();
  private stat = { writtenTokens: 0, writtenBytes: 0, writes: 0, loadedTokens: 0, loadedBytes: 0, loads: 0, loadMsTotal: 0, failedLoads: 0, prefetchedBytes: 0 };
  /** Items read ahead for queued requests, until a load takes them (or they expire). */
  private readonly ahead = new Map<string, { readonly payload: Promise<Uint8Array | null>; readonly bytes: number; readonly at: number }>();
  private aheadBytes = 0;
  /** Bumped by a flush: a write begun before it deletes what it stored. */
  private generation = 0;
  /** Resolved when a write settles (checkpoint waits on them). */
  private writeSettled: (() => void)[] = [];
  /** The cache's version when it last had nothing to write: the tree is not walked again until it changes. */
  private savedVersion = -1;

  constructor(private readonly cache: RadixCache, private readonly scheduler: Scheduler, private readonly runner: ModelRunner,
    private readonly store: DiskStore, private readonly kick: () => void, private readonly warn: (line: string) => void) {}

  /** The store dropped an item (its LRU bound): the tree forgets it at the next step. */
  forget(key: string): void {
    this.forgotten.push(key);
  }

  /** The counts but pinned tokens (the pins' own: cache-tiers.ts adds them). */
  stats(): Omit<DiskTierStats, "pinnedTokens"> {
    const st = this.store.stats();
    return { ...this.stat, diskOnlyTokens: this.cache.stats().diskTokens ?? 0,
      storeItems: st.items, storeBytes: st.bytes, storeFileBytes: st.fileBytes, storeMaxBytes: st.maxBytes };
  }

  /**
   * A warm restart: the tree takes every stored item that an earlier run left, as disk-only
   * nodes; items that cannot be placed (no parent, a path that does not match the key,
   * unreadable metadata) are deleted. Call it on an empty cache, before requests come.
   */
  restoreTree(): { items: number; tokens: number; dropped: number } {
    const { placed, unusable } = placeItems(this.store.metas());
    let items = 0;
    let tokens = 0;
    for (const it of placed) {
      const n = this.cache.adoptDisk(it.salt, it.ids, it.start, it.key);
      if (n > 0) {
        items++;
        tokens += n;
      } else {
        unusable.push(it.key);
      }
    }
    for (const key of unusable) this.store.delete(key);
    if (unusable.length > 0) this.warn(`radixlm: cache dir: ${unusable.length} item(s) without a place in the tree (a missing parent or unreadable metadata) dropped`);
    return { items, tokens, dropped: unusable.length };
  }

  /** The cache was flushed: what the store holds goes too, so that a restart does not bring it back. */
  cleared(): void {
    this.generation++;
    this.store.clear();
  }

  /**
   * Stores every pool-resident run not stored yet (at shutdown, after the last step), giving
   * up at `deadline` (performance.now()); returns the tokens written.
   */
  async checkpoint(deadline: number): Promise<number> {
    const before = this.stat.writtenTokens;
    this.savedVersion = -1;
    for (;;) {
      this.startWrites();
      if (this.writes === 0) break;
      const left = deadline - performance.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.writeSettled.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.stat.writtenTokens - before;
  }

  /** At the start of a step: finished loads go to their requests, dropped items leave the tree, writes start. */
  step(): void {
    for (const key of [...this.forgotten.splice(0), ...this.missing.splice(0)]) {
      this.cache.forgetItem(key);
      void this.dropAhead(key);
    }
    for (const d of this.done.splice(0)) {
      this.scheduler.loaded(d.req, d.ok, d.tokens);
      if (!d.ok) continue;
      this.stat.loadedTokens += d.tokens;
      this.stat.loadedBytes += d.tokens * this.runner.kvTokenBytes;
    }
    this.startWrites();
    this.prefetch();
  }

  /**
   * Starts reading what the first waiting requests' prefixes continue into on disk (off the
   * event loop, bounded), so that their loads at admission only copy. Called at each step and
   * when requests come.
   */
  prefetch(): void {
    const now = performance.now();
    for (const [item, a] of this.ahead) if (now - a.at > AHEAD_MS) this.dropAhead(item);
    if ((this.cache.stats().diskTokens ?? 0) === 0) return;
    let n = 0;
    for (const req of this.scheduler.waiting) {
      if (n++ >= AHEAD_REQUESTS || this.aheadBytes >= AHEAD_BYTES) return;
      if (this.failedFor.has(req)) continue;
      for (const r of this.cache.match(req.key(req.matchLimit)).disk ?? []) {
        const bytes = this.store.sizeOf(r.item);
        if (this.ahead.has(r.item) || bytes === 0) continue;
        this.ahead.set(r.item, { payload: this.store.get(r.item).then((x) => x?.payload ?? null, () => null), bytes, at: now });
        this.aheadBytes += bytes;
        this.stat.prefetchedBytes += bytes;
      }
    }
  }

  private dropAhead(item: string): Promise<Uint8Array | null> | null {
    const a = this.ahead.get(item);
    if (!a) return null;
    this.ahead.delete(item);
    this.aheadBytes -= a.bytes;
    return a.payload;
  }

  /** The scheduler's loader (DiskLoader): a request admitted with part of its prefix on disk. */
  wants(req: Request): boolean {
    return !this.failedFor.has(req);
  }

  load(req: Request, runs: readonly DiskRun[], slots: Int32Array): void {
    const t0 = performance.now();
    const tb = this.runner.kvTokenBytes;
    void this.read(runs).then(
      async (parts) => {
        if (!parts) return false;
        // Each run's bytes straight from its item's buffer into its slots: no gathering copy.
        let o = 0;
        await Promise.all(parts.map((p) => {
          const s = slots.subarray(o, o + p.length / tb);
          o += s.length;
          return this.runner.importKv(s, p);
        }));
        return true;
      },
    ).catch((err: unknown) => {
      this.warn(`radixlm: disk tier: a load failed (${err instanceof Error ? err.message : String(err)})`);
      return false;
    }).then((ok) => {
      this.stat.loads++;
      this.stat.loadMsTotal += performance.now() - t0;
      if (!ok) {
        this.stat.failedLoads++;
        this.failedFor.add(req);
      }
      this.done.push({ req, tokens: slots.length, ok });
      this.kick();
    });
  }

  private startWrites(): void {
    if (this.writes >= MAX_WRITES || this.cache.version === this.savedVersion) return;
    const unsaved = this.cache.unsaved(MAX_WRITES + this.writing.size);
    if (unsaved.length === 0) this.savedVersion = this.cache.version;
    for (const u of unsaved) {
      if (this.writes >= MAX_WRITES) return;
      if (this.writing.has(u.handle)) continue;
      this.writing.add(u.handle);
      this.writes++;
      // Locked while its slots are copied out: eviction must not hand them to a request meanwhile.
      this.cache.lock(u.handle);
      const key = itemKey(u.salt, u.ids, u.start, u.ids.length);
      const tokens = u.ids.length - u.start;
      const generation = this.generation;
      void this.runner.exportKv(u.slots).then(
        async (bytes) => {
          this.cache.unlock(u.handle);
          // The parent may have been dropped from the store meanwhile: then this item could not
          // be placed after a restart, and is written again once the parent is.
          if (u.parentItem !== null && !this.store.has(u.parentItem)) return;
          await this.store.put(key, itemMeta(u.salt, u.ids, u.start, u.parentItem), bytes);
          if (generation !== this.generation) {
            this.store.delete(key);
            return;
          }
          this.stat.writes++;
          this.stat.writtenBytes += bytes.length;
          // Marked only if the run is still in the pool (an unused item is left to the store's LRU:
          // its key names its content, which another node may hold too).
          if (this.cache.markOnDisk(u.salt, u.ids, u.start, key) > 0) this.stat.writtenTokens += tokens;
        },
        (err: unknown) => {
          this.cache.unlock(u.handle);
          throw err;
        },
      ).catch((err: unknown) => this.warn(`radixlm: disk tier: a write failed (${err instanceof Error ? err.message : String(err)})`))
        .finally(() => {
          this.writing.delete(u.handle);
          this.writes--;
          // A stored run makes its children storable.
          this.savedVersion = -1;
          for (const f of this.writeSettled.splice(0)) f();
          this.kick();
        });
    }
  }

  /** The runs' KV, each run's bytes (views of its item's buffer), in position order; null when an item is gone or damaged. */
  private async read(runs: readonly DiskRun[]): Promise<Uint8Array[] | null> {
    const tb = this.runner.kvTokenBytes;
    const items = new Map<string, Promise<Uint8Array | null>>();
    for (const r of runs) if (!items.has(r.item)) items.set(r.item, this.dropAhead(r.item) ?? this.store.get(r.item).then((x) => x?.payload ?? null));
    const out: Uint8Array[] = [];
    for (const r of runs) {
      const p = await items.get(r.item)!;
      if (!p || p.length < (r.from + r.length) * tb) {
        this.missing.push(r.item);
        return null;
      }
      // Runs of one item that follow each other are one copy.
      const last = out[out.length - 1];
      const view = p.subarray(r.from * tb, (r.from + r.length) * tb);
      if (last && last.buffer === view.buffer && last.byteOffset + last.length === view.byteOffset) {
        out[out.length - 1] = new Uint8Array(view.buffer, last.byteOffset, last.length + view.length);
      } else {
        out.push(view);
      }
    }
    return out;
  }
}
