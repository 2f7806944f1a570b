// The GGUF header: magic, version, the metadata key/value list and the raw tensor directory.
// Every count and length in it is checked against the bytes the file still has before anything
// is allocated for it, so a corrupt count fails here at once instead of building a list of four
// billion entries. What the directory's entries say (types, shapes, offsets) is checked by
// gguf-tensors.ts.
import fs from "node:fs";
import { fieldError, FormatError, quote } from "./errors.js";

export type GGUFScalar = string | number | bigint | boolean;
export type GGUFValue = GGUFScalar | GGUFValue[];

/** GGUF value type tags. */
export const VALUE_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;

/** Smallest encoding of one value of each type (a string is at least its 8-byte length). */
const MIN_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian

// Limits far above any real model, low enough that one bad length cannot take the heap.
/** A metadata string (chat templates and embedded tokenizer.json files are the long ones). */
const MAX_STRING = 64 * 1024 * 1024;
/** Metadata arrays (vocabularies and merge lists: a few hundred thousand entries). */
const MAX_ARRAY = 16 * 1024 * 1024;
/** Keys and tensor names (llama.cpp allows 63 bytes for a tensor name). */
const MAX_NAME = 65535;
/** ggml tensors have at most four dimensions. */
const MAX_DIMS = 4;

/** One tensor directory entry as written: dims innermost first (GGUF's ne[]). */
export interface RawTensorInfo {
  readonly name: string;
  readonly dims: readonly number[];
  readonly ggmlType: number;
  /** Relative to the start of the data section. */
  readonly offset: number;
}

export interface GGUFHeader {
  readonly version: number;
  readonly metadata: Readonly<Record<string, GGUFValue>>;
  readonly tensors: readonly RawTensorInfo[];
  /** Where the header ends (the data section starts at the next multiple of the alignment). */
  readonly headerEnd: number;
  readonly fileSize: number;
}

const WINDOW = 1 << 20;

/** Sequential reads from the file through a window, never past the end it checked. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly path: string) {}

  get left(): number {
    return this.size - this.pos;
  }

  /** The file ends before `field` does: it was cut short (a partial download or copy). */
  truncated(field: string, detail: string): FormatError {
    return truncatedHeader(this.path, this.size, `${field}: ${detail}`);
  }

  /** Index in `buf` of the next `n` bytes, after checking the file has them. */
  private need(n: number, field: string): number {
    if (n > this.size - this.pos) throw this.truncated(field, `needs ${n} bytes at ${this.pos}, the file has ${this.size - this.pos} left`);
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const got = fs.readSync(this.fd, buf, done, len - done, this.pos + done);
      if (got <= 0) throw this.truncated(field, `the file ends while it is read`);
      done += got;
    }
    this.buf = buf;
    this.bufStart = this.pos;
    return 0;
  }

  u32(field: string): number {
    const i = this.need(4, field);
    this.pos += 4;
    return this.buf.readUInt32LE(i);
  }

  /** A u64 as a number; above 2^53 it cannot be a real count or offset. */
  u64(field: string): number {
    const i = this.need(8, field);
    this.pos += 8;
    const lo = this.buf.readUInt32LE(i);
    const hi = this.buf.readUInt32LE(i + 4);
    if (hi >= 0x200000) throw fieldError(this.path, field, `${this.buf.readBigUInt64LE(i)} is far beyond anything the file could hold`);
    return hi * 0x100000000 + lo;
  }

  /** A length-prefixed UTF-8 string; the length is checked before the bytes are read. */
  str(field: string, max: number): string {
    const n = this.u64(field);
    if (n > max) throw fieldError(this.path, field, `string length ${n} is over the limit of ${max}`);
    if (n > this.left) throw this.truncated(field, `a string of ${n} bytes, the file has ${this.left} left`);
    const i = this.need(n, field);
    this.pos += n;
    return this.buf.toString("utf8", i, i + n);
  }

  scalar(type: number, field: string): GGUFScalar {
    const i = this.take(MIN_BYTES[type]!, field);
    const b = this.buf;
    switch (type) {
      case VALUE_TYPE.UINT8: return b.readUInt8(i);
      case VALUE_TYPE.INT8: return b.readInt8(i);
      case VALUE_TYPE.UINT16: return b.readUInt16LE(i);
      case VALUE_TYPE.INT16: return b.readInt16LE(i);
      case VALUE_TYPE.UINT32: return b.readUInt32LE(i);
      case VALUE_TYPE.INT32: return b.readInt32LE(i);
      case VALUE_TYPE.FLOAT32: return b.readFloatLE(i);
      case VALUE_TYPE.BOOL: return b.readUInt8(i) !== 0;
      case VALUE_TYPE.UINT64: return b.readBigUInt64LE(i);
      case VALUE_TYPE.INT64: return b.readBigInt64LE(i);
      case VALUE_TYPE.FLOAT64: return b.readDoubleLE(i);
      default: throw new Error(`not a scalar type: ${type}`);
    }
  }

  private take(n: number, field: string): number {
    const i = this.need(n, field);
    this.pos += n;
    return i;
  }
}

