// What the engine keeps around its radix cache beyond the pool: the disk tier (disk-tier.ts),
// when it has a store, and pinned prefixes (cache-pins.ts). The engine calls step() at the
// start of each of its steps and prefetch() when requests come; the rest is the API that
// serve's routes and an embedding program use (Engine.cacheTiers).
import type { ModelRunner } from "../kernels/backend.js";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { RadixCache } from "../kvcache/radix-cache.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import { CachePins, type PinHost, type PinInfo, type PinSpec } from "./cache-pins.js";
import { DiskTier, type DiskTierStats } from "./disk-tier.js";

/** Longest a shutdown waits for the disk tier to store what it had not yet. */
const CHECKPOINT_MS = 10_000;

export class CacheTiers {
  private readonly disk: DiskTier | null;
  private readonly pins: CachePins;

  constructor(cache: RadixCache, scheduler: Scheduler, runner: ModelRunner, store: DiskStore | null, host: PinHost, poolCapacity: number) {
    this.disk = store ? new DiskTier(cache, scheduler, runner, store, host.kick, host.warn) : null;
    if (this.disk) scheduler.setDiskLoader(this.disk);
    // RAM pins may lock half the pool; disk pins keep at most half the store.
    const diskLimit = store ? Math.floor(store.stats().maxBytes / 2 / runner.kvTokenBytes) : 0;
    this.pins = new CachePins(cache, store, host, Math.floor(poolCapacity / 2), diskLimit);
  }

  /** At the start of a step: loads that came in, writes and loads to start, pins to settle. */
  step(): void {
    this.disk?.step();
    this.pins.step();
  }

  /** Requests came: what the disk holds of their prefixes starts being read ahead. */
  prefetch(): void {
    this.disk?.prefetch();
  }

  /** The store dropped an item (its onEvict). */
  forgetDiskItem(key: string): void {
    this.disk?.forget(key);
  }

  /**
   * A warm restart: the radix tree takes the prefixes an earlier run left in the store, on
   * disk only (loaded back when a request reaches them). Call it before requests come.
   */
  restoreDiskTree(): { items: number; tokens: number; dropped: number } {
    return this.disk?.restoreTree() ?? { items: 0, tokens: 0, dropped: 0 };
  }

  /** Pins a prefix at a tier (/save_cache); throws InputError past a bound. */
  pin(spec: PinSpec): Promise<PinInfo> {
    return this.pins.pin(spec);
  }

  /** Unpins; false when there is no such pin. */
  unpin(id: string): boolean {
    return this.pins.unpin(id);
  }

  pinned(): PinInfo[] {
    return this.pins.list();
  }

  /** A restart: pins again what the store's pin list names; resolves to how many. */
  restorePins(): Promise<number> {
    return this.pins.restore();
  }

  /** The disk tier's counts; null without one. */
  diskStats(): DiskTierStats | null {
    const st = this.disk?.stats();
    return st ? { ...st, pinnedTokens: this.pins.tokens() } : null;
  }

  /** Before a flush (no request running): pins go, as a flush drops every entry no request uses. */
  flushing(): void {
    this.pins.releaseAll();
  }

  /** After a flush that asked for it (/flush_cache): the store empties too, so that a restart does not bring it back. */
  flushedDisk(): void {
    this.disk?.cleared();
  }

  /** At shutdown, after the last step: stores what was not yet (bounded: a shutdown must end), and the pin list. */
  async close(): Promise<void> {
    await this.disk?.checkpoint(performance.now() + CHECKPOINT_MS).catch(() => 0);
    await this.pins.saved();
  }
}
