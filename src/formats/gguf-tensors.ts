// The GGUF tensor directory checked against the file: each entry's type is one we know, its
// shape is whole blocks of that type, its data starts at an aligned offset right where the
// previous tensor's (padded) data ends and lies inside the file. That is the layout llama.cpp's
// reader insists on too; holding every file to it is what catches a tensor whose type or shape
// was changed (its size no longer matches the gap before the next tensor) and offsets moved
// by a few bytes or onto another tensor, which would otherwise load and compute garbage.
import { dtypeFromGgml, tensorByteSize, type WeightType } from "./dtype.js";
import { fieldError, FormatError, quote } from "./errors.js";
import type { GGUFHeader } from "./gguf-header.js";

export interface TensorInfo {
  readonly name: string;
  readonly type: WeightType;
  /** Row-major shape, outermost first ([rows, cols] for a matrix): GGUF's ne[] reversed. */
  readonly shape: readonly number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export const DEFAULT_ALIGNMENT = 32;

/** general.alignment: a power of two, 32 when absent. */
export function ggufAlignment(path: string, metadata: GGUFHeader["metadata"]): number {
  const v = metadata["general.alignment"];
  if (v === undefined) return DEFAULT_ALIGNMENT;
  const a = typeof v === "bigint" ? Number(v) : v;
  if (typeof a !== "number" || !Number.isInteger(a) || a < 1 || a > 1 << 30 || (a & (a - 1)) !== 0) {
    throw fieldError(path, "general.alignment", `must be a power of two, got ${typeof v === "string" ? quote(v) : String(v)}`);
  }
  return a;
}

const pad = (n: number, a: number): number => n + ((a - (n % a)) % a);

/** The checked directory, by name, with absolute offsets. */
export function ggufTensors(path: string, header: GGUFHeader): Map<string, TensorInfo> {
  const alignment = ggufAlignment(path, header.metadata);
  const out = new Map<string, TensorInfo>();
  if (header.tensors.length === 0) return out;
  const dataStart = pad(header.headerEnd, alignment);
  if (dataStart > header.fileSize) {
    throw new FormatError(path, `truncated at byte ${header.fileSize} while reading the header (the data section starts at ${dataStart})`);
  }
  const room = header.fileSize - dataStart;
  const cut = truncatedData(path, header, dataStart, alignment);
  if (cut) throw cut;
  let expected = 0;
  let prev: TensorInfo | null = null;
  for (const t of header.tensors) {
    const field = `tensor ${quote(t.name)}`;
    if (out.has(t.name)) throw fieldError(path, field, "two tensors have this name");
    const info = dtypeFromGgml(t.ggmlType);
    if (!info) throw fieldError(path, `${field} type`, `unsupported type id ${t.ggmlType}`);
    const shape = [...t.dims].reverse();
    const size = tensorByteSize(info.name, shape, room);
    if (typeof size === "string") throw fieldError(path, `${field} shape`, size);
    if (t.offset % alignment !== 0) {
      throw fieldError(path, `${field} offset`, `${t.offset} is not a multiple of general.alignment (${alignment})`);
    }
    if (prev && t.offset < expected) {
      throw fieldError(path, `${field} offset`,
        `its data (${t.offset}..${t.offset + size}) overlaps tensor ${quote(prev.name)} (${prev.offset - dataStart}..${prev.offset - dataStart + prev.byteLength}, ${prev.type} [${prev.shape.join(", ")}])`);
    }
    if (t.offset !== expected) {
      const after = prev ? `tensor ${quote(prev.name)} (${prev.type} [${prev.shape.join(", ")}]) ends` : "the data section starts";
      throw fieldError(path, `${field} offset`, `${t.offset}, but ${after} at ${expected}: tensors follow each other in directory order`);
    }
    if (t.offset + size > room) {
      throw fieldError(path, field, `its data (${size} bytes at ${dataStart + t.offset}) lies beyond the end of the file (${header.fileSize} bytes)`);
    }
    prev = { name: t.name, type: info.name, shape, offset: dataStart + t.offset, byteLength: size };
    out.set(t.name, prev);
    expected = pad(t.offset + size, alignment);
  }
  // Only padding may follow the last tensor; more means its size is not what the file was
  // written with (a type or shape changed after the fact).
  const tail = header.fileSize - (prev!.offset + prev!.byteLength);
  if (tail >= alignment) {
    throw fieldError(path, `tensor ${quote(prev!.name)}`,
      `its data (${prev!.type} [${prev!.shape.join(", ")}], ${prev!.byteLength} bytes) is followed by ${tail} bytes that belong to no tensor`);
  }
  return out;
}

/**
 * A file cut short: every entry of the directory is sound and each tensor starts where the one
 * before it ends (as written), yet the data runs past the end of the file. Null when the
 * directory itself is wrong somewhere (the checks above name what).
 */
function truncatedData(path: string, header: GGUFHeader, dataStart: number, alignment: number): FormatError | null {
  let expected = 0;
  let first: { name: string; at: number; size: number } | null = null;
  for (const t of header.tensors) {
    const info = dtypeFromGgml(t.ggmlType);
    if (!info || t.offset !== expected) return null;
    const size = tensorByteSize(info.name, [...t.dims].reverse(), Number.MAX_SAFE_INTEGER);
    if (typeof size === "string") return null;
    if (first === null && dataStart + t.offset + size > header.fileSize) first = { name: t.name, at: dataStart + t.offset, size };
    expected = pad(t.offset + size, alignment);
  }
  if (first === null) return null;
  return new FormatError(path, `truncated at byte ${header.fileSize} while reading tensor data: tensor ${quote(first.name)} (${first.size} bytes at ${first.at}) ` +
    `lies beyond the end of the file, which should be ${dataStart + expected} bytes long`);
}
