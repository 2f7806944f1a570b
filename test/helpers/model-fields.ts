// Where each field of a model file's header lies, and edits of one field, for tests that
// corrupt files on purpose. Written apart from src/formats on purpose: the tests must find the
// fields of files the loader refuses, and must not share the loader's mistakes.
import { Buffer } from "node:buffer";

// ---- GGUF ----

/** Bytes of one value of each GGUF scalar type (index = type tag); 0 for string and array. */
const SCALAR_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
export const GGUF_STRING = 8;
export const GGUF_ARRAY = 9;

export interface GGUFStringField {
  /** Position of the u64 length; the bytes follow it. */
  readonly at: number;
  readonly value: string;
}

export interface GGUFKV {
  readonly key: GGUFStringField;
  /** Position of the u32 value type. */
  readonly typeAt: number;
  readonly type: number;
  /** Position of the value (of an array: its element type). */
  readonly valueAt: number;
  /** A string value, as a field that setGGUFStringField can rewrite. */
  readonly text?: GGUFStringField;
  /** Array element type and the position of the u64 element count. */
  readonly arrayType?: number;
  readonly countAt?: number;
  /** Each element's position (string elements: their length field). */
  readonly elementsAt?: readonly number[];
  readonly end: number;
}

export interface GGUFTensorField {
  readonly name: GGUFStringField;
  readonly nDimsAt: number;
  /** Position of each u64 dimension, innermost first (GGUF's ne[]). */
  readonly dimsAt: readonly number[];
  readonly dims: readonly bigint[];
  readonly typeAt: number;
  readonly type: number;
  readonly offsetAt: number;
  /** Relative to the data section. */
  readonly offset: bigint;
}

export interface GGUFFields {
  readonly tensorCountAt: number;
  readonly kvCountAt: number;
  readonly kvs: readonly GGUFKV[];
  readonly tensors: readonly GGUFTensorField[];
  readonly headerEnd: number;
  readonly alignment: number;
  readonly dataStart: number;
}

/** Field positions of a well-formed GGUF v3 file (throws on anything else: use it on originals). */
export function ggufFields(b: Buffer): GGUFFields {
  let p = 24;
  const str = (): GGUFStringField => {
    const at = p;
    const n = Number(b.readBigUInt64LE(p));
    p += 8 + n;
    return { at, value: b.toString("utf8", at + 8, at + 8 + n) };
  };
  const nTensors = Number(b.readBigUInt64LE(8));
  const nKv = Number(b.readBigUInt64LE(16));
  const kvs: GGUFKV[] = [];
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const typeAt = p;
    const type = b.readUInt32LE(p);
    p += 4;
    const valueAt = p;
    if (type === GGUF_STRING) {
      const text = str();
      kvs.push({ key, typeAt, type, valueAt, text, end: p });
    } else if (type === GGUF_ARRAY) {
      const arrayType = b.readUInt32LE(p);
      const countAt = p + 4;
      const n = Number(b.readBigUInt64LE(countAt));
      p += 12;
      const elementsAt: number[] = [];
      for (let j = 0; j < n; j++) {
        elementsAt.push(p);
        if (arrayType === GGUF_STRING) str();
        else p += SCALAR_BYTES[arrayType]!;
      }
      kvs.push({ key, typeAt, type, valueAt, arrayType, countAt, elementsAt, end: p });
    } else {
      if (key.value === "general.alignment") alignment = b.readUInt32LE(p);
      p += SCALAR_BYTES[type]!;
      kvs.push({ key, typeAt, type, valueAt, end: p });
    }
  }
  const tensors: GGUFTensorField[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDimsAt = p;
    const nDims = b.readUInt32LE(p);
    p += 4;
    const dimsAt: number[] = [];
    const dims: bigint[] = [];
    for (let d = 0; d < nDims; d++) {
      dimsAt.push(p);
      dims.push(b.readBigUInt64LE(p));
      p += 8;
    }
    const typeAt = p;
    const type = b.readUInt32LE(p);
    const offsetAt = p + 4;
    const offset = b.readBigUInt64LE(offsetAt);
    p += 12;
    tensors.push({ name, nDimsAt, dimsAt, dims, typeAt, type, offsetAt, offset });
  }
  const dataStart = p + ((alignment - (p % alignment)) % alignment);
  return { tensorCountAt: 8, kvCountAt: 16, kvs, tensors, headerEnd: p, alignment, dataStart };
}

export function ggufKV(f: GGUFFields, key: string): GGUFKV {
  const kv = f.kvs.find((k) => k.key.value === key);
  if (!kv) throw new Error(`no metadata key ${key}`);
  return kv;
}

