import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { dequantize, dequantizeInto, quantize, quantizeInto } from "../../src/formats/quant.js";
import {
  bf16ToF32,
  bf16ToF32Array,
  f16ToF32,
  f16ToF32Array,
  f32ToBf16,
  f32ToBf16Array,
  f32ToF16,
  f32ToF16Array,
} from "../../src/formats/f16.js";
import { byteSize, QUANT_TYPES, type WeightType } from "../../src/formats/dtype.js";
import { mulberry32 as rng } from "../../src/util/random.js";

// ---- seeded data ----


function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/**
 * 256-element chunks in turn: Gaussian at several magnitudes, all zeros, one large outlier
 * per 32, all positive with an offset, all negative, a constant, a zero sub-block inside
 * a nonzero super-block, and a block holding +a and -a (the q4_0/q5_0 clamp case).
 */
function testData(chunks: number, seed: number, smallest = 1e-4): Float32Array {
  const rand = rng(seed);
  const x = new Float32Array(256 * chunks);
  const scales = [smallest, 0.02, 1, 30];
  for (let c = 0; c < chunks; c++) {
    const kind = c % 10;
    const sigma = scales[Math.floor(c / 10) % scales.length]!;
    for (let i = 0; i < 256; i++) {
      const g = gaussian(rand) * sigma;
      let v: number;
      switch (kind) {
        case 0: case 1: case 2: v = g; break;
        case 3: v = 0; break;
        case 4: v = i % 32 === 5 ? g * 20 + 10 * sigma : g; break;
        case 5: v = Math.abs(g) + 2 * sigma; break;
        case 6: v = -Math.abs(g); break;
        case 7: v = sigma * 0.37; break;
        case 8: v = i >= 64 && i < 96 ? 0 : g; break;
        default: v = i % 32 === 0 ? sigma : i % 32 === 1 ? -sigma : g * 0.5;
      }
      x[256 * c + i] = v;
    }
  }
  return x;
}

/** The most that rounding a value of magnitude `v` (below 65504) to f16 can change it. */
function f16Err(v: number): number {
  return Math.max(Math.abs(v) * 2 ** -11, 2 ** -25);
}

function blockStats(x: Float32Array, o: number, n: number): { min: number; max: number; amax: number; signedMax: number } {
  let min = Infinity;
  let max = -Infinity;
  let amax = 0;
  let signedMax = 0;
  for (let i = o; i < o + n; i++) {
    const v = x[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      signedMax = v;
    }
  }
  return { min, max, amax, signedMax };
}

// ---- per-element error bounds of the 32-element formats, from their definitions ----

/**
 * Largest |decoded - x[i]| allowed for element i of block `o`. Each format rounds x/d to a
 * level, so the error is half a step, plus the step times the largest level for rounding d
 * to f16 (the level was chosen against the unrounded d), plus f16 rounding of the offset m.
 * q4_0 and q5_0 put the largest-magnitude element on the bottom level (-8 or -16); an
 * element of the opposite sign near -max would need level +8 (+16), which does not exist, so
 * elements within half a step of -max may be a whole step off.
 */
function elementBound(t: WeightType, x: Float32Array, o: number, i: number): number {
  const s = blockStats(x, o, 32);
  const slack = 1e-5 * s.amax + 1e-12;
  switch (t) {
    case "q8_0": {
      const d = s.amax / 127;
      return d / 2 + 127 * f16Err(d) + slack;
    }
    case "q4_0":
    case "q5_0": {
      const levels = t === "q4_0" ? 8 : 16;
      const d = s.amax / levels;
      const clamped = x[i]! * Math.sign(s.signedMax) < -(levels - 0.5) * d;
      return (clamped ? d : d / 2) + levels * f16Err(d) + slack;
    }
    case "q4_1":
    case "q5_1": {
      const top = t === "q4_1" ? 15 : 31;
      const d = (s.max - s.min) / top;
      return d / 2 + top * f16Err(d) + f16Err(s.min) + slack;
    }
    default:
      throw new Error(`no element bound for ${t}`);
  }
}

