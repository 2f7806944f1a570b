// IEEE half precision (f16) and bfloat16 (bf16) <-> f32, as 16-bit patterns held in numbers
// or Uint16Arrays. Narrowing rounds to nearest, ties to even, the way ggml's
// GGML_FP32_TO_FP16 (F16C or its bit-exact C fallback) and GGML_FP32_TO_BF16 do, so the
// bytes we write match llama.cpp's.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * The f32 value of every f16 bit pattern. Decoding is one lookup; hot loops (block scales,
 * f16 weight rows) index it directly with the raw 16 bits.
 */
export const F16_TO_F32: Float32Array = buildF16Table();

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant === 0 ? Infinity : NaN;
    else v = (1024 + mant) * 2 ** (exp - 25);
    table[h] = h & 0x8000 ? -v : v;
  }
  return table;
}

/** f16 bits of the f32 whose bits are `w` (a uint32 or int32 bit pattern). */
export function f16BitsFromF32Bits(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  const mant = w & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00); // NaN stays a quiet NaN
  const e = exp - 112; // rebias: 127 for f32, 15 for f16
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal: the value in units of 2^-24, rounded; a carry into 0x400 is
    // exactly the smallest normal, so the bit pattern needs no fix-up.
    if (e < -10) return sign; // below half of the smallest subnormal
    const full = mant | 0x800000;
    const shift = 14 - e;
    const q = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && (q & 1) !== 0) ? q + 1 : q);
  }
  // A carry out of the mantissa bumps the exponent, up to infinity: also what RNE wants.
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0) ? h + 1 : h);
}

/** f16 bits of `x` rounded to nearest even (overflow gives infinity, NaN a quiet NaN). */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f16BitsFromF32Bits(scratchU32[0]);
}

/** The value of f16 bits `h`. */
export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff];
}

/** `x` rounded to f16 and back: what a value becomes when stored as f16. */
export function roundToF16(x: number): number {
  return F16_TO_F32[f32ToF16(x)];
}

/** bf16 bits of the f32 whose bits are `w`: the top half, rounded to nearest even. */
export function bf16BitsFromF32Bits(w: number): number {
  if ((w & 0x7fffffff) > 0x7f800000) return ((w >>> 16) | 0x40) & 0xffff; // quiet the NaN
  // No wrap past 2^32: the largest non-NaN pattern is -inf, 0xff800000.
  return ((w >>> 0) + 0x7fff + ((w >>> 16) & 1)) >>> 16;
}

/** bf16 bits of `x` rounded to nearest even. */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return bf16BitsFromF32Bits(scratchU32[0]);
}

/** The value of bf16 bits `h` (exact: bf16 is the top half of an f32). */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

/** f16 bits of every element of `src`, into `out` (allocated when omitted). */
export function f32ToF16Array(src: Float32Array, out?: Uint16Array): Uint16Array {
  const dst = checkedOut(out, src.length, Uint16Array);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f16BitsFromF32Bits(bits[i]);
  return dst;
}

/** Values of the f16 bits in `src`, into `out` (allocated when omitted). */
export function f16ToF32Array(src: Uint16Array, out?: Float32Array): Float32Array {
  const dst = checkedOut(out, src.length, Float32Array);
  const table = F16_TO_F32;
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]];
  return dst;
}

/** bf16 bits of every element of `src`, into `out` (allocated when omitted). */
export function f32ToBf16Array(src: Float32Array, out?: Uint16Array): Uint16Array {
  const dst = checkedOut(out, src.length, Uint16Array);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = bf16BitsFromF32Bits(bits[i]);
  return dst;
}

/** Values of the bf16 bits in `src`, into `out` (allocated when omitted). */
export function bf16ToF32Array(src: Uint16Array, out?: Float32Array): Float32Array {
  const dst = checkedOut(out, src.length, Float32Array);
  // Writing the bits through an integer view keeps NaN payloads and skips a float round trip.
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return dst;
}

function checkedOut<T extends Uint16Array | Float32Array>(
  out: T | undefined,
  n: number,
  make: new (n: number) => T,
): T {
  if (!out) return new make(n);
  if (out.length < n) throw new RangeError(`output holds ${out.length} elements, ${n} needed`);
  return out;
}