/** `<path>: truncated at byte N while reading the header (<what was being read>)`. */
export function truncatedHeader(path: string, size: number, detail: string): FormatError {
  return new FormatError(path, `truncated at byte ${size} while reading the header (${detail})`);
}

function valueTypeOk(t: number): boolean {
  return Number.isInteger(t) && t >= 0 && t <= VALUE_TYPE.FLOAT64;
}

function readValue(c: Cursor, type: number, field: string, path: string): GGUFValue {
  if (type === VALUE_TYPE.STRING) return c.str(field, MAX_STRING);
  if (type !== VALUE_TYPE.ARRAY) return c.scalar(type, field);
  const elem = c.u32(field);
  if (!valueTypeOk(elem)) throw fieldError(path, field, `unknown array element type ${elem}`);
  // llama.cpp reads no nested arrays either; refusing them keeps every value one level deep.
  if (elem === VALUE_TYPE.ARRAY) throw fieldError(path, field, "arrays of arrays are not supported");
  const n = c.u64(field);
  if (n > MAX_ARRAY) throw fieldError(path, field, `array of ${n} elements is over the limit of ${MAX_ARRAY}`);
  if (n * MIN_BYTES[elem]! > c.left) {
    throw c.truncated(field, `an array of ${n} elements needs at least ${n * MIN_BYTES[elem]!} bytes, the file has ${c.left} left`);
  }
  const out: GGUFValue[] = new Array<GGUFValue>(n);
  if (elem === VALUE_TYPE.STRING) for (let i = 0; i < n; i++) out[i] = c.str(field, MAX_STRING);
  else for (let i = 0; i < n; i++) out[i] = c.scalar(elem, field);
  return out;
}

/** Reads and bounds-checks the header of the GGUF file at `path`. */
export function readGGUFHeaderFrom(path: string): GGUFHeader {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new FormatError(path, "no such file");
  }
  if (!st.isFile()) throw new FormatError(path, "not a regular file");
  if (st.size < 24) throw truncatedHeader(path, st.size, "a GGUF header takes at least 24 bytes");
  const fd = fs.openSync(path, "r");
  try {
    return parse(new Cursor(fd, st.size, path), path);
  } finally {
    fs.closeSync(fd);
  }
}

function parse(c: Cursor, path: string): GGUFHeader {
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) throw new FormatError(path, `not a GGUF file (bad magic 0x${magic.toString(16).padStart(8, "0")})`);
  const version = c.u32("version");
  if (version !== 2 && version !== 3) throw fieldError(path, "version", `unsupported GGUF version ${version} (2 and 3 are)`);
  const tensorCount = c.u64("tensor_count");
  const kvCount = c.u64("metadata_kv_count");
  // A key/value takes at least 13 bytes (key length, type, one byte); a tensor entry 32 (name
  // length, n_dims, one dimension, type, offset).
  // A count no real file has is a lie; a plausible one with too few bytes after it, a cut.
  if (kvCount * 13 > c.left) {
    if (kvCount <= MAX_ARRAY) throw c.truncated("metadata_kv_count", `${kvCount} entries take at least ${kvCount * 13} bytes, the file has ${c.left} left`);
    throw fieldError(path, "metadata_kv_count", `${kvCount} entries cannot fit in the ${c.left} bytes after it`);
  }
  if (tensorCount * 32 > c.left - kvCount * 13) {
    if (tensorCount <= MAX_ARRAY) throw c.truncated("tensor_count", `${tensorCount} tensors and ${kvCount} entries take at least ${tensorCount * 32 + kvCount * 13} bytes, the file has ${c.left} left`);
    throw fieldError(path, "tensor_count", `${tensorCount} tensors cannot fit in the ${c.left} bytes after it`);
  }

  const entries = new Map<string, GGUFValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.str(`metadata key ${i}`, MAX_NAME);
    const field = quote(key);
    if (entries.has(key)) throw fieldError(path, field, "the key appears twice");
    const type = c.u32(field);
    if (!valueTypeOk(type)) throw fieldError(path, field, `unknown value type ${type}`);
    entries.set(key, readValue(c, type, field, path));
  }

  const tensors: RawTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.str(`tensor ${i} name`, MAX_NAME);
    const field = `tensor ${quote(name)}`;
    const nDims = c.u32(`${field} n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) throw fieldError(path, `${field} n_dims`, `${nDims} dimensions (1 to ${MAX_DIMS} are possible)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64(`${field} shape`));
    const ggmlType = c.u32(`${field} type`);
    const offset = c.u64(`${field} offset`);
    tensors.push({ name, dims, ggmlType, offset });
  }
  // Object.fromEntries defines each key as an own property, so a key like "__proto__" is data.
  return { version, metadata: Object.fromEntries(entries), tensors, headerEnd: c.pos, fileSize: c.size };
}
