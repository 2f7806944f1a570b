// GGML's block quantization formats (the block structs of ggml-common.h), decoded exactly as
// ggml's dequantize_row_* and encoded as its quantize_row_*_ref, so a file we quantize holds
// the bytes llama.cpp's reference quantizer writes and a file it wrote decodes to its floats.
//
// ggml computes in f32. Each f32 operation here is spelled fr(a op b) over f32 operands: a
// double carries enough extra bits that rounding to double and then to f32 gives the f32
// result exactly, for + - * / and sqrt alike. Operations whose exact result fits a double
// (small integer times an f32) skip the fr and let the Float32Array store round.
// (A C compiler allowed to fuse a*b+c into an FMA can differ from this in the last bit.)
//
// Multi-byte fields are read byte by byte, little-endian, so `bytes` may start at any offset
// of a memory-mapped file. Nothing here allocates once the output exists: the K-quant search
// works in module-level scratch arrays.

import { dtypeInfo, type WeightType } from "./dtype.js";
import { F16_TO_F32, f16BitsFromF32Bits, bf16BitsFromF32Bits } from "./f16.js";

const fr = Math.fround;
const F16 = F16_TO_F32;
const FLT_MAX = 3.4028234663852886e38;
const F_01 = fr(0.1);
/** ggml's GROUP_MAX_EPS: below this a group counts as all zero. */
const GROUP_MAX_EPS = fr(1e-15);

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

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
  const dst = out ?? new Float32Array(n);
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

const CODECS: Readonly<Record<WeightType, Codec>> = {
  f32: codec("f32", decodeF32, encodeF32),
  f16: codec("f16", decodeF16, encodeF16),
  bf16: codec("bf16", decodeBf16, encodeBf16),
  q8_0: codec("q8_0", decodeQ8_0, encodeQ8_0),
  q4_0: codec("q4_0", decodeQ4_0, encodeQ4_0),
  q4_1: codec("q4_1", decodeQ4_1, encodeQ4_1),
  q5_0: codec("q5_0", decodeQ5_0, encodeQ5_0),
  q5_1: codec("q5_1", decodeQ5_1, encodeQ5_1),
  q4_K: codec("q4_K", decodeQ4_K, encodeQ4_K),
  q5_K: codec("q5_K", decodeQ5_K, encodeQ5_K),
  q6_K: codec("q6_K", decodeQ6_K, encodeQ6_K),
};

function codecOf(t: WeightType): Codec {
  const c = CODECS[t];
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

// ---- field access ----

function half(b: Uint8Array, o: number): number {
  return F16[b[o] | (b[o + 1] << 8)];
}

function putHalf(b: Uint8Array, o: number, x: number): void {
  scratchF32[0] = x;
  const h = f16BitsFromF32Bits(scratchU32[0]);
  b[o] = h;
  b[o + 1] = h >>> 8;
}

/** ggml's nearest_int: round half to even via the 1.5 * 2^23 trick, for f32 `v`. */
function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

/** C's roundf: halves away from zero. */
function roundAway(v: number): number {
  return v >= 0 ? Math.floor(v + 0.5) : -Math.floor(0.5 - v);
}

// ---- plain floats ----

function decodeF32(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 4) {
    scratchU32[0] = b[bo] | (b[bo + 1] << 8) | (b[bo + 2] << 16) | (b[bo + 3] << 24);
    out[oo + i] = scratchF32[0];
  }
}

function encodeF32(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  for (let i = 0; i < n; i++, bo += 4) {
    scratchF32[0] = x[xo + i];
    const w = scratchU32[0];
    b[bo] = w;
    b[bo + 1] = w >>> 8;
    b[bo + 2] = w >>> 16;
    b[bo + 3] = w >>> 24;
  }
}

function decodeF16(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 2) out[oo + i] = F16[b[bo] | (b[bo + 1] << 8)];
}

