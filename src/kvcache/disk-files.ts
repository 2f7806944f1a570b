// The disk store's segment files (seg-000001.kv, ...): which exist, which one takes appends,
// their sizes, and the open handles that writes and reads share. Appends go to one segment at
// a time, at explicit positions (a failed one is cut back off); a full segment is synced and
// left for reads. The store (disk-store.ts) decides what goes where; this file only moves bytes.
import { open, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { syncDir } from "./disk-manifest.js";
import { readFully } from "./disk-segment.js";

/** Writes `buffers` at `position` and says how many bytes went (fewer on a short write). */
export type DiskWrite = (fh: FileHandle, buffers: readonly Uint8Array[], position: number) => Promise<number>;

export interface Segment {
  readonly id: number;
  readonly name: string;
  readonly fh: FileHandle;
  size: number;
  /** Bytes of the records in it that the store's index points at. */
  live: number;
  unsynced: number;
  /** Reads under way: a deleted segment's handle closes when the last one ends. */
  readers: number;
  deleted: boolean;
}

export const SEGMENT_RE = /^seg-(\d{6,})\.kv$/;
const segName = (id: number): string => `seg-${String(id).padStart(6, "0")}.kv`;
const writev: DiskWrite = async (fh, buffers, position) => (await fh.writev(buffers, position)).bytesWritten;

export class SegmentFiles {
  readonly all = new Map<number, Segment>();
  /** The segment files' total size. */
  bytes = 0;
  writes = 0;
  bytesWritten = 0;
  private current: Segment | null = null;
  private nextId = 1;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly syncBytes: number,
    private readonly write: DiskWrite = writev,
  ) {}

  /** Opens the segment files named `ids`, oldest first. Appends go to a new one after them, never after an old tail. */
  async openExisting(ids: readonly number[]): Promise<Segment[]> {
    const out: Segment[] = [];
    for (const id of ids) {
      const seg = await this.add(id, "r+");
      seg.size = (await seg.fh.stat()).size;
      this.bytes += seg.size;
      this.nextId = Math.max(this.nextId, id + 1);
      out.push(seg);
    }
    return out;
  }

  /** Cuts `seg` to `size` bytes (an unfinished record at its end). */
  async truncate(seg: Segment, size: number): Promise<void> {
    await seg.fh.truncate(size);
    this.bytes -= seg.size - size;
    seg.size = size;
  }

  isCurrent(seg: Segment): boolean {
    return seg === this.current;
  }

  /** Appends one record (starting a segment when the current one is full) and returns its segment; the record ends at its size. */
  async append(head: Buffer, payload: Uint8Array): Promise<Segment> {
    const n = head.length + payload.length;
    if (this.current && this.current.size > 0 && this.current.size + n > this.segmentBytes) await this.seal();
    if (!this.current) {
      this.current = await this.add(this.nextId++, "wx+");
      await syncDir(this.dir);
    }
    const seg = this.current;
    const pos = seg.size;
    let buffers: Uint8Array[] = [head, payload];
    let done = 0;
    try {
      while (done < n) {
        const wrote = await this.write(seg.fh, buffers, pos + done);
        if (wrote <= 0) throw new Error("the write made no progress");
        done += wrote;
        buffers = sliceBuffers(buffers, wrote);
      }
    } catch (err) {
      // cut the segment back so its tail stays clean; when even that fails, leave the torn
      // record (the scan at open skips it), count its bytes, and start a new segment
      try {
        await seg.fh.truncate(pos);
      } catch {
        const size = await seg.fh.stat().then((st) => st.size, () => pos + n);
        this.bytes += size - seg.size;
        seg.size = size;
        this.current = null;
      }
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`disk store: writing a ${n}-byte record to ${seg.name} failed${code ? ` (${code})` : ""}: ${(err as Error).message}`, { cause: err });
    }
    seg.size += n;
    seg.unsynced += n;
    this.bytes += n;
    this.writes++;
    this.bytesWritten += n;
    if (seg.unsynced >= this.syncBytes) await this.sync();
    return seg;
  }

  /** fdatasyncs what the current segment holds unsynced. */
  async sync(): Promise<void> {
    const seg = this.current;
    if (seg && seg.unsynced > 0) {
      await seg.fh.datasync();
      seg.unsynced = 0;
    }
  }

  /** Syncs the current segment and takes no more appends in it. */
  async seal(): Promise<void> {
    await this.sync();
    this.current = null;
  }

  /** Fills `buf` from `seg` at `pos`, keeping the handle open meanwhile even if the segment is deleted. */
  async read(seg: Segment, buf: Buffer, pos: number): Promise<void> {
    seg.readers++;
    try {
      await readFully(seg.fh, buf, pos);
    } finally {
      if (--seg.readers === 0 && seg.deleted) await seg.fh.close().catch(() => undefined);
    }
  }

  /** Rewrites bytes of a record already in `seg` (a head marked dead); nothing when the segment is gone. */
  async overwrite(seg: Segment, buf: Buffer, pos: number): Promise<void> {
    if (seg.deleted || pos + buf.length > seg.size) return;
    let done = 0;
    while (done < buf.length) {
      const wrote = await this.write(seg.fh, [buf.subarray(done)], pos + done);
      if (wrote <= 0) throw new Error("the write made no progress");
      done += wrote;
    }
    seg.unsynced += buf.length;
  }

  async remove(seg: Segment): Promise<void> {
    if (this.current === seg) this.current = null;
    this.all.delete(seg.id);
    this.bytes -= seg.size;
    seg.deleted = true;
    await unlink(join(this.dir, seg.name)).catch(() => undefined);
    if (seg.readers === 0) await seg.fh.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const seg of this.all.values()) await seg.fh.close().catch(() => undefined);
    this.all.clear();
    this.current = null;
  }

  private async add(id: number, flags: string): Promise<Segment> {
    const name = segName(id);
    const seg: Segment = { id, name, fh: await open(join(this.dir, name), flags), size: 0, live: 0, unsynced: 0, readers: 0, deleted: false };
    this.all.set(id, seg);
    return seg;
  }
}

/** `buffers` less their first `n` bytes. */
function sliceBuffers(buffers: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (n >= b.length) n -= b.length;
    else {
      out.push(b.subarray(n));
      n = 0;
    }
  }
  return out;
}