for (const t of ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1"] as const) {
  test(`${t}: quantize then dequantize stays within half a step per element`, () => {
    const x = testData(40, 11);
    const bytes = quantize(t, x);
    assert.equal(bytes.length, byteSize(t, x.length));
    const y = dequantize(t, bytes, x.length);
    for (let o = 0; o < x.length; o += 32) {
      for (let i = o; i < o + 32; i++) {
        const err = Math.abs(y[i]! - x[i]!);
        const bound = elementBound(t, x, o, i);
        if (!(err <= bound)) assert.fail(`${t} element ${i}: x=${x[i]} got ${y[i]} err ${err} > ${bound}`);
      }
    }
  });
}

// ---- K-quants: error relative to the super-block's RMS ----

// A uniform quantizer with step D has RMS error D/sqrt(12). q4_K: D = range/15 per 32
// elements, and a Gaussian 32-sample range is about 4 sigma: ~0.077 sigma. With a 20-sigma
// outlier per sub-block the range is ~21 sigma against a block RMS of ~3.7 sigma: ~0.11.
// q5_K halves D (range/31); q6_K is symmetric with D = amax/32 per 16 elements (amax about
// 2 sigma: ~0.018). The 6/8-bit sub-scales and the f16 super-scale add a little; the bounds
// leave ~30% headroom over the worst blocks measured. Below ~1e-3 the f16 super-scale goes
// subnormal and loses precision (in ggml too), so the data here starts at 1e-3.
const K_BOUNDS: Readonly<Record<string, number>> = { q4_K: 0.15, q5_K: 0.08, q6_K: 0.05 };

for (const t of ["q4_K", "q5_K", "q6_K"] as const) {
  test(`${t}: quantize then dequantize keeps RMS error under ${K_BOUNDS[t]} of block RMS`, () => {
    const x = testData(80, 23, 1e-3);
    const y = dequantize(t, quantize(t, x), x.length);
    for (let o = 0; o < x.length; o += 256) {
      let err2 = 0;
      let sig2 = 0;
      for (let i = o; i < o + 256; i++) {
        err2 += (y[i]! - x[i]!) ** 2;
        sig2 += x[i]! ** 2;
      }
      if (sig2 === 0) {
        assert.equal(err2, 0, `${t}: an all-zero block decodes to zeros (block at ${o})`);
        continue;
      }
      const rel = Math.sqrt(err2 / sig2);
      if (!(rel <= K_BOUNDS[t]!)) assert.fail(`${t} block at ${o}: relative RMS error ${rel}`);
    }
  });
}

test("every quant type decodes an all-zero input to exact zeros", () => {
  for (const t of QUANT_TYPES) {
    const y = dequantize(t, quantize(t, new Float32Array(512)), 512);
    assert.ok(y.every((v) => v === 0), t);
  }
});

// ---- hand-built blocks: bytes written here from the ggml-common.h layouts ----

function decodeBlock(t: WeightType, bytes: number[], n: number): Float32Array {
  assert.equal(bytes.length, byteSize(t, n), `${t} block size`);
  return dequantize(t, Uint8Array.from(bytes), n);
}