function encodeF16(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  for (let i = 0; i < n; i++, bo += 2) putHalf(b, bo, x[xo + i]);
}

function decodeBf16(b: Uint8Array, bo: number, n: number, out: Float32Array, oo: number): void {
  for (let i = 0; i < n; i++, bo += 2) {
    scratchU32[0] = (b[bo] | (b[bo + 1] << 8)) << 16;
    out[oo + i] = scratchF32[0];
  }
}

function encodeBf16(x: Float32Array, xo: number, n: number, b: Uint8Array, bo: number): void {
  for (let i = 0; i < n; i++, bo += 2) {
    scratchF32[0] = x[xo + i];
    const h = bf16BitsFromF32Bits(scratchU32[0]);
    b[bo] = h;
    b[bo + 1] = h >>> 8;
  }
}

// ---- 32-element blocks. In the 4- and 5-bit ones byte j holds element j in its low nibble
// and element j + 16 in its high nibble; q5's qh is a little-endian u32 with bit i the
// fifth bit of element i. ----

// block_q8_0 { f16 d; i8 qs[32] }: x = d * q.
function decodeQ8_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 34, oo += 32) {
    const d = half(b, bo);
    const q = bo + 2;
    for (let j = 0; j < 32; j++) out[oo + j] = ((b[q + j] << 24) >> 24) * d;
  }
}

function encodeQ8_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 32, bo += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[xo + j]);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    putHalf(b, bo, d);
    for (let j = 0; j < 32; j++) b[bo + 2 + j] = roundAway(fr(x[xo + j] * id));
  }
}

// block_q4_0 { f16 d; u8 qs[16] }: x = d * (q - 8). d = max / -8, with max the element of
// largest magnitude, so that element lands exactly on -8.
function decodeQ4_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 18, oo += 32) {
    const d = half(b, bo);
    const q = bo + 2;
    for (let j = 0; j < 16; j++) {
      const v = b[q + j];
      out[oo + j] = ((v & 15) - 8) * d;
      out[oo + j + 16] = ((v >> 4) - 8) * d;
    }
  }
}

function encodeQ4_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 32, bo += 18) {
    const max = signedAbsMax(x, xo);
    const d = fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    putHalf(b, bo, d);
    for (let j = 0; j < 16; j++) {
      // (int8_t) truncates; the operands are >= 0 here, so `| 0` does the same.
      const q0 = fr(fr(x[xo + j] * id) + 8.5) | 0;
      const q1 = fr(fr(x[xo + j + 16] * id) + 8.5) | 0;
      b[bo + 2 + j] = (q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4);
    }
  }
}

// block_q4_1 { f16 d, m; u8 qs[16] }: x = d * q + m, with m the block minimum.
function decodeQ4_1(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 20, oo += 32) {
    const d = half(b, bo);
    const m = half(b, bo + 2);
    const q = bo + 4;
    for (let j = 0; j < 16; j++) {
      const v = b[q + j];
      out[oo + j] = fr((v & 15) * d) + m;
      out[oo + j + 16] = fr((v >> 4) * d) + m;
    }
  }
}

function encodeQ4_1(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 32, bo += 20) {
    const min = blockMin(x, xo);
    const d = fr(fr(blockMax(x, xo) - min) / 15);
    const id = d !== 0 ? fr(1 / d) : 0;
    putHalf(b, bo, d);
    putHalf(b, bo + 2, min);
    for (let j = 0; j < 16; j++) {
      const q0 = fr(fr(fr(x[xo + j] - min) * id) + 0.5) | 0;
      const q1 = fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5) | 0;
      b[bo + 4 + j] = (q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4);
    }
  }
}

