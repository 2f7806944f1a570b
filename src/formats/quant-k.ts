// The K-quant super-block formats q4_K, q5_K, q6_K.
import { fr, F_01, GROUP_MAX_EPS, half, putHalf, nearestInt } from "./quant-common.js";

// ---- K-quants: 256-element super-blocks. q4_K and q5_K split them into eight sub-blocks
// of 32, each x = d*sc*q - dmin*m with 6-bit sc and m packed in 12 bytes (get_scale_min_k4).
// Quants are stored 64 elements at a time: 32 bytes whose low nibbles are elements 0..31
// of the group and whose high nibbles are elements 32..63. ----

/** Sub-block j's 6-bit scale from the 12 packed bytes at `b[s..]`. */
export function kScale(b: Uint8Array, s: number, j: number): number {
  return j < 4 ? b[s + j] & 63 : (b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4);
}

/** Sub-block j's 6-bit min from the 12 packed bytes at `b[s..]`. */
export function kMin(b: Uint8Array, s: number, j: number): number {
  return j < 4 ? b[s + j + 4] & 63 : (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4);
}

// block_q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] }
export function decodeQ4_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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
export function decodeQ5_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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
export function decodeQ6_K(b: Uint8Array, bo: number, nb: number, out: Float32Array, oo: number): void {
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
export function encodeQ4_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function encodeQ5_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function searchSubBlocks(x: Float32Array, xo: number, nmax: number, rmin: number, nstep: number): void {
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
 * grid scalings of the current min..max range and refitting scale and min to each grid's
 * levels by least squares. Writes L to kL[lo..], kScales[j] = scale and kMins[j] = -min.
 */
export function makeQkx2(
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
  let range = fr(max - min);
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
    // Neighbouring grid points often round to the same levels. The fit depends only on the
    // levels (and x, w), so it would repeat the last one, which either lost or became the
    // best it cannot beat: skipping it changes no outcome.
    let changed = is === 0;
    for (let i = 0; i < 32; i++) {
      let l = nearestInt(fr(iscale * xm[i]));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (kLaux[i] !== l) {
        kLaux[i] = l;
        changed = true;
      }
    }
    if (!changed) continue;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < 32; i++) {
      const l = kLaux[i];
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
      // The terms are >= 0 and f32 addition is monotone, so once the running error reaches
      // the best the candidate has lost: stopping there changes no outcome.
      let curError = 0;
      for (let i = 0; i < 32 && curError < bestError; i++) {
        const diff = fr(fr(fr(thisScale * kLaux[i]) + thisMin) - x[xo + i]);
        curError = fr(curError + fr(w[i] * fr(diff * diff)));
      }
      if (curError < bestError) {
        kL.set(kLaux, lo);
        bestError = curError;
        scale = thisScale;
        // ggml keeps searching around the new min: later grid points shift with it.
        min = thisMin;
        range = fr(max - min);
        for (let i = 0; i < 32; i++) xm[i] = x[xo + i] - min;
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
export function packScaleMinK4(x: Float32Array, xo: number, nmax: number, b: Uint8Array, bo: number): void {
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
export function encodeQ6_K(x: Float32Array, xo: number, nb: number, b: Uint8Array, bo: number): void {
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
export function makeQx(x: Float32Array, xo: number, lo: number): number {
  const w = kWeights;
  const wx = kShifted;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < 16; i++) {
    const v = x[xo + i];
    const a = Math.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
    w[i] = v * v;
    wx[i] = w[i] * v;
  }
  if (amax < GROUP_MAX_EPS) {
    kL.fill(0, lo, lo + 16);
    return 0;
  }
  let iscale = fr(-32 / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < 16; i++) {
    let l = nearestInt(fr(iscale * x[xo + i]));
    l = l < -32 ? -32 : l > 31 ? 31 : l;
    kL[lo + i] = l + 32;
    sumLX = fr(sumLX + fr(wx[i] * l));
    sumL2 = fr(sumL2 + fr(fr(w[i] * l) * l));
  }
  let scale = sumL2 !== 0 ? fr(sumLX / sumL2) : 0;
  let best = fr(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(32 + fr(F_01 * is)) / max);
    // Levels equal to the last candidate's give the same sums: that candidate either lost
    // or was taken, and taking it again changes nothing, so skip the sums.
    let changed = is === -9;
    for (let i = 0; i < 16; i++) {
      let l = nearestInt(fr(iscale * x[xo + i]));
      l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
      if (kLaux[i] !== l) {
        kLaux[i] = l;
        changed = true;
      }
    }
    if (!changed) continue;
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < 16; i++) {
      const l = kLaux[i] - 32;
      sumLX = fr(sumLX + fr(wx[i] * l));
      sumL2 = fr(sumL2 + fr(fr(w[i] * l) * l));
    }
    if (sumL2 > 0 && fr(sumLX * sumLX) > fr(best * sumL2)) {
      for (let i = 0; i < 16; i++) kL[lo + i] = kLaux[i];
      scale = fr(sumLX / sumL2);
      best = fr(scale * sumLX);
    }
  }
  return scale;
}
