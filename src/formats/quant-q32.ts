// The 32-element block formats q8_0, q4_0, q4_1, q5_0, q5_1.
import { fr, FLT_MAX, half, putHalf, roundAway, putU32 } from "./quant-common.js";

// ---- 32-element blocks. In the 4- and 5-bit ones byte j holds element j in its low nibble
// and element j + 16 in its high nibble; q5's qh is a little-endian u32 with bit i the
// fifth bit of element i. ----

// block_q8_0 { f16 d; i8 qs[32] }: x = d * q.
export function decodeQ8_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
  for (let blk = 0; blk < nb; blk++, bo += 34, oo += 32) {
    const d = half(b, bo);
    const q = bo + 2;
    for (let j = 0; j < 32; j++) out[oo + j] = ((b[q + j] << 24) >> 24) * d;
  }
}

export function encodeQ8_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function decodeQ4_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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

export function encodeQ4_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function decodeQ4_1(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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

export function encodeQ4_1(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function decodeQ5_0(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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

export function encodeQ5_0(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function decodeQ5_1(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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

export function encodeQ5_1(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function signedAbsMax(x: Float32Array, xo: number): number {
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

export function blockMin(x: Float32Array, xo: number): number {
  let min = FLT_MAX;
  for (let j = 0; j < 32; j++) if (x[xo + j] < min) min = x[xo + j];
  return min;
}

export function blockMax(x: Float32Array, xo: number): number {
  let max = -FLT_MAX;
  for (let j = 0; j < 32; j++) if (x[xo + j] > max) max = x[xo + j];
  return max;
}