// block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: x = d * (q - 16), d = max / -16.
function decodeQ5_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 22, oo += 32) {
    const d = half(b, bo);
    const qh = b[bo + 2] | (b[bo + 3] << 8) | (b[bo + 4] << 16) | (b[bo + 5] << 24);
    const q = bo + 6;
    for (let j = 0; j < 16; j++) {
      const v = b[q + j];
      out[oo + j] = ((v & 15) + (((qh >>> j) & 1) << 4) - 16) * d;
      out[oo + j + 16] = ((v >> 4) + (((qh >>> (j + 16)) & 1) << 4) - 16) * d;
    }
  }
}

function encodeQ5_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 32, bo += 22) {
    const max = signedAbsMax(x, xo);
    const d = fr(max / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    putHalf(b, bo, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      let q0 = fr(fr(x[xo + j] * id) + 16.5) | 0;
      let q1 = fr(fr(x[xo + j + 16] * id) + 16.5) | 0;
      if (q0 > 31) q0 = 31;
      if (q1 > 31) q1 = 31;
      b[bo + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    putU32(b, bo + 2, qh);
  }
}

// block_q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: x = d * q + m.
function decodeQ5_1(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 24, oo += 32) {
    const d = half(b, bo);
    const m = half(b, bo + 2);
    const qh = b[bo + 4] | (b[bo + 5] << 8) | (b[bo + 6] << 16) | (b[bo + 7] << 24);
    const q = bo + 8;
    for (let j = 0; j < 16; j++) {
      const v = b[q + j];
      out[oo + j] = fr(((v & 15) | (((qh >>> j) & 1) << 4)) * d) + m;
      out[oo + j + 16] = fr(((v >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d) + m;
    }
  }
}

function encodeQ5_1(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 32, bo += 24) {
    const min = blockMin(x, xo);
    const d = fr(fr(blockMax(x, xo) - min) / 31);
    const id = d !== 0 ? fr(1 / d) : 0;
    putHalf(b, bo, d);
    putHalf(b, bo + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // ggml does not clamp here (the scaled value cannot pass 31.5); we do, to be safe.
      let q0 = fr(fr(fr(x[xo + j] - min) * id) + 0.5) | 0;
      let q1 = fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5) | 0;
      if (q0 > 31) q0 = 31;
      if (q1 > 31) q1 = 31;
      b[bo + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    putU32(b, bo + 4, qh);
  }
}

/** The element of largest magnitude, the first one on ties (ggml's `amax < fabsf(v)`). */
function signedAbsMax(x: Float32Array, xo: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    const a = Math.abs(v);
    if (amax < a) {
      amax = a;
      max = v;
    }
  }
  return max;
}

function blockMin(x: Float32Array, xo: number): number {
  let min = FLT_MAX;
  for (let j = 0; j < 32; j++) if (x[xo + j] < min) min = x[xo + j];
  return min;
}

function blockMax(x: Float32Array, xo: number): number {
  let max = -FLT_MAX;
  for (let j = 0; j < 32; j++) if (x[xo + j] > max) max = x[xo + j];
  return max;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

// ---- K-quants: 256-element super-blocks. q4_K and q5_K split them into eight sub-blocks
// of 32, each x = d*sc*q - dmin*m with 6-bit sc and m packed in 12 bytes (get_scale_min_k4).
// Quants are stored 64 elements at a time: 32 bytes whose low nibbles are elements 0..31
// of the group and whose high nibbles are elements 32..63. ----

/** Sub-block j's 6-bit scale from the 12 packed bytes at `b[s..]`. */
function kScale(b: Uint8Array, s: number, j: number): number {
  return j < 4 ? b[s + j] & 63 : (b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4);
}

/** Sub-block j's 6-bit min from the 12 packed bytes at `b[s..]`. */
function kMin(b: Uint8Array, s: number, j: number): number {
  return j < 4 ? b[s + j + 4] & 63 : (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4);
}

// block_q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] }
function decodeQ4_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 144) {
    const d = half(b, bo);
    const dmin = half(b, bo + 2);
    const s = bo + 4;
    let q = bo + 16;
    for (let j = 0; j < 8; j += 2, q += 32, oo += 64) {
      const d1 = fr(d * kScale(b, s, j));
      const m1 = fr(dmin * kMin(b, s, j));
      const d2 = fr(d * kScale(b, s, j + 1));
      const m2 = fr(dmin * kMin(b, s, j + 1));
      for (let l = 0; l < 32; l++) {
        const v = b[q + l];
        out[oo + l] = fr(d1 * (v & 15)) - m1;
        out[oo + l + 32] = fr(d2 * (v >> 4)) - m2;
      }
    }
  }
}

// block_q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: the fifth bit of
// element l of group g is bit 2g (low half) or 2g+1 (high half) of qh[l].
function decodeQ5_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 176) {
    const d = half(b, bo);
    const dmin = half(b, bo + 2);
    const s = bo + 4;
    const qh = bo + 16;
    let q = bo + 48;
    for (let j = 0; j < 8; j += 2, q += 32, oo += 64) {
      const d1 = fr(d * kScale(b, s, j));
      const m1 = fr(dmin * kMin(b, s, j));
      const d2 = fr(d * kScale(b, s, j + 1));
      const m2 = fr(dmin * kMin(b, s, j + 1));
      for (let l = 0; l < 32; l++) {
        const v = b[q + l];
        const h = b[qh + l] >> j;
        out[oo + l] = fr(d1 * ((v & 15) | ((h & 1) << 4))) - m1;
        out[oo + l + 32] = fr(d2 * ((v >> 4) | ((h & 2) << 3))) - m2;
      }
    }
  }
}