export function ggufTensor(f: GGUFFields, name: string): GGUFTensorField {
  const t = f.tensors.find((x) => x.name.value === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
}

/** Writes a number at `at` as GGUF scalar type `type` (a copy of `b` comes back). */
export function writeScalar(b: Buffer, at: number, type: number, v: number | bigint): Buffer {
  const out = Buffer.from(b);
  const n = Number(v);
  switch (type) {
    case 0: out.writeUInt8(n & 0xff, at); break;
    case 1: out.writeInt8(((n & 0xff) << 24) >> 24, at); break;
    case 2: out.writeUInt16LE(n & 0xffff, at); break;
    case 3: out.writeInt16LE(((n & 0xffff) << 16) >> 16, at); break;
    case 4: out.writeUInt32LE(n >>> 0, at); break;
    case 5: out.writeInt32LE(n | 0, at); break;
    case 6: out.writeFloatLE(n, at); break;
    case 7: out.writeUInt8(n ? 1 : 0, at); break;
    case 10: out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), at); break;
    case 11: out.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), at); break;
    case 12: out.writeDoubleLE(n, at); break;
    default: throw new Error(`type ${type} is not a scalar`);
  }
  return out;
}

export const writeU32 = (b: Buffer, at: number, v: number): Buffer => writeScalar(b, at, 4, v);
export const writeU64 = (b: Buffer, at: number, v: number | bigint): Buffer => writeScalar(b, at, 10, v);

/** A metadata scalar set to `v`, in the type the file stores it as. */
export function setGGUFNumber(b: Buffer, key: string, v: number | bigint): Buffer {
  const kv = ggufKV(ggufFields(b), key);
  return writeScalar(b, kv.valueAt, kv.type, v);
}

/** Bytes of one GGUF scalar of type `type`. */
export function scalarBytes(type: number, v: number | bigint): Buffer {
  return writeScalar(Buffer.alloc(SCALAR_BYTES[type]!), 0, type, v);
}

/** A metadata scalar stored as type `type` (it may change size: the header is re-padded). */
export function setGGUFScalar(b: Buffer, key: string, type: number, v: number | bigint): Buffer {
  const kv = ggufKV(ggufFields(b), key);
  const tag = Buffer.alloc(4);
  tag.writeUInt32LE(type);
  return spliceGGUFHeader(b, kv.typeAt, kv.end - kv.typeAt, Buffer.concat([tag, scalarBytes(type, v)]));
}

/** One more element at the end of a metadata array (`element`: its encoded bytes). */
export function appendGGUFArray(b: Buffer, key: string, element: Uint8Array): Buffer {
  const kv = ggufKV(ggufFields(b), key);
  const out = spliceGGUFHeader(b, kv.end, 0, element);
  return writeU64(out, kv.countAt!, kv.elementsAt!.length + 1);
}

/** A GGUF string as stored (u64 length, then the bytes). */
export function ggufString(s: string | Uint8Array): Buffer {
  const bytes = typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes]);
}

/**
 * Replaces header bytes [at, at + oldLength) with `bytes` and re-pads the header, so the data
 * section keeps its bytes and stays aligned: a string of any new length, a tensor renamed.
 */
export function spliceGGUFHeader(b: Buffer, at: number, oldLength: number, bytes: Uint8Array): Buffer {
  const f = ggufFields(b);
  const head = Buffer.concat([b.subarray(0, at), bytes, b.subarray(at + oldLength, f.headerEnd)]);
  const padding = (f.alignment - (head.length % f.alignment)) % f.alignment;
  return Buffer.concat([head, Buffer.alloc(padding), b.subarray(f.dataStart)]);
}

/** A length-prefixed GGUF string field rewritten to `s` (any length). */
export function setGGUFStringField(b: Buffer, field: GGUFStringField, s: string | Uint8Array): Buffer {
  const oldLength = 8 + Buffer.byteLength(field.value, "utf8");
  return spliceGGUFHeader(b, field.at, oldLength, ggufString(s));
}

// ---- safetensors ----

export interface SafetensorsParts {
  readonly header: Record<string, unknown>;
  /** The data section (everything after the header). */
  readonly data: Buffer;
}

export function safetensorsParts(b: Buffer): SafetensorsParts {
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.toString("utf8", 8, 8 + n)) as Record<string, unknown>, data: b.subarray(8 + n) };
}

/** A safetensors file from a header (written as given, padded to 8 bytes) and a data section. */
export function safetensorsFrom(header: Record<string, unknown> | string, data: Buffer): Buffer {
  let text = typeof header === "string" ? header : JSON.stringify(header);
  text += " ".repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const hb = Buffer.from(text, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  return Buffer.concat([len, hb, data]);
}

/** The file with its JSON header changed by `edit` (data bytes untouched). */
export function editSafetensors(b: Buffer, edit: (header: Record<string, unknown>) => void): Buffer {
  const { header, data } = safetensorsParts(b);
  edit(header);
  return safetensorsFrom(header, data);
}

// ---- JSON files ----

export function editJson(b: Buffer, edit: (json: Record<string, unknown>) => void): Buffer {
  const j = JSON.parse(b.toString("utf8")) as Record<string, unknown>;
  edit(j);
  return Buffer.from(JSON.stringify(j), "utf8");
}
