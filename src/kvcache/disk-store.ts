// The disk tier's store: KV items (one radix node's run of tokens: an opaque token-major
// payload and small metadata) by string key, in append-only segment files
// (seg-000001.kv, ...; record format in disk-segment.ts) under one directory, one process at a
// time. The index lives in memory and is rebuilt at open by scanning the segments' heads;
// records of another fingerprint, damaged ones and an unfinished tail are dropped there, each
// kind with one warning line, never returned.
//
// Writes go through one queue (one segment is written at a time, on libuv's threadpool); a put
// resolves once its record is in the OS's page cache, which a killed process does not lose.
// fdatasync runs when a segment is full and every `syncBytes` (64 MiB) written, and on
// flush()/close(), so a power loss costs at most the unsynced tail, which the checksums find.
//
// Size: the segment files stay within maxBytes. Access order (get or put) is the map's order.
// Appends keep one segment's size free (the compaction reserve): when an append would pass
// maxBytes less that reserve, least recently used items go (onEvict hears each) until the
// live bytes are under 90% of it, segments with no live item are deleted, and when garbage
// still holds the space, the segment with the most garbage is compacted into the current one,
// in the reserve (only an item larger than a segment can make that not fit: then that
// segment's items are evicted instead).
//
// delete() and eviction only drop an item from the index: a restart before its segment is
// reclaimed finds it again. Keys should name their content (a hash of salt and tokens) so a
// found item is still right; the caller's manifest says which keys it wants (delete the rest).
import { mkdir } from "node:fs/promises";
import { SegmentFiles, type DiskWrite, type Segment } from "./disk-files.js";
import { decodeMeta, encodeMeta, type DiskItem, type DiskMeta } from "./disk-item.js";
import { readManifestFile, writeManifestFile } from "./disk-manifest.js";
import { scanStore } from "./disk-open.js";
import { crc32Sliced, encodeHead, fingerprintHash, FLAG_DEAD, HEADER_BYTES, MAX_KEY_BYTES, MAX_META_BYTES } from "./disk-segment.js";

export type { DiskWrite } from "./disk-files.js";
export type { DiskItem, DiskMeta } from "./disk-item.js";

export interface DiskStoreStats {
  readonly items: number;
  /** Live records' bytes: heads, keys, metadata and payloads. */
  readonly bytes: number;
  /** Bytes of the segment files, live and dead records together; at most maxBytes. */
  readonly fileBytes: number;
  readonly segments: number;
  readonly reads: number;
  readonly writes: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Wall time of gets' reads and checksums, summed. */
  readonly readMsTotal: number;
  /** Items dropped as damaged (a failed checksum, at open or at a get) or unreadable. */
  readonly dropped: number;
  readonly evicted: number;
  /** The bound on fileBytes. */
  readonly maxBytes: number;
}

export interface DiskStoreOptions {
  readonly dir: string;
  /** Bound on the segment files' total size. */
  readonly maxBytes: number;
  /** Names the model, KV dtype and layout version; items stored under another are never returned. */
  readonly fingerprint: string;
  readonly warn?: (line: string) => void;
  /** Hears each key that eviction drops (not delete()), least recently used first. */
  readonly onEvict?: (key: string) => void;
  /** A segment's size before the next starts: maxBytes / 8, at most 256 MiB, unless given. */
  readonly segmentBytes?: number;
  /** fdatasync after this many bytes written to a segment (64 MiB). */
  readonly syncBytes?: number;
  /** The write itself, for tests that make the disk fail or fill. */
  readonly write?: DiskWrite;
}

interface Entry {
  readonly key: string;
  seg: Segment;
  payloadOffset: number;
  readonly payloadLen: number;
  readonly payloadCrc: number;
  readonly recordBytes: number;
  readonly flags: number;
  readonly meta: Buffer;
}

interface PendingPut {
  readonly flags: number;
  readonly meta: Buffer;
  readonly payload: Uint8Array;
}

export class DiskStore {
  /** Live items in access order: the first is the least recently used. */
  private readonly index = new Map<string, Entry>();
  /** Puts not yet on disk; get and has see them at once. */
  private readonly pending = new Map<string, PendingPut>();
  private readonly reads = new Map<string, { entry: Entry; promise: Promise<DiskItem | null> }>();
  /** Pinned keys and their pin counts: eviction passes them by. */
  private readonly pins = new Map<string, number>();
  private readonly files: SegmentFiles;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private liveBytes = 0;
  private readonly counts = { reads: 0, bytesRead: 0, readMsTotal: 0, dropped: 0, evicted: 0 };
  private readonly dir: string;
  private readonly maxBytes: number;
  /** maxBytes less the compaction reserve: what appends other than compaction's may fill. */
  private readonly budget: number;
  private readonly fpHash: Buffer;
  private readonly warn: (line: string) => void;
  private readonly onEvict: (key: string) => void;