function range(n: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

test("q8_0 hand-built block: d * int8", () => {
  // d = 0x3800 = 0.5; qs[j] = j - 16, except qs[0] = -128 and qs[31] = 127.
  const qs = [0x80, ...range(15, (i) => 0xf1 + i), ...range(15, (i) => i), 0x7f];
  const y = decodeBlock("q8_0", [0x00, 0x38, ...qs], 32);
  assert.deepEqual(Array.from(y), [
    -64, -7.5, -7, -6.5, -6, -5.5, -5, -4.5, -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5,
    0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 63.5,
  ]);
});

// qs[j] = j | (15 - j) << 4: elements 0..15 read the low nibbles 0..15, elements 16..31 the
// high nibbles 15..0.
const NIBBLES_UP_DOWN = [0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f];

test("q4_0 hand-built block: d * (q - 8), low nibbles first", () => {
  const y = decodeBlock("q4_0", [0x00, 0x40, ...NIBBLES_UP_DOWN], 32); // d = 2
  assert.deepEqual(Array.from(y), [
    -16, -14, -12, -10, -8, -6, -4, -2, 0, 2, 4, 6, 8, 10, 12, 14,
    14, 12, 10, 8, 6, 4, 2, 0, -2, -4, -6, -8, -10, -12, -14, -16,
  ]);
});

test("q4_1 hand-built block: d * q + m", () => {
  const y = decodeBlock("q4_1", [0x00, 0x38, 0x00, 0xbc, ...NIBBLES_UP_DOWN], 32); // d = 0.5, m = -1
  assert.deepEqual(Array.from(y), [
    -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5,
    6.5, 6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1,
  ]);
});

test("q5_0 hand-built block: d * (q - 16), fifth bits from qh bit i for element i", () => {
  // d = 1; qh = 0x00f0000f: elements 0..3 and 20..23 get +16; qs[j] = j | j << 4.
  const qs = range(16, (j) => j | (j << 4));
  const y = decodeBlock("q5_0", [0x00, 0x3c, 0x0f, 0x00, 0xf0, 0x00, ...qs], 32);
  assert.deepEqual(Array.from(y), [
    0, 1, 2, 3, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
    -16, -15, -14, -13, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,
  ]);
});

test("q5_1 hand-built block: d * q + m", () => {
  // d = 0.25, m = 1; qh = 0x800000ff: elements 0..7 and 31 get +16; qs[j] = (15 - j) | j << 4.
  const qs = range(16, (j) => (15 - j) | (j << 4));
  const y = decodeBlock("q5_1", [0x00, 0x34, 0x00, 0x3c, 0xff, 0x00, 0x00, 0x80, ...qs], 32);
  assert.deepEqual(Array.from(y), [
    8.75, 8.5, 8.25, 8, 7.75, 7.5, 7.25, 7, 2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1,
    1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4, 4.25, 4.5, 8.75,
  ]);
});

// Six-bit scales sc = [1, 2, 3, 4, 17, 33, 63, 5] and mins m = [0, 1, 2, 3, 16, 40, 63, 7],
// packed as get_scale_min_k4 reads them: bytes 0..3 hold sc[0..3] with the top two bits of
// sc[4..7] above; bytes 4..7 hold m[0..3] with the top two bits of m[4..7]; bytes 8..11
// hold sc[4..7] & 15 in the low nibble and m[4..7] & 15 in the high one.
const K_SCALES = [0x41, 0x82, 0xc3, 0x04, 0x40, 0x81, 0xc2, 0x03, 0x01, 0x81, 0xff, 0x75];
/** Scale 1 and min 0 for all eight sub-blocks. */
const K_UNIT_SCALES = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1];

function perSubBlock(values: number[], size: number): number[] {
  return values.flatMap((v) => range(size, () => v));
}

test("q4_K hand-built block: packed 6-bit scales and mins", () => {
  // d = 0.5, dmin = 0.25; every qs byte 0x53, so even sub-blocks read q = 3 and odd ones
  // q = 5. Sub-block j decodes to 0.5 * sc[j] * q - 0.25 * m[j].
  const y = decodeBlock("q4_K", [0x00, 0x38, 0x00, 0x34, ...K_SCALES, ...range(128, () => 0x53)], 256);
  assert.deepEqual(Array.from(y), perSubBlock([1.5, 4.75, 4, 9.25, 21.5, 72.5, 78.75, 10.75], 32));
});

test("q4_K hand-built block: element order within a 64-element group", () => {
  // d = 1, unit scales, qs[i] = i: element 64g + l is the low nibble of qs[32g + l],
  // element 64g + 32 + l its high nibble.
  const y = decodeBlock("q4_K", [0x00, 0x3c, 0x00, 0x00, ...K_UNIT_SCALES, ...range(128, (i) => i)], 256);
  const expected: number[] = [];
  for (let g = 0; g < 4; g++) expected.push(...range(32, (l) => l & 15), ...range(32, (l) => 2 * g + (l >> 4)));
  assert.deepEqual(Array.from(y), expected);
  assert.equal(y[32], 0); // high nibble of qs[0]
  assert.equal(y[48], 1); // high nibble of qs[16]
  assert.equal(y[200], 8); // low nibble of qs[104] = 0x68
  assert.equal(y[255], 7); // high nibble of qs[127] = 0x7f
});

test("q5_K hand-built block: fifth bits from qh", () => {
  // d = 1, dmin = 0.5, scales as q4_K's; qs bytes 0x53 (q = 3 even, 5 odd sub-blocks);
  // qh bytes 0x96 = bits 1, 2, 4, 7: sub-blocks 1, 2, 4, 7 add 16. Sub-block j decodes to
  // sc[j] * q - 0.5 * m[j]: 1*3, 2*21 - 0.5, 3*19 - 1, 4*5 - 1.5, 17*19 - 8, 33*5 - 20,
  // 63*3 - 31.5, 5*21 - 3.5.
  const y = decodeBlock(
    "q5_K",
    [0x00, 0x3c, 0x00, 0x38, ...K_SCALES, ...range(32, () => 0x96), ...range(128, () => 0x53)],
    256,
  );
  assert.deepEqual(Array.from(y), perSubBlock([3, 41.5, 56, 18.5, 315, 145, 157.5, 101.5], 32));
});

