// GGUF v2/v3: the header and tensor directory read and checked by gguf-header.ts and
// gguf-tensors.ts, tensor bytes read in place from the memory-mapped file. Also a streaming
// writer for the models we generate.
import fs from "node:fs";
import { byteSize, dtypeInfo, type WeightType } from "./dtype.js";
import { openFileBytes, type FileBytes } from "./file-bytes.js";
import { GGUF_MAGIC, readGGUFHeaderFrom, VALUE_TYPE, type GGUFValue } from "./gguf-header.js";
import { DEFAULT_ALIGNMENT, ggufTensors, type TensorInfo } from "./gguf-tensors.js";

export type { GGUFScalar, GGUFValue } from "./gguf-header.js";
export type { TensorInfo } from "./gguf-tensors.js";

export interface GGUFFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: Readonly<Record<string, GGUFValue>>;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly bytes: FileBytes;
}

export function isGGUFFile(path: string): boolean {
  try {
    const fd = fs.openSync(path, "r");
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    return n === 4 && head.readUInt32LE(0) === GGUF_MAGIC;
  } catch {
    return false;
  }
}

/** Reads the header and tensor directory; tensor data stays in the file until sliced. */
export async function readGGUF(path: string): Promise<GGUFFile> {
  const header = readGGUFHeader(path);
  return { ...header, bytes: openFileBytes(path) };
}

/** Only the metadata (vocab-only GGUFs, tokenizers, chat templates). */
export async function readGGUFMetadata(path: string): Promise<Record<string, GGUFValue>> {
  return { ...readGGUFHeader(path).metadata };
}

function readGGUFHeader(path: string): Omit<GGUFFile, "bytes"> {
  const header = readGGUFHeaderFrom(path);
  return { path, version: header.version, metadata: header.metadata, tensors: ggufTensors(path, header) };
}

// ---- writer ----

/** A metadata value with an explicit GGUF type where the JS type is ambiguous. */
export type GGUFWriteValue =
  | string | boolean | number | bigint
  | string[] | Float32Array | Int32Array | Uint32Array
  | { type: "u16" | "u32" | "i32" | "f32" | "u64"; value: number | bigint };

export interface TensorToWrite {
  readonly name: string;
  readonly type: WeightType;
  readonly shape: readonly number[];
  /** Produces the tensor's bytes when the writer reaches it, so only one is in memory. */
  data(): Uint8Array;
}

/** How far a write has come, after each tensor. */
export interface WriteProgress {
  readonly tensors: number;
  readonly totalTensors: number;
  readonly bytes: number;
  readonly totalBytes: number;
}

/** `tensors` whose data() reports to `onTensor` once each has been produced (converted, quantized). */
export function trackTensors(tensors: readonly TensorToWrite[], onTensor: (p: WriteProgress) => void): TensorToWrite[] {
  const totalBytes = tensors.reduce((a, t) => a + byteSize(t.type, t.shape.reduce((x, y) => x * y, 1)), 0);
  let done = 0;
  let bytes = 0;
  onTensor({ tensors: 0, totalTensors: tensors.length, bytes, totalBytes });
  return tensors.map((t) => ({
    name: t.name, type: t.type, shape: t.shape,
    data: () => {
      const d = t.data();
      bytes += d.byteLength;
      onTensor({ tensors: ++done, totalTensors: tensors.length, bytes, totalBytes });
      return d;
    },
  }));
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.push(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v | 0);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeValue(sink: ByteSink, v: GGUFWriteValue): void {
  if (typeof v === "string") {
    sink.u32(VALUE_TYPE.STRING);
    sink.str(v);
  } else if (typeof v === "boolean") {
    sink.u32(VALUE_TYPE.BOOL);
    sink.push(Buffer.from([v ? 1 : 0]));
  } else if (typeof v === "bigint") {
    sink.u32(VALUE_TYPE.UINT64);
    sink.u64(v);
  } else if (typeof v === "number") {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      sink.u32(VALUE_TYPE.UINT32);
      sink.u32(v);
    } else if (Number.isInteger(v) && v < 0 && v >= -0x80000000) {
      sink.u32(VALUE_TYPE.INT32);
      sink.i32(v);
    } else {
      sink.u32(VALUE_TYPE.FLOAT32);
      sink.f32(v);
    }
  } else if (Array.isArray(v)) {
    sink.u32(VALUE_TYPE.ARRAY);
    sink.u32(VALUE_TYPE.STRING);
    sink.u64(v.length);
    for (const s of v) sink.str(s);
  } else if (v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint32Array) {
    sink.u32(VALUE_TYPE.ARRAY);
    const t = v instanceof Float32Array ? VALUE_TYPE.FLOAT32 : v instanceof Int32Array ? VALUE_TYPE.INT32 : VALUE_TYPE.UINT32;
    sink.u32(t);
    sink.u64(v.length);
    sink.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  } else {
    const tag = { u16: VALUE_TYPE.UINT16, u32: VALUE_TYPE.UINT32, i32: VALUE_TYPE.INT32, f32: VALUE_TYPE.FLOAT32, u64: VALUE_TYPE.UINT64 }[v.type];
    sink.u32(tag);
    if (v.type === "u16") sink.u16(Number(v.value));
    else if (v.type === "u32") sink.u32(Number(v.value));
    else if (v.type === "i32") sink.i32(Number(v.value));
    else if (v.type === "f32") sink.f32(Number(v.value));
    else sink.u64(v.value);
  }
}

const pad = (n: number, a: number): number => (a - (n % a)) % a;

/** Writes a GGUF v3 file, tensor by tensor. */
export function writeGGUF(path: string, metadata: Record<string, GGUFWriteValue>, tensors: readonly TensorToWrite[]): void {
  const alignment = DEFAULT_ALIGNMENT;
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(3);
  head.u64(tensors.length);
  head.u64(Object.keys(metadata).length);
  for (const [k, v] of Object.entries(metadata)) {
    head.str(k);
    writeValue(head, v);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    head.str(t.name);
    head.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) head.u64(d);
    head.u32(dtypeInfo(t.type).ggmlType);
    head.u64(offset);
    offsets.push(offset);
    offset += byteSize(t.type, n);
    offset += pad(offset, alignment);
  }
  head.push(Buffer.alloc(pad(head.length, alignment)));
  const fd = fs.openSync(path, "w");
  try {
    fs.writeSync(fd, head.concat());
    let written = 0;
    tensors.forEach((t, i) => {
      const gap = (offsets[i] ?? 0) - written;
      if (gap > 0) fs.writeSync(fd, Buffer.alloc(gap));
      const data = t.data();
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (data.byteLength !== byteSize(t.type, n)) {
        throw new Error(`tensor ${t.name}: ${data.byteLength} bytes given, ${byteSize(t.type, n)} expected`);
      }
      fs.writeSync(fd, data);
      written = (offsets[i] ?? 0) + data.byteLength;
    });
    const tail = pad(written, alignment);
    if (tail > 0) fs.writeSync(fd, Buffer.alloc(tail));
  } finally {
    fs.closeSync(fd);
  }
}