  private constructor(opts: DiskStoreOptions) {
    if (!(opts.maxBytes > 0)) throw new Error(`disk store: maxBytes must be positive, got ${opts.maxBytes}`);
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    const segmentBytes = opts.segmentBytes ?? Math.max(4096, Math.min(256 << 20, Math.floor(opts.maxBytes / 8)));
    this.budget = opts.maxBytes - Math.min(segmentBytes, Math.floor(opts.maxBytes / 4));
    this.files = new SegmentFiles(opts.dir, segmentBytes, opts.syncBytes ?? 64 << 20, opts.write);
    this.fpHash = fingerprintHash(opts.fingerprint);
    this.warn = opts.warn ?? ((line) => console.warn(line));
    this.onEvict = opts.onEvict ?? (() => undefined);
  }

  /** Opens (creating) the store in `dir` and rebuilds its index from the segment files there. */
  static async open(opts: DiskStoreOptions): Promise<DiskStore> {
    const store = new DiskStore(opts);
    await mkdir(opts.dir, { recursive: true });
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const { found, dropped, foreign, foreignBytes } = await scanStore(this.dir, this.files, this.fpHash, this.warn);
    this.counts.dropped += dropped;
    for (const { seg, rec: r, dead } of found) {
      if (dead) {
        const older = this.index.get(r.key);
        if (older) this.removeEntry(older);
        continue;
      }
      const payloadOffset = r.offset + r.recordBytes - r.payloadLen;
      this.setEntry({ key: r.key, seg, payloadOffset, payloadLen: r.payloadLen, payloadCrc: r.payloadCrc, recordBytes: r.recordBytes, flags: r.flags, meta: r.meta });
    }
    const emptied = [...this.files.all.values()].filter((s) => s.live === 0);
    for (const seg of emptied) await this.files.remove(seg);
    if (foreign > 0) {
      this.warn(`disk store: ${foreign} item(s) (${foreignBytes} bytes) stored under another fingerprint (model, KV dtype or layout changed) dropped; ${emptied.length} segment file(s) removed`);
    }
    if (this.files.bytes > this.budget) await this.enqueue(() => this.makeRoom(0));
  }

  /**
   * Stores `payload` under `key` (replacing what the key held). Resolves once the record is
   * written (see the head comment for when it is synced); rejects, storing nothing, when the
   * write fails (ENOSPC and the like), after which the store goes on as before. The store does
   * not copy `payload`: the caller must not change it until the promise settles.
   */
  async put(key: string, meta: DiskMeta, payload: Uint8Array): Promise<void> {
    this.assertOpen();
    const keyBytes = Buffer.from(key, "utf8");
    if (keyBytes.length === 0 || keyBytes.length > MAX_KEY_BYTES) throw new Error(`disk store: a key takes 1 to ${MAX_KEY_BYTES} bytes, got ${keyBytes.length}`);
    const { flags, bytes } = encodeMeta(meta);
    if (bytes.length > MAX_META_BYTES) throw new Error(`disk store: metadata of ${bytes.length} bytes is over ${MAX_META_BYTES}`);
    const recordBytes = HEADER_BYTES + keyBytes.length + bytes.length + payload.length;
    if (recordBytes > this.budget || payload.length > 0xffffffff) {
      throw new Error(`disk store: an item of ${recordBytes} bytes does not fit a store of ${this.maxBytes} (${this.budget} less the compaction reserve)`);
    }
    const op: PendingPut = { flags, meta: bytes, payload };
    this.pending.set(key, op);
    // queued at once, so writes land in call order and a close() called after this put waits for it;
    // the checksum is computed meanwhile
    const crcReady = crc32Sliced(payload);
    try {
      await this.enqueue(async () => {
        const crc = await crcReady;
        if (this.pending.get(key) !== op) return; // deleted or put again meanwhile: nothing to write
        await this.makeRoom(recordBytes);
        const head = encodeHead(this.fpHash, keyBytes, bytes, flags, payload.length, crc);
        const seg = await this.files.append(head, payload);
        if (this.pending.get(key) !== op) return; // the record is dead on arrival
        this.setEntry({ key, seg, payloadOffset: seg.size - payload.length, payloadLen: payload.length, payloadCrc: crc, recordBytes, flags, meta: bytes });
      });
    } finally {
      if (this.pending.get(key) === op) this.pending.delete(key);
    }
  }