test("q5_K hand-built block: qh bit 2g is the low half of group g, bit 2g+1 the high half", () => {
  // Unit scales, qs all 0; qh[l] = 0x55 for l < 16 and 0xaa after: element 64g + l is 16
  // for l < 16, element 64g + 32 + l is 16 for l >= 16, everything else 0.
  const qh = range(32, (l) => (l < 16 ? 0x55 : 0xaa));
  const y = decodeBlock("q5_K", [0x00, 0x3c, 0x00, 0x00, ...K_UNIT_SCALES, ...qh, ...range(128, () => 0)], 256);
  const group = [...range(32, (l) => (l < 16 ? 16 : 0)), ...range(32, (l) => (l >= 16 ? 16 : 0))];
  assert.deepEqual(Array.from(y), [...group, ...group, ...group, ...group]);
});

test("q6_K hand-built block: int8 scale per 16 elements, two qh bits per element", () => {
  // d = 0.5 (stored last); ql bytes 0x21 and qh bytes 0xe4 (bit pairs 0, 1, 2, 3), so in each
  // half the four runs of 32 elements read q = 1|0<<4, 1|1<<4, 2|2<<4, 2|3<<4, minus 32:
  // -31, -15, 2, 18. Sub-block s (elements 16s..16s+15) has scale sc[s].
  const sc = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 127, -128];
  const bytes = [...range(128, () => 0x21), ...range(64, () => 0xe4), ...sc.map((v) => v & 255), 0x00, 0x38];
  const y = decodeBlock("q6_K", bytes, 256);
  assert.deepEqual(
    Array.from(y),
    perSubBlock([-15.5, 15.5, -15, 15, 3, -3, 36, -36, -77.5, 77.5, -45, 45, 7, -7, 1143, -1152], 16),
  );
});

test("q6_K hand-built block: element order within each half", () => {
  // d = 1, scales 1, qh 0, ql[i] = i. In half h, element 128h + l reads the low nibble of
  // ql[64h + l], +32 the low nibble of ql[64h + 32 + l], +64 and +96 the high nibbles of
  // the same two bytes.
  const bytes = [...range(128, (i) => i), ...range(64, () => 0), ...range(16, () => 1), 0x00, 0x3c];
  const y = decodeBlock("q6_K", bytes, 256);
  const half = (h: number): number[] => [
    ...range(32, (l) => (l & 15) - 32),
    ...range(32, (l) => (l & 15) - 32),
    ...range(32, (l) => ((64 * h + l) >> 4) - 32),
    ...range(32, (l) => ((64 * h + 32 + l) >> 4) - 32),
  ];
  assert.deepEqual(Array.from(y), [...half(0), ...half(1)]);
  assert.equal(y[64], -32); // high nibble of ql[0]
  assert.equal(y[255], 7 - 32); // high nibble of ql[127] = 0x7f
});

// ---- byte-exact with ggml's reference quantizers ----

// sha256 of quantize(t, goldenInput()), taken from ggml-quants.c's quantize_row_*_ref
// compiled with plain f32 arithmetic (no FMA contraction).
const GOLDEN: Readonly<Record<string, string>> = {
  q8_0: "0aaad9e20601d5e3ef74e2d8648f2e8285d3e5109132f73e515732adbe2e4101",
  q4_0: "9591b14bda909a0826be4ef13218cd4933a3cd3616a823c3177dcd95cda6da8b",
  q4_1: "cb9a667d7164efcc5f17cee057112c329e54dffdcb39f481884980e1ea264311",
  q5_0: "c90dd3c52b64cb600b4477315f41b5f576ce043c2eedc775a8dd0d15e3046330",
  q5_1: "31e3004d80f945254d8c43a756d7f0d7d390a4e674e9b35caf0129d1d644b262",
  q4_K: "7b5f5d11d5e376ac8b199488e8f4c89920e40068be1e4f83c2126924cce0bb90",
  q5_K: "e9bde1e94980627dffbb6b008ee55e6446c4880530ca686ed36c4d128d990c42",
  q6_K: "3d9a9a2942aa2011468d74d4117b271cd0b55014e8a32f229d866a9bbff8f8ce",
};

