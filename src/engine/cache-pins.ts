// Pinned prefixes (/save_cache): a prefix someone will come back to (a repository, a long
// system prompt) is kept at a tier no matter what eviction wants. "ram": its path stays locked
// in the KV pool. "disk": its path's items stay in the disk store (its LRU passes them by), so
// the tree keeps it, disk-only at worst, and a request loads it instead of computing it; until
// every run of it is stored, it is held in the pool. Both are bounded: pins by count, RAM pins
// by a share of the pool, disk pins by a share of the store. The pin list is kept in the
// store's side file "pins", so that a restart pins them again.
import { createHash } from "node:crypto";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { CacheHandle } from "../kvcache/prefix-cache.js";
import type { RadixCache } from "../kvcache/radix-cache.js";
import { InputError } from "./input.js";

export type PinTier = "ram" | "disk";
export const PIN_TIERS: readonly PinTier[] = ["ram", "disk"];

/** Most prefixes pinned at once. */
export const MAX_PINS = 64;

export interface PinSpec {
  readonly salt: string;
  readonly ids: readonly number[];
  readonly tier: PinTier;
}

export interface PinInfo {
  readonly id: string;
  readonly tier: PinTier;
  readonly tokens: number;
  /** "storing": a disk pin held in the pool until all of it is stored; "pinned". */
  readonly state: "storing" | "pinned";
}

export interface Pin extends PinSpec {
  readonly id: string;
  /** The pool lock: a RAM pin's for good, a disk pin's until its items are pinned. */
  handle: CacheHandle | null;
  items: string[];
  readonly settled: Promise<void>;
  settle: () => void;
}

export function pinId(spec: PinSpec): string {
  const h = createHash("sha256").update(spec.tier).update("\u0000").update(spec.salt).update("\u0000");
  h.update(Buffer.from(Int32Array.from(spec.ids).buffer));
  return `pin-${h.digest("hex").slice(0, 24)}`;
}

/** The engine's part: puts a prefix into the pool (Engine.warm), and wakes its loop. */
export interface PinHost {
  warm(ids: readonly number[], salt: string): Promise<{ readonly cachedTokens: number }>;
  kick(): void;
  warn(line: string): void;
}

/** The side file the pin list is kept in. */
const PINS_FILE = "pins";

export class CachePins {
  private readonly pins = new Map<string, Pin>();
  private saving: Promise<void> = Promise.resolve();

  /**
   * `ramLimit`: most tokens RAM pins (and disk pins waiting to be stored) may lock in the pool;
   * `diskLimit`: most tokens disk pins may keep in the store.
   */
  constructor(private readonly cache: RadixCache, private readonly store: DiskStore | null, private readonly host: PinHost,
    private readonly ramLimit: number, private readonly diskLimit: number) {}

