// GGML's block quantization formats (the block structs of ggml-common.h), decoded exactly as
// ggml's dequantize_row_* and encoded as its quantize_row_*_ref, so a file we quantize holds
// the bytes llama.cpp's reference quantizer writes and a file it wrote decodes to its floats.
//
// ggml computes in f32. Each f32 operation here is spelled fr(a op b) over f32 operands: a
// double carries enough extra bits that rounding to double and then to f32 gives the f32
// result exactly, for + - * / and sqrt alike. Operations whose exact result fits a double
// (small integer times an f32) skip the fr and let the Float32Array store round. A ggml
// built with FMA contraction (e.g. -march=native) rounds a*b+c once and so writes a few
// different K-quant bytes than this, and than itself built without.
//
// Multi-byte fields are read byte by byte, little-endian, so `bytes` may start at any offset
// of a memory-mapped file. Decoding allocates nothing; the K-quant search works in
// module-level scratch arrays.

import { dtypeInfo, type WeightType } from "./dtype.js";
import { bf16BitsFromF32Bits, f16BitsFromF32Bits } from "./f16.js";

import { F16, scratchF32, scratchU32, LITTLE_ENDIAN, putU32 } from "./quant-common.js";
import { decodeQ8_0, encodeQ8_0, decodeQ4_0, encodeQ4_0, decodeQ4_1, encodeQ4_1, decodeQ5_0, encodeQ5_0, decodeQ5_1, encodeQ5_1 } from "./quant-q32.js";
import { decodeQ4_K, encodeQ4_K, decodeQ5_K, encodeQ5_K, decodeQ6_K, encodeQ6_K } from "./quant-k.js";

/** Converts `src` (length a multiple of the block size) into the bytes of type `t`. */
export function quantize(t: WeightType, src: Float32Array): Uint8Array {
  const c = codecOf(t);
  const nb = blockCount("quantize", t, c, src.length);
  const out = new Uint8Array(nb * c.blockBytes);
  c.encode(src, 0, nb, out, 0);
  return out;
}

/** Decodes `n` elements of type `t` from `bytes` into `out` (allocated when omitted). */
export function dequantize(t: WeightType, bytes: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const c = codecOf(t);
  const dst = out ?? new Float32Array(blockCount("dequantize", t, c, n) * c.blockSize);
  dequantizeInto(t, bytes, 0, n, dst, 0);
  return dst;
}

/**
 * Decodes `n` elements (whole blocks) of type `t` that start at `bytes[byteOffset]` into
 * `out[outOffset..outOffset+n)`. For hot loops: decoding one row of a weight matrix held in
 * one big byte array needs no subarray views and allocates nothing. Any byte offset works.
 */
export function dequantizeInto(
  t: WeightType,
  bytes: Uint8Array,
  byteOffset: number,
  n: number,
  out: Float32Array,
  outOffset: number,
): void {
  const c = codecOf(t);
  const nb = blockCount("dequantize", t, c, n);
  const size = nb * c.blockBytes;
  if (!(byteOffset >= 0 && byteOffset + size <= bytes.length)) {
    throw new RangeError(`dequantize ${t}: ${n} elements need ${size} bytes at offset ${byteOffset}, have ${bytes.length}`);
  }
  if (!(outOffset >= 0 && outOffset + n <= out.length)) {
    throw new RangeError(`dequantize ${t}: output of ${out.length} cannot take ${n} elements at ${outOffset}`);
  }
  c.decode(bytes, byteOffset, nb, out, outOffset);
}

/**
 * Encodes `n` elements (whole blocks) of `src` starting at `srcOffset` as type `t` into
 * `dst` at `dstOffset`; returns the number of bytes written. Lets a model writer quantize
 * tensor by tensor straight into the file image.
 */