// block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: x = d * sc * (q - 32), one
// scale per 16 elements. Each half of 128 elements takes 64 ql bytes (low nibbles: elements
// 0..63, high nibbles: 64..127) and 32 qh bytes (two bits for each of elements l, l+32, l+64,
// l+96).
function decodeQ6_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 210) {
    const d = half(b, bo + 208);
    for (let h = 0; h < 2; h++, oo += 128) {
      const ql = bo + 64 * h;
      const qh = bo + 128 + 32 * h;
      const sc = bo + 192 + 8 * h;
      for (let l0 = 0; l0 < 32; l0 += 16) {
        const is = sc + (l0 >> 4);
        const s1 = fr(d * ((b[is] << 24) >> 24));
        const s2 = fr(d * ((b[is + 2] << 24) >> 24));
        const s3 = fr(d * ((b[is + 4] << 24) >> 24));
        const s4 = fr(d * ((b[is + 6] << 24) >> 24));
        for (let l = l0; l < l0 + 16; l++) {
          const lo = b[ql + l];
          const hi = b[ql + l + 32];
          const hb = b[qh + l];
          out[oo + l] = s1 * (((lo & 15) | ((hb & 3) << 4)) - 32);
          out[oo + l + 32] = s2 * (((hi & 15) | ((hb & 12) << 2)) - 32);
          out[oo + l + 64] = s3 * (((lo >> 4) | (hb & 48)) - 32);
          out[oo + l + 96] = s4 * (((hi >> 4) | ((hb & 192) >> 2)) - 32);
        }
      }
    }
  }
}

// Scratch for the K-quant searches, one super-block at a time.
const kL = new Uint8Array(256);
const kLaux = new Uint8Array(32);
const kWeights = new Float32Array(32);
const kShifted = new Float32Array(32);
const kScales = new Float32Array(16);
const kMins = new Float32Array(8);
const kLs = new Uint8Array(8);
const kLm = new Uint8Array(8);
const kSc6 = new Int8Array(16);

// quantize_row_q4_K_ref: per sub-block a weighted scale-and-min search, then the eight
// scales and mins quantized to 6 bits against the largest, then every element re-rounded
// against the quantized scale and min.
function encodeQ4_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 256, bo += 144) {
    searchSubBlocks(x, xo, 15, -1, 20);
    packScaleMinK4(x, xo, 15, b, bo);
    for (let g = 0; g < 4; g++) {
      const q = bo + 16 + 32 * g;
      for (let l = 0; l < 32; l++) b[q + l] = kL[64 * g + l] | (kL[64 * g + 32 + l] << 4);
    }
  }
}