  /** The item under `key`, or null: none, or one that failed its checksum (dropped, with a warning). */
  async get(key: string): Promise<DiskItem | null> {
    this.assertOpen();
    const op = this.pending.get(key);
    if (op) return { meta: decodeMeta(op.flags, op.meta), payload: Buffer.from(op.payload) };
    const entry = this.index.get(key);
    if (!entry) return null;
    this.touch(entry);
    const inflight = this.reads.get(key);
    if (inflight?.entry === entry) return inflight.promise;
    const promise = this.read(entry).finally(() => {
      if (this.reads.get(key)?.promise === promise) this.reads.delete(key);
    });
    this.reads.set(key, { entry, promise });
    return promise;
  }

  has(key: string): boolean {
    return this.pending.has(key) || this.index.has(key);
  }

  /**
   * Drops `key` (its bytes go when its segment is reclaimed; its record is marked dead on disk,
   * so a restart does not find it again); true if it was there.
   */
  delete(key: string): boolean {
    const wasPending = this.pending.delete(key);
    this.pins.delete(key);
    const entry = this.index.get(key);
    if (entry) {
      this.removeEntry(entry);
      this.markDead(entry);
    }
    return wasPending || entry !== undefined;
  }

  /** Drops every item: the segment files are deleted (after the writes queued so far). */
  clear(): void {
    this.assertOpen();
    this.pending.clear();
    this.pins.clear();
    for (const entry of [...this.index.values()]) this.removeEntry(entry);
    void this.enqueue(async () => {
      for (const seg of [...this.files.all.values()]) await this.files.remove(seg);
    }).catch((err: unknown) => this.warn(`disk store: clearing failed: ${(err as Error).message}`));
  }

  /**
   * Keeps `key` through the size bound's eviction until as many unpins (counted); false when
   * there is no such item. Pinned items still go with delete(), and when found damaged.
   */
  pin(key: string): boolean {
    if (!this.index.has(key)) return false;
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
    return true;
  }

  unpin(key: string): void {
    const n = this.pins.get(key) ?? 0;
    if (n <= 1) this.pins.delete(key);
    else this.pins.set(key, n - 1);
  }

  /** The bytes of the item under `key` on disk (0 when there is none). */
  sizeOf(key: string): number {
    return this.index.get(key)?.recordBytes ?? 0;
  }

  /** Keys on disk, least recently used first. */
  keys(): string[] {
    return [...this.index.keys()];
  }

  /** Each item's key and metadata, least recently used first, without reading payloads (a warm restart's index). */
  *metas(): Generator<[string, DiskMeta]> {
    for (const [key, e] of this.index) yield [key, decodeMeta(e.flags, e.meta)];
  }

  stats(): DiskStoreStats {
    const { files } = this;
    return { items: this.index.size, maxBytes: this.maxBytes, bytes: this.liveBytes, fileBytes: files.bytes, segments: files.all.size, writes: files.writes, bytesWritten: files.bytesWritten, ...this.counts };
  }

  /** Waits for the writes queued so far and syncs them to the disk. */
  async flush(): Promise<void> {
    this.assertOpen();
    await this.enqueue(() => this.files.sync());
  }

  /** Waits for the puts and reads under way, syncs, and closes the files; the store takes no calls after it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.enqueue(() => this.files.sync()).catch(() => undefined);
    await Promise.allSettled([...this.reads.values()].map((r) => r.promise));
    await this.files.closeAll();
  }

  /** Writes the side file `name` atomically, stamped with the fingerprint and a checksum. */
  async writeManifest(name: string, bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    return writeManifestFile(this.dir, name, this.fpHash, bytes);
  }

  /** The side file `name`, or null: never written, or of another fingerprint or damaged (with a warning). */
  async readManifest(name: string): Promise<Buffer | null> {
    this.assertOpen();
    return readManifestFile(this.dir, name, this.fpHash, this.warn);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("disk store: closed");
  }

  /** Runs `fn` after every write queued before it; a failure rejects only its own caller. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private touch(entry: Entry): void {
    this.index.delete(entry.key);
    this.index.set(entry.key, entry);
  }

  private setEntry(entry: Entry): void {
    const old = this.index.get(entry.key);
    if (old) this.removeEntry(old);
    this.index.set(entry.key, entry);
    entry.seg.live += entry.recordBytes;
    this.liveBytes += entry.recordBytes;
  }

  /** Rewrites `entry`'s head with the dead flag, in the write queue (a failure only warns: the item may come back after a restart). */
  private markDead(entry: Entry): void {
    const seg = entry.seg;
    const pos = entry.payloadOffset - (entry.recordBytes - entry.payloadLen);
    const head = encodeHead(this.fpHash, Buffer.from(entry.key, "utf8"), entry.meta, entry.flags | FLAG_DEAD, entry.payloadLen, entry.payloadCrc);
    void this.enqueue(() => this.files.overwrite(seg, head, pos))
      .catch((err: unknown) => this.warn(`disk store: marking ${entry.key} deleted failed: ${(err as Error).message}`));
  }

