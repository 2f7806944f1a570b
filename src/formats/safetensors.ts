// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw data. Read in place from the mapped file.
import fs from "node:fs";
import { byteSize, tensorByteSize, type WeightType } from "./dtype.js";
import { openFileBytes, type FileBytes } from "./file-bytes.js";
import { fieldError, FormatError, quote } from "./errors.js";
import type { TensorInfo, TensorToWrite } from "./gguf.js";

export interface SafetensorsFile {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly bytes: FileBytes;
}

const DTYPES: Record<string, WeightType> = { F32: "f32", F16: "f16", BF16: "bf16" };
const MAX_HEADER = 100 * 1024 * 1024;

interface Span {
  readonly name: string;
  readonly begin: number;
  readonly end: number;
}

/**
 * Reads the header and checks it against the file as the reference implementation does: the
 * header length fits, the header is a JSON object, every entry's data_offsets span exactly
 * dtype x shape bytes, and the entries tile the data section with no overlap, hole or
 * leftover. A wrong header length, a changed dtype or shape, or moved offsets all fail here.
 */
export function readSafetensors(path: string): SafetensorsFile {
  let size: number;
  try {
    size = fs.statSync(path).size;
  } catch {
    throw new FormatError(path, "no such file");
  }
  if (size < 8) throw new FormatError(path, `truncated safetensors file (${size} bytes)`);
  const fd = fs.openSync(path, "r");
  let headerBytes: Buffer;
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(size - 8)) {
      throw fieldError(path, "header length", `${len} runs past the end of the file (${size} bytes): not a safetensors file, or truncated`);
    }
    if (len > BigInt(MAX_HEADER)) throw fieldError(path, "header length", `${len} is over the limit of ${MAX_HEADER}`);
    headerBytes = Buffer.alloc(Number(len));
    fs.readSync(fd, headerBytes, 0, headerBytes.length, 8);
  } finally {
    fs.closeSync(fd);
  }
  const header = parseHeader(path, headerBytes);
  const dataStart = 8 + headerBytes.length;
  const dataSize = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  const spans: Span[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(path, entry);
      continue;
    }
    const info = checkEntry(path, name, entry, dataSize);
    spans.push({ name, begin: info.begin, end: info.end });
    tensors.set(name, { name, type: info.type, shape: info.shape, offset: dataStart + info.begin, byteLength: info.end - info.begin });
  }
  checkTiling(path, spans, dataSize, headerBytes.length);
  return { path, tensors, metadata, bytes: openFileBytes(path) };
}

function parseHeader(path: string, bytes: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw fieldError(path, "header", "not valid UTF-8");
  }
  if (!text.startsWith("{")) throw fieldError(path, "header", `does not start with "{" (not a safetensors file, or a wrong header length)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw fieldError(path, "header", `not valid JSON (${err instanceof Error ? err.message.slice(0, 120) : "parse error"})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw fieldError(path, "header", "not a JSON object");
  return header as Record<string, unknown>;
}

function checkMetadata(path: string, v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) {
    throw fieldError(path, "__metadata__", "must be an object of strings");
  }
  return v as Record<string, string>;
}

const isCount = (d: unknown): d is number => typeof d === "number" && Number.isSafeInteger(d) && d >= 0;

function checkEntry(path: string, name: string, entry: unknown, dataSize: number): { type: WeightType; shape: number[]; begin: number; end: number } {
  const field = `tensor ${quote(name)}`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw fieldError(path, field, "not an object with dtype, shape and data_offsets");
  const e = entry as Record<string, unknown>;
  if (typeof e.dtype !== "string") throw fieldError(path, `${field} dtype`, "missing or not a string");
  const type = DTYPES[e.dtype];
  if (!type) throw fieldError(path, `${field} dtype`, `unsupported dtype ${quote(e.dtype, 16)} (F32, F16 and BF16 are)`);
  if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every(isCount)) {
    throw fieldError(path, `${field} shape`, "must be a list of at most 8 non-negative integers");
  }
  const shape = e.shape as number[];
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw fieldError(path, `${field} data_offsets`, "must be [begin, end] with 0 <= begin <= end");
  }
  const [begin, end] = offsets as [number, number];
  // Zero-length dimensions are legal in safetensors; a tensor the model uses is held to its
  // exact shape later. The size is only bounded here; the span must then match it exactly.
  const need = tensorByteSize(type, shape, Number.MAX_SAFE_INTEGER, 0);
  if (typeof need === "string") throw fieldError(path, `${field} shape`, need);
  if (end - begin !== need) {
    throw fieldError(path, `${field} data_offsets`, `[${begin}, ${end}] span ${end - begin} bytes, but ${e.dtype} [${shape.join(", ")}] needs ${need}`);
  }
  if (end > dataSize) {
    throw fieldError(path, `${field} data_offsets`, `[${begin}, ${end}] lie beyond the end of the file (the data section holds ${dataSize} bytes)`);
  }
  return { type, shape, begin, end };
}

/** The tensors cover the data section exactly, in offset order, without overlaps or holes. */
function checkTiling(path: string, spans: Span[], dataSize: number, headerLength: number): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Span | null = null;
  for (const s of spans) {
    const field = `tensor ${quote(s.name)} data_offsets`;
    if (s.begin < at && prev) {
      throw fieldError(path, field, `[${s.begin}, ${s.end}] overlap tensor ${quote(prev.name)} [${prev.begin}, ${prev.end}]`);
    }
    if (s.begin > at) {
      const after = prev ? `tensor ${quote(prev.name)} ends at ${at}` : "the data section starts at 0";
      throw fieldError(path, field, `[${s.begin}, ${s.end}] leave a hole: ${after}`);
    }
    at = s.end;
    prev = s;
  }
  if (at !== dataSize) {
    throw fieldError(path, "data_offsets",
      `the tensors cover ${at} bytes, but the data section after the header (header length ${headerLength}) holds ${dataSize}`);
  }
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