function goldenInput(): Float32Array {
  const x = new Float32Array(4096);
  for (let i = 0; i < x.length; i++) {
    if (i >= 1024 && i < 1280) continue; // an all-zero super-block
    x[i] = Math.sin(i * 0.731) * (1 + (i % 97) / 13) + (i % 256 === 7 ? 9 : 0) - (i >= 3072 ? 2 : 0);
  }
  return x;
}

test("quantizers match ggml's reference output byte for byte", () => {
  const x = goldenInput();
  for (const t of QUANT_TYPES) {
    const hash = createHash("sha256").update(quantize(t, x)).digest("hex");
    assert.equal(hash, GOLDEN[t], t);
  }
});

// ---- plain float types ----

test("f32, f16 and bf16 go through quantize and dequantize", () => {
  const x = Float32Array.from([0, -0, 1, -2, 0.1, 65504, 1e-7, 3.0e38, Infinity, -Infinity]);
  assert.deepEqual(dequantize("f32", quantize("f32", x), x.length), x);
  const h = quantize("f16", x);
  assert.equal(h.length, 2 * x.length);
  assert.deepEqual(
    Array.from(dequantize("f16", h, x.length)),
    Array.from(x, (v) => f16ToF32(f32ToF16(v))),
  );
  assert.equal(h[4 * 2 + 0] | (h[4 * 2 + 1]! << 8), 0x2e66); // 0.1 in f16, little-endian
  const b = quantize("bf16", x);
  assert.deepEqual(
    Array.from(dequantize("bf16", b, x.length)),
    Array.from(x, (v) => bf16ToF32(f32ToBf16(v))),
  );
  assert.equal(b[2 * 2] | (b[2 * 2 + 1]! << 8), 0x3f80); // 1 in bf16
});

// ---- f16 / bf16 conversions ----

test("f32 -> f16 on known values, rounding to nearest even", () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [0.1, 0x2e66],
    [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal, 6.1035e-5
    [6.0e-5, 0x03ef], // subnormal: 6e-5 / 2^-24 = 1006.6 -> 1007
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
    [2 ** -25 * 1.5, 0x0001],
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal units: even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // halfway between the largest subnormal and 2^-14: even
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway
    [2049, 0x6800], // 2048 and 2050 are neighbours: tie to even 2048
    [2051, 0x6802],
  ];
  for (const [x, h] of cases) assert.equal(f32ToF16(x), h, `f32ToF16(${x})`);
  assert.equal(f32ToF16(NaN), 0x7e00);
});

test("f16 -> f32 on known values", () => {
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc000), -2);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0400), 2 ** -14);
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.ok(Number.isNaN(f16ToF32(0xfc01)));
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

test("every finite f16 survives f16 -> f32 -> f16, and f32 -> f16 picks the nearest", () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) continue;
    if (f32ToF16(v) !== h) assert.fail(`f16 ${h.toString(16)} -> ${v} -> ${f32ToF16(v).toString(16)}`);
  }
  // Against neighbours: no f16 on either side is strictly closer, and a tie picks even bits.
  const rand = rng(5);
  const f = new Float32Array(1);
  for (let k = 0; k < 20000; k++) {
    f[0] = (rand() - 0.5) * 2 ** Math.floor(rand() * 44 - 28);
    const x = f[0]!;
    const h = f32ToF16(x);
    const v = f16ToF32(h);
    const err = Math.abs(v - x);
    for (const n of [h - 1, h + 1]) {
      if ((n & 0x7fff) >= 0x7c00 || n < 0 || (n ^ h) & 0x8000) continue;
      const e2 = Math.abs(f16ToF32(n) - x);
      if (e2 < err || (e2 === err && (h & 1) === 1)) assert.fail(`f32ToF16(${x}) = ${h.toString(16)}, ${n.toString(16)} is closer`);
    }
  }
});