// quantize_row_q5_K_ref: as q4_K with 5-bit quants and a narrower search.
function encodeQ5_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 256, bo += 176) {
    searchSubBlocks(x, xo, 31, -0.5, 15);
    packScaleMinK4(x, xo, 31, b, bo);
    for (let l = 0; l < 32; l++) {
      let h = 0;
      for (let g = 0; g < 4; g++) {
        const l1 = kL[64 * g + l];
        const l2 = kL[64 * g + 32 + l];
        h |= ((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1));
        b[bo + 48 + 32 * g + l] = (l1 & 15) | ((l2 & 15) << 4);
      }
      b[bo + 16 + l] = h;
    }
  }
}

/** Runs make_qkx2_quants on the eight sub-blocks: kScales, kMins and kL get the results. */
function searchSubBlocks(x: Float32Array, xo: number, nmax: number, rmin: number, nstep: number): void {
  for (let j = 0; j < 8; j++) {
    const o = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[o + l] * x[o + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) kWeights[l] = avX + Math.abs(x[o + l]);
    makeQkx2(x, o, nmax, rmin, F_01, nstep, 32 * j, j);
  }
}

/**
 * ggml's make_qkx2_quants for 32 elements without MAD: finds scale and min (min <= 0) that
 * minimize the kWeights-weighted squared error of x ~ scale * L + min, trying nstep + 1
 * grid scalings around the min/max fit. Writes L to kL[lo..], kScales[j] = scale and
 * kMins[j] = -min.
 */
