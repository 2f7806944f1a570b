// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw data. Read in place from the mapped file.
import fs from "node:fs";
import { byteSize, type WeightType } from "./dtype.js";
import { openFileBytes, type FileBytes } from "./file-bytes.js";
import { FormatError } from "./errors.js";
import type { TensorInfo, TensorToWrite } from "./gguf.js";

export interface SafetensorsFile {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly bytes: FileBytes;
}

const DTYPES: Record<string, WeightType> = { F32: "f32", F16: "f16", BF16: "bf16" };
const MAX_HEADER = 100 * 1024 * 1024;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function isHeaderEntry(v: unknown): v is HeaderEntry {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.dtype === "string" && Array.isArray(e.shape) && e.shape.every((d) => Number.isInteger(d) && d >= 0) &&
    Array.isArray(e.data_offsets) && e.data_offsets.length === 2 && e.data_offsets.every((d) => Number.isInteger(d) && d >= 0);
}

export function readSafetensors(path: string): SafetensorsFile {
  let size: number;
  try {
    size = fs.statSync(path).size;
  } catch {
    throw new FormatError(path, "no such file");
  }
  if (size < 8) throw new FormatError(path, `truncated safetensors file (${size} bytes)`);
  const fd = fs.openSync(path, "r");
  let headerText: string;
  let headerLen: number;
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(MAX_HEADER) || Number(len) + 8 > size) {
      throw new FormatError(path, `not a safetensors file or truncated (header length ${len} for a ${size}-byte file)`);
    }
    headerLen = Number(len);
    const hb = Buffer.alloc(headerLen);
    fs.readSync(fd, hb, 0, headerLen, 8);
    headerText = hb.toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerText) as Record<string, unknown>;
  } catch {
    throw new FormatError(path, "safetensors header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new FormatError(path, "safetensors header is not a JSON object");
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    if (!isHeaderEntry(entry)) throw new FormatError(path, `tensor ${name} has a malformed header entry`);
    const type = DTYPES[entry.dtype];
    if (!type) throw new FormatError(path, `tensor ${name} has unsupported dtype ${entry.dtype} (F32, F16 and BF16 are)`);
    const [begin, end] = entry.data_offsets;
    const n = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== byteSize(type, n)) {
      throw new FormatError(path, `tensor ${name} spans ${end - begin} bytes but its shape needs ${byteSize(type, n)}`);
    }
    if (dataStart + end > size) {
      throw new FormatError(path, `tensor ${name} data (bytes ${begin}..${end}) lies beyond the end of the file`);
    }
    tensors.set(name, { name, type, shape: entry.shape, offset: dataStart + begin, byteLength: end - begin });
  }
  return { path, tensors, metadata, bytes: openFileBytes(path) };
}

const ST_NAMES: Partial<Record<WeightType, string>> = { f32: "F32", f16: "F16", bf16: "BF16" };

/** Writes one safetensors file, tensor by tensor. */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt", ...metadata } };
  let offset = 0;
  for (const t of tensors) {
    const dtype = ST_NAMES[t.type];
    if (!dtype) throw new Error(`safetensors cannot hold ${t.type} tensors (f32, f16 and bf16 only)`);
    const len = byteSize(t.type, t.shape.reduce((a, b) => a * b, 1));
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let text = JSON.stringify(header);
  text += " ".repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const hb = Buffer.from(text, "utf8");
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(hb.length));
  const fd = fs.openSync(path, "w");
  try {
    fs.writeSync(fd, lenBuf);
    fs.writeSync(fd, hb);
    for (const t of tensors) fs.writeSync(fd, t.data());
  } finally {
    fs.closeSync(fd);
  }
}