  /** Pins `spec`: its prefix is computed or loaded into the pool, then held at its tier. */
  async pin(spec: PinSpec): Promise<PinInfo> {
    this.check(spec);
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.host.warm(spec.ids, spec.salt);
      // Before the loop's next step: nothing evicts it in between, but for a rare retry.
      const pin = this.hold(spec);
      if (!pin) continue;
      this.host.kick();
      const info = await this.settled(pin);
      await this.save();
      return info;
    }
    throw new Error("the prefix was evicted again before it could be pinned (the pool is too busy)");
  }

  /** Unpins `id` and saves the list; false when there is no such pin. */
  unpin(id: string): boolean {
    if (!this.release(id)) return false;
    void this.save();
    return true;
  }

  /** A restart: pins again what the side file lists (in the background; each failure is one warning). */
  async restore(): Promise<number> {
    const body = await this.store?.readManifest(PINS_FILE);
    if (!body) return 0;
    let specs: PinSpec[];
    try {
      specs = decodePins(body);
    } catch {
      this.host.warn("radixlm: cache dir: the pin list is unreadable; no prefix is pinned again");
      return 0;
    }
    let n = 0;
    for (const spec of specs) {
      try {
        await this.pin(spec);
        n++;
      } catch (err) {
        this.host.warn(`radixlm: cache dir: a pinned prefix of ${spec.ids.length} tokens was not pinned again (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return n;
  }

  /** Writes the pin list to the store's side file, one write after another; resolves when it is written. */
  private save(): Promise<void> {
    const store = this.store;
    if (!store) return this.saving;
    const body = encodePins(this.specs());
    this.saving = this.saving.then(() => store.writeManifest(PINS_FILE, body)).catch((err: unknown) =>
      this.host.warn(`radixlm: cache dir: the pin list was not saved (${err instanceof Error ? err.message : String(err)})`));
    return this.saving;
  }

  /** Resolves when the pin list's writes so far are done (before the store closes). */
  saved(): Promise<void> {
    return this.saving;
  }

  /** Tokens pinned, both tiers. */
  tokens(): number {
    let n = 0;
    for (const p of this.pins.values()) n += p.ids.length;
    return n;
  }

  /** Throws the 400 a new pin of `spec` would be past a bound (or impossible) with. */
  check(spec: PinSpec): void {
    if (this.pins.has(pinId(spec))) return;
    if (spec.ids.length === 0) throw new InputError("input_ids", "Give a non-empty prompt to pin.");
    if (spec.tier === "disk" && !this.store) throw new InputError("tier", "There is no disk tier to pin to (start the server with --cache-dir), or pin with tier \"ram\".");
    if (this.pins.size >= MAX_PINS) throw new InputError("input_ids", `At most ${MAX_PINS} prefixes can be pinned at once; release one first (/release_cache).`, "too_many_pins");
    const inPool = this.sum((p) => p.tier === "ram" || p.handle !== null);
    if (inPool + spec.ids.length > this.ramLimit) {
      throw new InputError("input_ids", `Pinning ${spec.ids.length} more tokens in RAM would pass the bound of ${this.ramLimit} (${inPool} pinned).`, "pin_limit");
    }
    const onDisk = this.sum((p) => p.tier === "disk");
    if (spec.tier === "disk" && onDisk + spec.ids.length > this.diskLimit) {
      throw new InputError("input_ids", `Pinning ${spec.ids.length} more tokens on disk would pass the bound of ${this.diskLimit} (${onDisk} pinned).`, "pin_limit");
    }
  }

  /**
   * Pins `spec`, whose prefix the pool holds now (just computed or loaded): locks it. Null
   * when the pool does not hold all of it (evicted in between: compute it again).
   */
  hold(spec: PinSpec): Pin | null {
    const id = pinId(spec);
    const old = this.pins.get(id);
    if (old) return old;
    const m = this.cache.match({ ids: spec.ids, salt: spec.salt });
    if (m.slots.length < spec.ids.length) return null;
    this.cache.lock(m.handle);
    let settle = (): void => undefined;
    const settled = new Promise<void>((r) => (settle = r));
    const pin: Pin = { ...spec, ids: [...spec.ids], id, handle: m.handle, items: [], settled, settle };
    this.pins.set(id, pin);
    if (spec.tier === "ram") settle();
    return pin;
  }

  /** Waits until `pin` is in place at its tier (a disk pin: all of it stored). */
  async settled(pin: Pin): Promise<PinInfo> {
    await pin.settled;
    return this.info(pin);
  }

  /** At a step's start: disk pins whose whole path is stored now pin its items and leave the pool free to evict it. */
  step(): void {
    for (const p of this.pins.values()) {
      if (p.tier !== "disk" || p.handle === null) continue;
      const items = this.cache.pathItems(p.salt, p.ids);
      if (!items || !items.every((k) => this.store!.has(k))) continue;
      for (const k of items) this.store!.pin(k);
      p.items = items;
      this.cache.unlock(p.handle);
      p.handle = null;
      p.settle();
    }
  }

  /** Unpins `id`; false when there is no such pin. */
  release(id: string): boolean {
    const p = this.pins.get(id);
    if (!p) return false;
    this.pins.delete(id);
    if (p.handle) this.cache.unlock(p.handle);
    for (const k of p.items) this.store?.unpin(k);
    p.settle();
    return true;
  }

  /** Unpins everything (a flush), and saves the empty list. */
  releaseAll(): void {
    if (this.pins.size === 0) return;
    for (const id of [...this.pins.keys()]) this.release(id);
    void this.save();
  }

  list(): PinInfo[] {
    return [...this.pins.values()].map((p) => this.info(p));
  }

  /** The pins as the side file keeps them. */
  specs(): PinSpec[] {
    return [...this.pins.values()].map((p) => ({ salt: p.salt, ids: p.ids, tier: p.tier }));
  }

  info(p: Pin): PinInfo {
    return { id: p.id, tier: p.tier, tokens: p.ids.length, state: p.tier === "disk" && p.handle !== null ? "storing" : "pinned" };
  }

  private sum(which: (p: Pin) => boolean): number {
    let n = 0;
    for (const p of this.pins.values()) if (which(p)) n += p.ids.length;
    return n;
  }
}

/** The side file's body: the pin specs as JSON, ids in base64. */
export function encodePins(specs: readonly PinSpec[]): Uint8Array {
  return Buffer.from(JSON.stringify(specs.map((s) => ({ salt: s.salt, tier: s.tier, ids: Buffer.from(Int32Array.from(s.ids).buffer).toString("base64") }))));
}

export function decodePins(bytes: Uint8Array): PinSpec[] {
  const out: PinSpec[] = [];
  const list: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
  if (!Array.isArray(list)) return out;
  for (const x of list.slice(0, MAX_PINS) as unknown[]) {
    if (typeof x !== "object" || x === null) continue;
    const { salt, tier, ids } = x as Record<string, unknown>;
    if (typeof salt !== "string" || (tier !== "ram" && tier !== "disk") || typeof ids !== "string") continue;
    const b = Buffer.from(ids, "base64");
    if (b.length === 0 || b.length % 4 !== 0) continue;
    out.push({ salt, tier, ids: Array.from(new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))) });
  }
  return out;
}