function makeQkx2(
  x: Float32Array,
  xo: number,
  nmax: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  lo: number,
  j: number,
): void {
  const w = kWeights;
  const xm = kShifted;
  let min = x[xo];
  let max = x[xo];
  const sumW0 = w[0];
  let sumW = sumW0;
  let sumX = fr(sumW0 * x[xo]);
  for (let i = 1; i < 32; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = fr(sumW + w[i]);
    sumX = fr(sumX + fr(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    kL.fill(0, lo, lo + 32);
    kScales[j] = 0;
    kMins[j] = -min;
    return;
  }
  const range = fr(max - min);
  let iscale = fr(nmax / range);
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < 32; i++) {
    const v = x[xo + i];
    xm[i] = v - min;
    let l = nearestInt(fr(iscale * xm[i]));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    kL[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - v);
    bestError = fr(bestError + fr(w[i] * fr(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / range);
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < 32; i++) {
      let l = nearestInt(fr(iscale * xm[i]));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      kLaux[i] = l;
      const wl = fr(w[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < 32; i++) {
        const diff = fr(fr(fr(thisScale * kLaux[i]) + thisMin) - x[xo + i]);
        curError = fr(curError + fr(w[i] * fr(diff * diff)));
      }
      if (curError < bestError) {
        kL.set(kLaux, lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  kScales[j] = scale;
  kMins[j] = -min;
}

/**
 * Writes d, dmin and the 12 scale bytes of a q4_K/q5_K block at `b[bo..]` from kScales and
 * kMins, then re-rounds kL against the quantized scales (sub-blocks whose scale rounds to
 * zero keep their search result, as in ggml).
 */
function packScaleMinK4(x: Float32Array, xo: number, nmax: number, b: Uint8Array, bo: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    if (kScales[j] > maxScale) maxScale = kScales[j];
    if (kMins[j] > maxMin) maxMin = kMins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const s = bo + 4;
  for (let j = 0; j < 8; j++) {
    // uint8_t then MIN(63, ...), as ggml: a negative rounds through 256 to 63.
    let ls = nearestInt(fr(invScale * kScales[j])) & 255;
    let lm = nearestInt(fr(invMin * kMins[j])) & 255;
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    kLs[j] = ls;
    kLm[j] = lm;
    if (j < 4) {
      b[s + j] = ls;
      b[s + j + 4] = lm;
    } else {
      b[s + j + 4] = (ls & 15) | ((lm & 15) << 4);
      b[s + j - 4] |= (ls >> 4) << 6;
      b[s + j] |= (lm >> 4) << 6;
    }
  }
  putHalf(b, bo, fr(maxScale / 63));
  putHalf(b, bo + 2, fr(maxMin / 63));
  const dAll = half(b, bo);
  const mAll = half(b, bo + 2);
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * kLs[j]);
    if (d === 0) continue;
    const dm = fr(mAll * kLm[j]);
    const o = xo + 32 * j;
    for (let i = 0; i < 32; i++) {
      const l = nearestInt(fr(fr(x[o + i] + dm) / d));
      kL[32 * j + i] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
}

// quantize_row_q6_K_ref: per 16 elements a symmetric 6-bit fit (make_qx_quants with x^2
// weights), the sixteen scales quantized to int8 against the largest, then every element
// re-rounded against its quantized scale.
function encodeQ6_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
  for (let blk = 0; blk < nb; blk++, xo += 256, bo += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQx(x, xo + 16 * ib, 16 * ib);
      kScales[ib] = scale;
      const a = Math.abs(scale);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      b.fill(0, bo, bo + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    putHalf(b, bo + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) {
      const sc = nearestInt(fr(iscale * kScales[ib]));
      kSc6[ib] = sc < 127 ? sc : 127;
      b[bo + 192 + ib] = kSc6[ib];
    }
    const dAll = half(b, bo + 208);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * kSc6[j]);
      if (d === 0) continue;
      const o = xo + 16 * j;
      for (let i = 0; i < 16; i++) {
        const l = nearestInt(fr(x[o + i] / d));
        kL[16 * j + i] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = bo + 64 * h;
      const qh = bo + 128 + 32 * h;
      const L = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = kL[L + l];
        const q2 = kL[L + l + 32];
        const q3 = kL[L + l + 64];
        const q4 = kL[L + l + 96];
        b[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
        b[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
        b[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}

/**
 * ggml's make_qx_quants(16, 32, x, L, rmse_type 1, no weights): the scale (negative when
 * the largest-magnitude element is positive) whose levels in -32..31 best fit x, weighting
 * each element by x^2, over 19 scalings near -32/max. Writes L + 32 to kL[lo..].
 */
function makeQx(x: Float32Array, xo: number, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < 16; i++) {
    const v = x[xo + i];
    const a = Math.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    kL.fill(0, lo, lo + 16);
    return 0;
  }
  let iscale = fr(-32 / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < 16; i++) {
    const v = x[xo + i];
    let l = nearestInt(fr(iscale * v));
    l = l < -32 ? -32 : l > 31 ? 31 : l;
    kL[lo + i] = l + 32;
    const w = fr(v * v);
    sumLX = fr(sumLX + fr(fr(w * v) * l));
    sumL2 = fr(sumL2 + fr(fr(w * l) * l));
  }
  let scale = sumL2 !== 0 ? fr(sumLX / sumL2) : 0;
  let best = fr(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(32 + fr(F_01 * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < 16; i++) {
      const v = x[xo + i];
      let l = nearestInt(fr(iscale * v));
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      kLaux[i] = l + 32;
      const w = fr(v * v);
      sumLX = fr(sumLX + fr(fr(w * v) * l));
      sumL2 = fr(sumL2 + fr(fr(w * l) * l));
    }
    if (sumL2 > 0 && fr(sumLX * sumLX) > fr(best * sumL2)) {
      for (let i = 0; i < 16; i++) kL[lo + i] = kLaux[i];
      scale = fr(sumLX / sumL2);
      best = fr(scale * sumLX);
    }
  }
  return scale;
}