test("f32 -> bf16 on known values, rounding to nearest even", () => {
  const cases: [number, number][] = [
    [0, 0x0000], [1, 0x3f80], [-2, 0xc000], [0.1, 0x3dcd], [Infinity, 0x7f80], [-Infinity, 0xff80],
    [1 + 2 ** -8, 0x3f80], // halfway between 1 and 1 + 2^-7: even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway between 1 + 2^-7 and 1 + 2^-6: even
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // f32 max rounds up past the largest bf16
    [2 ** -130, 0x0008], // f32 subnormals keep their top bits
  ];
  for (const [x, h] of cases) assert.equal(f32ToBf16(x), h, `f32ToBf16(${x})`);
  const nan = f32ToBf16(NaN);
  assert.ok((nan & 0x7f80) === 0x7f80 && (nan & 0x7f) !== 0 && (nan & 0x40) !== 0, "NaN stays a quiet NaN");
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc000), -2);
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
});

test("bulk conversions agree with the scalar ones", () => {
  const rand = rng(9);
  const x = Float32Array.from({ length: 1000 }, () => gaussian(rand) * 2 ** Math.floor(rand() * 40 - 20));
  x[0] = NaN;
  x[1] = Infinity;
  const h = f32ToF16Array(x);
  const b = f32ToBf16Array(x);
  for (let i = 0; i < x.length; i++) {
    assert.equal(h[i], f32ToF16(x[i]!));
    assert.equal(b[i], f32ToBf16(x[i]!));
  }
  const back = f16ToF32Array(h);
  const backB = bf16ToF32Array(b, new Float32Array(x.length + 3));
  for (let i = 0; i < x.length; i++) {
    assert.ok(Object.is(back[i], f16ToF32(h[i]!)));
    assert.ok(Object.is(backB[i], bf16ToF32(b[i]!)));
  }
  assert.throws(() => f16ToF32Array(h, new Float32Array(3)), RangeError);
});

// ---- offsets and errors ----

test("dequantize reads from any byte offset, and dequantizeInto writes at an output offset", () => {
  const x = testData(4, 3);
  for (const t of ["f32", "f16", "bf16", ...QUANT_TYPES] as WeightType[]) {
    const q = quantize(t, x);
    const want = dequantize(t, q, x.length);
    const buf = new ArrayBuffer(q.length + 8);
    const view = new Uint8Array(buf, 3, q.length); // odd byteOffset, as inside a mapped file
    view.set(q);
    assert.deepEqual(dequantize(t, view, x.length), want, `${t} from an odd byteOffset`);
    const whole = new Uint8Array(buf);
    const out = new Float32Array(x.length + 10).fill(7);
    dequantizeInto(t, whole, 3, x.length, out, 5);
    assert.deepEqual(out.subarray(5, 5 + x.length), want, `${t} via dequantizeInto`);
    assert.equal(out[4], 7);
    assert.equal(out[5 + x.length], 7);
  }
});

test("quantizeInto writes the same bytes as quantize, at an offset, touching nothing else", () => {
  const x = testData(3, 8);
  for (const t of QUANT_TYPES) {
    const n = 512;
    const want = quantize(t, x.subarray(256, 256 + n));
    const dst = new Uint8Array(want.length + 9).fill(0xaa);
    assert.equal(quantizeInto(t, x, 256, n, dst, 5), want.length);
    assert.deepEqual(dst.subarray(5, 5 + want.length), want, t);
    assert.equal(dst[4], 0xaa);
    assert.equal(dst[5 + want.length], 0xaa);
  }
});

test("counts that are not whole blocks, and short buffers, throw clear errors", () => {
  assert.throws(() => dequantize("q4_0", new Uint8Array(36), 33), /q4_0: 33 elements is not a whole number of blocks of 32/);
  assert.throws(() => quantize("q6_K", new Float32Array(300)), /q6_K: 300 elements is not a whole number of blocks of 256/);
  assert.throws(() => dequantize("q8_0", new Uint8Array(33), 32), /q8_0: 32 elements need 34 bytes/);
  assert.throws(() => dequantize("q8_0", new Uint8Array(34), 32, new Float32Array(16)), /output of 16 cannot take 32/);
  assert.throws(() => dequantizeInto("q4_K", new Uint8Array(144), 1, 256, new Float32Array(256), 0), RangeError);
  assert.throws(() => quantizeInto("q8_0", new Float32Array(32), 0, 32, new Uint8Array(33), 0), RangeError);
  assert.throws(() => dequantize("q8_0", new Uint8Array(34), 1.5), /not a whole number/);
});