export function quantizeInto(
  t: WeightType,
  src: Float32Array,
  srcOffset: number,
  n: number,
  dst: Uint8Array,
  dstOffset: number,
): number {
  const c = codecOf(t);
  const nb = blockCount("quantize", t, c, n);
  const size = nb * c.blockBytes;
  if (!(srcOffset >= 0 && srcOffset + n <= src.length)) {
    throw new RangeError(`quantize ${t}: source of ${src.length} has no ${n} elements at ${srcOffset}`);
  }
  if (!(dstOffset >= 0 && dstOffset + size <= dst.length)) {
    throw new RangeError(`quantize ${t}: ${n} elements need ${size} bytes at offset ${dstOffset}, have ${dst.length}`);
  }
  c.encode(src, srcOffset, nb, dst, dstOffset);
  return size;
}

interface Codec {
  readonly blockSize: number;
  readonly blockBytes: number;
  /** Decodes `nb` blocks at `b[bo..]` into `out[oo..]`. */
  decode(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void;
  /** Encodes `nb` blocks of `x[xo..]` into `b[bo..]`. */
  encode(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void;
}

function codec(t: WeightType, decode: Codec["decode"], encode: Codec["encode"]): Codec {
  const { blockSize, blockBytes } = dtypeInfo(t);
  return { blockSize, blockBytes, decode, encode };
}

const CODECS = new Map<WeightType, Codec>([
  ["f32", codec("f32", decodeF32, encodeF32)],
  ["f16", codec("f16", decodeF16, encodeF16)],
  ["bf16", codec("bf16", decodeBf16, encodeBf16)],
  ["q8_0", codec("q8_0", decodeQ8_0, encodeQ8_0)],
  ["q4_0", codec("q4_0", decodeQ4_0, encodeQ4_0)],
  ["q4_1", codec("q4_1", decodeQ4_1, encodeQ4_1)],
  ["q5_0", codec("q5_0", decodeQ5_0, encodeQ5_0)],
  ["q5_1", codec("q5_1", decodeQ5_1, encodeQ5_1)],
  ["q4_K", codec("q4_K", decodeQ4_K, encodeQ4_K)],
  ["q5_K", codec("q5_K", decodeQ5_K, encodeQ5_K)],
  ["q6_K", codec("q6_K", decodeQ6_K, encodeQ6_K)],
]);

function codecOf(t: WeightType): Codec {
  const c = CODECS.get(t);
  if (c === undefined) throw new Error(`unknown weight type ${String(t)}`);
  return c;
}

function blockCount(op: string, t: WeightType, c: Codec, n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${op} ${t}: element count ${n} is not a whole number`);
  if (n % c.blockSize !== 0) {
    throw new RangeError(`${op} ${t}: ${n} elements is not a whole number of blocks of ${c.blockSize}`);
  }
  return n / c.blockSize;
}

// ---- plain floats ----

function decodeF32(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 4) {
    scratchU32[0] = b[bo] | (b[bo + 1] << 8) | (b[bo + 2] << 16) | (b[bo + 3] << 24);
    out[oo + i] = scratchF32[0];
  }
}

function encodeF32(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  if (LITTLE_ENDIAN) {
    b.set(new Uint8Array(x.buffer, x.byteOffset + 4 * xo, 4 * n), bo);
    return;
  }
  const bits = new Uint32Array(x.buffer, x.byteOffset + 4 * xo, n);
  for (let i = 0; i < n; i++, bo += 4) putU32(b, bo, bits[i]);
}

function decodeF16(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 2) out[oo + i] = F16[b[bo] | (b[bo + 1] << 8)];
}

function encodeF16(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset + 4 * xo, n);
  for (let i = 0; i < n; i++, bo += 2) {
    const h = f16BitsFromF32Bits(bits[i]);
    b[bo] = h;
    b[bo + 1] = h >>> 8;
  }
}

function decodeBf16(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 2) {
    scratchU32[0] = (b[bo] | (b[bo + 1] << 8)) << 16;
    out[oo + i] = scratchF32[0];
  }
}

function encodeBf16(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset + 4 * xo, n);
  for (let i = 0; i < n; i++, bo += 2) {
    const h = bf16BitsFromF32Bits(bits[i]);
    b[bo] = h;
    b[bo + 1] = h >>> 8;
  }
}