  private removeEntry(entry: Entry): void {
    this.index.delete(entry.key);
    entry.seg.live -= entry.recordBytes;
    this.liveBytes -= entry.recordBytes;
  }

  /** Reads and checks one item's payload, holding its segment open while it reads. */
  private async read(entry: Entry, forCompaction = false): Promise<DiskItem | null> {
    const seg = entry.seg;
    const t0 = performance.now();
    let failure = "";
    const payload = Buffer.allocUnsafe(entry.payloadLen);
    try {
      await this.files.read(seg, payload, entry.payloadOffset);
      if ((await crc32Sliced(payload)) !== entry.payloadCrc) failure = "failed its checksum";
    } catch (err) {
      failure = `could not be read (${(err as Error).message})`;
    }
    if (!forCompaction) {
      this.counts.reads++;
      this.counts.bytesRead += entry.payloadLen;
      this.counts.readMsTotal += performance.now() - t0;
    }
    if (failure) {
      if (this.index.get(entry.key) === entry) this.removeEntry(entry);
      if (!this.closed) this.markDead(entry);
      this.counts.dropped++;
      this.warn(`disk store: item ${entry.key} in ${seg.name} at ${entry.payloadOffset} ${failure}; dropped`);
      return null;
    }
    return { meta: decodeMeta(entry.flags, entry.meta), payload };
  }

  /** Frees space until `need` more bytes fit in the budget. Runs in the write queue. */
  private async makeRoom(need: number): Promise<void> {
    const lowWater = 0.9 * this.budget;
    while (this.files.bytes + need > this.budget) {
      const before = this.files.bytes;
      const dead = [...this.files.all.values()].filter((s) => s.live === 0 && (s.size > 0 || !this.files.isCurrent(s)));
      if (dead.length > 0) {
        for (const seg of dead) await this.files.remove(seg);
        continue;
      }
      if (this.liveBytes + need > lowWater && this.index.size > this.pins.size) {
        for (const entry of this.index.values()) {
          if (this.liveBytes + need <= lowWater) break;
          if (!this.pins.has(entry.key)) this.evict(entry);
        }
        continue;
      }
      // the space is garbage spread over segments that still hold live items
      await this.files.seal();
      // the one with the most garbage: every round then frees some, so the loop ends
      let victim: Segment | null = null;
      for (const s of this.files.all.values()) if (!victim || s.size - s.live > victim.size - victim.live) victim = s;
      if (!victim) return;
      const moved = [...this.index.values()].filter((e) => e.seg === victim);
      if (this.files.bytes + victim.live <= this.maxBytes) {
        for (const entry of moved) await this.move(entry);
      } else {
        for (const entry of moved) if (!this.pins.has(entry.key)) this.evict(entry);
      }
      if (victim.live === 0) await this.files.remove(victim);
      // Only pinned items are left in the way.
      if (this.files.bytes >= before && victim.live > 0) throw new Error("disk store: no room (pinned items fill it)");
    }
  }

  private evict(entry: Entry): void {
    this.removeEntry(entry);
    if (this.pending.has(entry.key)) return; // a newer copy is on its way: the key stays
    this.counts.evicted++;
    try {
      this.onEvict(entry.key);
    } catch (err) {
      this.warn(`disk store: onEvict(${entry.key}) threw: ${(err as Error).message}`);
    }
  }

  /** Compaction: rewrites a live item into the current segment, keeping its place in the LRU order. */
  private async move(entry: Entry): Promise<void> {
    const item = await this.read(entry, true);
    if (!item || this.index.get(entry.key) !== entry) return;
    const head = encodeHead(this.fpHash, Buffer.from(entry.key, "utf8"), entry.meta, entry.flags, entry.payloadLen, entry.payloadCrc);
    const seg = await this.files.append(head, item.payload);
    if (this.index.get(entry.key) !== entry) return;
    entry.seg.live -= entry.recordBytes;
    entry.seg = seg;
    entry.payloadOffset = seg.size - entry.payloadLen;
    seg.live += entry.recordBytes;
  }
}
