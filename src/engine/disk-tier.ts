// The disk tier behind the radix cache (issue 21): pool-resident runs are written to the disk
// store in the background, least recently used first, so that when eviction takes their slots
// they stay in the tree, disk-only; a waiting request whose prefix continues into disk-only
// runs has them loaded back into fresh slots while it waits, instead of computing them.
// Copies run off the event loop (the runner's exportKv/importKv on libuv workers, the store's
// reads and writes on libuv's pool); the tree changes only at the start of a step.
import { createHash } from "node:crypto";
import type { ModelRunner } from "../kernels/backend.js";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { CacheHandle, DiskRun } from "../kvcache/prefix-cache.js";
import type { RadixCache } from "../kvcache/radix-cache.js";
import type { Request } from "../scheduler/request.js";
import type { Scheduler } from "../scheduler/scheduler.js";

/** Writes and loads in flight at once (each is one node's run, or one request's continuation). */
const MAX_WRITES = 2;
const MAX_LOADS = 2;

export interface DiskTierStats {
  readonly writtenTokens: number;
  readonly loadedTokens: number;
  readonly loads: number;
  readonly loadMsTotal: number;
  readonly failedLoads: number;
}

interface LoadDone {
  readonly req: Request;
  readonly salt: string;
  readonly ids: number[];
  readonly start: number;
  readonly slots: Int32Array;
  readonly prefix: CacheHandle;
  readonly ok: boolean;
}

/** An item's key: its tokens' content (salt and whole path), so a key always names the same KV. */
function itemKey(salt: string, ids: ArrayLike<number>, start: number, end: number): string {
  const h = createHash("sha256").update(salt).update("\u0000");
  h.update(Buffer.from(Int32Array.from({ length: end }, (_, i) => ids[i]!).buffer));
  return `${h.digest("hex").slice(0, 40)}-${start}`;
}

export class DiskTier {
  private writes = 0;
  private loads = 0;
  private readonly done: LoadDone[] = [];
  /** Items a load found missing or damaged: the tree forgets them, so no request waits on them again. */
  private readonly missing: string[] = [];
  private readonly forgotten: string[] = [];
  private readonly loadingFor = new Set<Request>();
  /** Requests whose load failed: they compute their prefix instead of waiting on another. */
  private readonly failedFor = new WeakSet<Request>();
  /** Runs being written: unsaved() lists them until they are marked. */
  private readonly writing = new Set<CacheHandle>();
  private stat = { writtenTokens: 0, loadedTokens: 0, loads: 0, loadMsTotal: 0, failedLoads: 0 };
  /** The cache's version when it last had nothing to write: the tree is not walked again until it changes. */
  private savedVersion = -1;

  constructor(private readonly cache: RadixCache, private readonly scheduler: Scheduler, private readonly runner: ModelRunner,
    private readonly store: DiskStore, private readonly kick: () => void, private readonly warn: (line: string) => void) {}

  /** The store dropped an item (its LRU bound): the tree forgets it at the next step. */
  forget(key: string): void {
    this.forgotten.push(key);
  }

  stats(): DiskTierStats {
    return { ...this.stat };
  }

  /** At the start of a step: applies finished loads and dropped items, then starts writes and loads. */
  step(): void {
    for (const key of [...this.forgotten.splice(0), ...this.missing.splice(0)]) this.cache.forgetItem(key);
    for (const d of this.done.splice(0)) {
      const taken = d.ok ? this.cache.restore(d.salt, d.ids, d.start, d.slots) : 0;
      this.scheduler.cacheManager.endLoad(d.slots, taken, d.prefix);
      this.stat.loadedTokens += taken;
      d.req.loading = false;
      this.loadingFor.delete(d.req);
    }
    this.startWrites();
    this.startLoads();
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
      void this.runner.exportKv(u.slots).then(
        async (bytes) => {
          this.cache.unlock(u.handle);
          await this.store.put(key, { salt: u.salt, start: u.start, tokens }, bytes);
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
          this.kick();
        });
    }
  }

  private startLoads(): void {
    // Nothing on disk only: no request's prefix can continue there.
    if ((this.cache.stats().diskTokens ?? 0) === 0) return;
    for (const req of this.scheduler.waitingRequests) {
      if (this.loads >= MAX_LOADS) return;
      if (req.loading || this.loadingFor.has(req) || this.failedFor.has(req)) continue;
      const ids = Array.from(req.key(req.matchLimit).ids);
      const m = this.cache.match({ ids, salt: req.salt });
      const runs = m.disk ?? [];
      const n = runs.reduce((a, r) => a + r.length, 0);
      if (n === 0) continue;
      const slots = this.scheduler.cacheManager.holdForLoad(n, m.handle);
      if (!slots) return;
      req.loading = true;
      this.loadingFor.add(req);
      this.loads++;
      const t0 = performance.now();
      void this.read(runs).then(
        async (bytes) => {
          if (!bytes) return false;
          await this.runner.importKv(slots, bytes);
          return true;
        },
      ).catch((err: unknown) => {
        this.warn(`radixlm: disk tier: a load failed (${err instanceof Error ? err.message : String(err)})`);
        return false;
      }).then((ok) => {
        this.loads--;
        this.stat.loads++;
        this.stat.loadMsTotal += performance.now() - t0;
        if (!ok) {
          this.stat.failedLoads++;
          this.failedFor.add(req);
        }
        this.done.push({ req, salt: req.salt, ids, start: m.slots.length, slots, prefix: m.handle, ok });
        this.kick();
      });
    }
  }

  /** The runs' KV, one buffer in position order; null when an item is gone or damaged. */
  private async read(runs: readonly DiskRun[]): Promise<Uint8Array | null> {
    const tb = this.runner.kvTokenBytes;
    const items = new Map<string, Promise<Uint8Array | null>>();
    for (const r of runs) if (!items.has(r.item)) items.set(r.item, this.store.get(r.item).then((x) => x?.payload ?? null));
    const out = new Uint8Array(runs.reduce((a, r) => a + r.length, 0) * tb);
    let o = 0;
    for (const r of runs) {
      const p = await items.get(r.item)!;
      if (!p || p.length < (r.from + r.length) * tb) {
        this.missing.push(r.item);
        return null;
      }
      out.set(p.subarray(r.from * tb, (r.from + r.length) * tb), o);
      o += r.length * tb;
    }
    return out;
  }
}
