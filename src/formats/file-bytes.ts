// Read access to a (possibly multi-GB) model file without copying it into JS memory:
// memory-mapped through the addon when it is available, otherwise read lazily by range.
import fs from "node:fs";
import { loadNative } from "../native/addon.js";

export interface FileBytes {
  readonly path: string;
  readonly size: number;
  /** `length` bytes at `offset`. A view into the mapping when mapped, a fresh read otherwise. */
  slice(offset: number, length: number): Uint8Array;
  readonly mapped: boolean;
  close(): void;
}

class MappedFile implements FileBytes {
  readonly mapped = true;
  private buf: ArrayBuffer | null;
  constructor(readonly path: string, buf: ArrayBuffer) {
    this.buf = buf;
  }
  get size(): number {
    return this.buf ? this.buf.byteLength : 0;
  }
  slice(offset: number, length: number): Uint8Array {
    if (!this.buf) throw new Error(`${this.path}: file is closed`);
    checkRange(this.path, offset, length, this.buf.byteLength);
    return new Uint8Array(this.buf, offset, length);
  }
  close(): void {
    // The mapping is released when the last view into it is garbage collected.
    this.buf = null;
  }
}

class RangeReadFile implements FileBytes {
  readonly mapped = false;
  private fd: number | null;
  constructor(readonly path: string, readonly size: number) {
    this.fd = fs.openSync(path, "r");
  }
  slice(offset: number, length: number): Uint8Array {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    checkRange(this.path, offset, length, this.size);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, offset + done);
      if (n <= 0) throw new Error(`${this.path}: unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return out;
  }
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function checkRange(path: string, offset: number, length: number, size: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new Error(`${path}: read of ${length} bytes at offset ${offset} is beyond the end of the file (${size} bytes)`);
  }
}

/** Maps the file when the addon is there (or reads by range when `map` is false). */
export function openFileBytes(path: string, map = true): FileBytes {
  const st = fs.statSync(path);
  if (!st.isFile()) throw new Error(`${path}: not a regular file`);
  const native = map ? loadNative() : null;
  if (native && st.size > 0) return new MappedFile(path, native.mapFile(path));
  return new RangeReadFile(path, st.size);
}
