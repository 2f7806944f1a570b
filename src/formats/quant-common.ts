// Shared pieces of the block codecs: f32-exact arithmetic helpers and little-endian field access.
import { F16_TO_F32, f16BitsFromF32Bits } from "./f16.js";

export const fr = Math.fround;
export const F16 = F16_TO_F32;
export const FLT_MAX = 3.4028234663852886e38;
export const F_01 = fr(0.1);
/** ggml's GROUP_MAX_EPS: below this a group counts as all zero. */
export const GROUP_MAX_EPS = fr(1e-15);

export const scratchF32 = new Float32Array(1);
export const scratchU32 = new Uint32Array(scratchF32.buffer);
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---- field access ----

export function half(b: Uint8Array, o: number): number {
  return F16[b[o] | (b[o + 1] << 8)];
}

export function putHalf(b: Uint8Array, o: number, x: number): void {
  scratchF32[0] = x;
  const h = f16BitsFromF32Bits(scratchU32[0]);
  b[o] = h;
  b[o + 1] = h >>> 8;
}

/** ggml's nearest_int: round half to even via the 1.5 * 2^23 trick, for f32 `v`. */
export function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

/** C's roundf: halves away from zero. */
export function roundAway(v: number): number {
  return v >= 0 ? Math.floor(v + 0.5) : -Math.floor(0.5 - v);
}


export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
