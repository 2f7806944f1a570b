// Native matmul and dequantize against the TypeScript reference, for every weight type and
// every SIMD path this CPU runs; batch, thread and tiling invariance (bitwise); odd shapes
// and unaligned weights. Skips when the addon is unavailable (RADIXLM_NO_NATIVE=1).
//
// Error bounds. Let p_i = |w_i x_i| and S = sum p_i.
// - f32/f16/bf16: each of 8 lanes adds cols/8 f32 products in turn, then 3 lane additions:
//   |native - exact| <= (cols/8 + 4) u S with u = 2^-24, below 1e-5 S for cols <= 1300.
//   On the avx512 path f16 and bf16 rows are one chain of cols FMAs (one output per lane):
//   worst case cols u S (6.6e-5 S at 1100), but the roundings of random data do not line
//   up, and the expected error is about sqrt(cols) u S (2e-6 S).
//   Checked: |native - exact| <= 1e-5 S.
// - Quantized weights, first against the same 8-bit activations xq (quantizeActivations):
//   integer block sums are exact, so the error is that of f32 scale products and block
//   accumulation (about (blocks + 4) u), plus the reference's own rounding of each weight
//   d*q: |native - sum w_i xq_i| <= 1e-5 sum |w_i xq_i|.
// - Then against the f32 activations: each |x_i - xq_i| <= d_b / 2 (1 + 2^-20) with d_b =
//   amax_b / 127 of x's block, so |native - sum w_i x_i| <= sum |w_i| d_b / 2 (1 + 2^-20)
//   + 1e-5 sum |w_i xq_i|.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dequantize, quantize } from "../../src/formats/quant.js";
import { byteSize, isFloatType, WEIGHT_TYPES, type WeightType } from "../../src/formats/dtype.js";
import { nativeKernels, type NativeWeights, type SimdPath } from "../../src/kernels/native-kernels.js";
import { mulberry32 as rng } from "../../src/util/random.js";

const nk = nativeKernels();
const skip = nk === null ? "native addon unavailable" : false;


/** Gaussian values whose scale changes every 32 elements (1e-3 .. 10), so blocks differ. */
function data(n: number, seed: number): Float32Array {
  const rand = rng(seed);
  const out = new Float32Array(n);
  let scale = 1;
  for (let i = 0; i < n; i++) {
    if (i % 32 === 0) scale = 10 ** (rand() * 4 - 3);
    out[i] = scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

function blockSize(t: WeightType): number {
  return t.endsWith("_K") ? 256 : isFloatType(t) ? 1 : 32;
}

interface Case {
  w: NativeWeights;
  /** The weights decoded by the TypeScript reference, row-major. */
  wf: Float32Array;
}

function makeWeights(t: WeightType, rows: number, cols: number, seed: number): Case {
  const bytes = quantize(t, data(rows * cols, seed));
  return { w: { type: t, rows, cols, bytes }, wf: dequantize(t, bytes, rows * cols) };
}

/** The same weights at `offset` bytes into a larger buffer (an mmapped file's alignment). */
function atOffset(w: NativeWeights, offset: number): NativeWeights {
  const buf = new Uint8Array(w.bytes.length + offset + 7);
  buf.set(w.bytes, offset);
  return { ...w, bytes: buf.subarray(offset, offset + w.bytes.length) };
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}

/** Round half to even, as the quantizers do. */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff !== 0.5) return diff < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** The specification of quantizeActivations: per block, d = amax/127, q = rne(x * 127/amax). */
function quantizeActivationsRef(x: Float32Array, block: number): Float32Array {
  const fr = Math.fround;
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length; b += block) {
    let amax = 0;
    for (let i = b; i < b + block; i++) amax = Math.max(amax, Math.abs(x[i]));
    const id = amax > 0 ? fr(127 / amax) : 0;
    const d = fr(amax / 127);
    for (let i = b; i < b + block; i++) {
      const q = Math.max(-127, Math.min(127, roundEven(fr(x[i] * id))));
      out[i] = fr(d * q);
    }
  }
  return out;
}

/** Checks native matmul of `rows` rows of x against the reference, with the bounds above. */
function checkAgainstReference(c: Case, x: Float32Array, rows: number, threads: number): void {
  const { w, wf } = c;
  const out = nk!.matmul(w, x, rows, threads);
  const quantized = !isFloatType(w.type);
  const xq = quantized ? nk!.quantizeActivations(w.type, x.subarray(0, rows * w.cols), w.cols) : x;
  const block = quantized ? (w.type.endsWith("_K") ? 256 : 32) : 1;
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < w.rows; o++) {
      let exact = 0;
      let mag = 0;
      let sameAct = 0;
      let magQ = 0;
      let actErr = 0;
      let amax = 0;
      for (let i = 0; i < w.cols; i++) {
        const wi = wf[o * w.cols + i];
        const xi = x[r * w.cols + i];
        exact += wi * xi;
        mag += Math.abs(wi * xi);
        if (!quantized) continue;
        if (i % block === 0) {
          amax = 0;
          for (let k = i; k < i + block; k++) amax = Math.max(amax, Math.abs(x[r * w.cols + k]));
        }
        const xqi = xq[r * w.cols + i];
        sameAct += wi * xqi;
        magQ += Math.abs(wi * xqi);
        actErr += (Math.abs(wi) * amax) / 254;
      }
      const got = out[r * w.rows + o];
      const where = `${w.type} [${w.rows}x${w.cols}] row ${r} out ${o}`;
      if (!quantized) {
        assert.ok(Math.abs(got - exact) <= 1e-5 * mag, `${where}: ${got} vs ${exact} (|x w| sum ${mag})`);
        continue;
      }
      assert.ok(Math.abs(got - sameAct) <= 1e-5 * magQ, `${where}: ${got} vs ${sameAct} with the 8-bit activations`);
      const bound = actErr * (1 + 2 ** -20) + 1e-5 * magQ;
      assert.ok(Math.abs(got - exact) <= bound, `${where}: ${got} vs ${exact}, bound ${bound}`);
    }
  }
}

/** The paths to test on this machine: the detected one and the scalar fallback. */
function paths(): SimdPath[] {
  if (nk === null) return [];
  nk.setSimdPath("auto");
  const best = nk.simdPath();
  if (best === "avx512") return [best, "avx2-vnni", "avx2", "scalar"];
  if (best === "avx2-vnni") return [best, "avx2", "scalar"];
  return best === "scalar" ? ["scalar"] : [best, "scalar"];
}

/** Byte offsets of the f16 scales in one block of each quantized type (the rest is quants and packed scales). */
const HALF_OFFSETS: Partial<Record<WeightType, number[]>> = {
  q8_0: [0], q4_0: [0], q5_0: [0], q4_1: [0, 2], q5_1: [0, 2], q4_K: [0, 2], q5_K: [0, 2], q6_K: [208],
};

/** Random blocks with every quant byte possible (q8_0's -128 too) and sane f16 scales. */
function rawBlocks(t: WeightType, rows: number, cols: number, seed: number): NativeWeights {
  const r = rng(seed);
  const bytes = new Uint8Array(byteSize(t, rows * cols));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  const per = byteSize(t, blockSize(t));
  for (let b = 0; b < bytes.length; b += per) {
    for (const off of HALF_OFFSETS[t]!) {
      // An f16 in [2^-7, 2^-6) with either sign: exponent 8, random mantissa.
      const v = ((r() < 0.5 ? 0x8000 : 0) | (8 << 10) | Math.floor(r() * 1024)) >>> 0;
      bytes[b + off] = v & 0xff;
      bytes[b + off + 1] = v >> 8;
    }
  }
  return { type: t, rows, cols, bytes };
}

for (const path of paths()) {
  describe(`native matmul (${path})`, { skip }, () => {
    const use = (): void => assert.ok(nk!.setSimdPath(path), `setSimdPath(${path})`);

    test("quantizeActivations follows its specification", () => {
      use();
      const x = data(2 * 512, 3);
      for (const t of ["q8_0", "q4_K"] as const) {
        sameBits(nk!.quantizeActivations(t, x, 512), quantizeActivationsRef(x, blockSize(t) === 256 ? 256 : 32), t);
      }
    });

    test("dequantizeRow is the reference decoder, at any byte offset", () => {
      use();
      for (const t of WEIGHT_TYPES) {
        const cols = t.endsWith("_K") ? 512 : 96;
        const c = makeWeights(t, 3, cols, 11);
        for (const w of [c.w, atOffset(c.w, 1), atOffset(c.w, 3)]) {
          for (let r = 0; r < 3; r++) sameBits(nk!.dequantizeRow(w, r), c.wf.subarray(r * cols, (r + 1) * cols), `${t} row ${r}`);
        }
        // Read back out of the layout this path repacks the matrix into at load (if any):
        // every row of a group and of a partial last group, every byte of raw blocks.
        const raw = blockSize(t) === 1 ? makeWeights(t, 21, cols, 12).w : rawBlocks(t, 21, cols, 12);
        for (let r = 0; r < 21; r++) sameBits(nk!.dequantizeRow(raw, r, true), nk!.dequantizeRow(raw, r), `${t} repacked row ${r}`);
      }
    });

    for (const t of WEIGHT_TYPES) {
      test(`${t}: matches the reference within the stated bound`, () => {
        use();
        // Float rows past 512 columns with many activation rows take the sliced path.
        const cols = t.endsWith("_K") ? 768 : isFloatType(t) ? 1100 : 320;
        const c = makeWeights(t, 37, cols, 21);
        const x = data(8 * cols, 22);
        checkAgainstReference(c, x, 8, 2);
        checkAgainstReference(c, x, 1, 1);
      });

      test(`${t}: odd shapes (one block of columns, rows off the tile grid, float tails)`, () => {
        use();
        const colsList = isFloatType(t) ? [1, 7, 13, 35] : [blockSize(t)];
        for (const cols of colsList) {
          for (const rows of [1, 2, 5, 9]) {
            const c = makeWeights(t, rows, cols, 31 + rows + cols);
            const x = data(4 * cols, 32 + cols);
            checkAgainstReference(c, x, 4, 2);
            checkAgainstReference(c, x, 1, 3);
          }
        }
      });

      test(`${t}: batch, thread and alignment invariant (bitwise)`, () => {
        use();
        // Float rows of 1100 take the sliced path (columns in slices of 512, a tail of 4)
        // once there are enough activation rows.
        const cols = t.endsWith("_K") ? 512 : isFloatType(t) ? 1100 : 160;
        const wRows = 45; // not a multiple of any tile height
        const { w } = makeWeights(t, wRows, cols, 41);
        const x = data(64 * cols, 42);
        const alone: Float32Array[] = [];
        for (let r = 0; r < 64; r++) alone.push(nk!.matmul(w, x.subarray(r * cols, (r + 1) * cols), 1, 1));
        for (const rows of [1, 3, 17, 64]) {
          for (const threads of [1, 2, 3]) {
            const out = nk!.matmul(w, x, rows, threads);
            for (let r = 0; r < rows; r++) {
              sameBits(out.subarray(r * wRows, (r + 1) * wRows), alone[r], `${t} rows ${rows} threads ${threads} row ${r}`);
            }
          }
        }
        // One row against enough weights that the pool splits the outputs between threads.
        const big = makeWeights(t, 301, 512, 43).w; // at least 48 KiB of weights
        const xb = data(big.cols, 44);
        const one = nk!.matmul(big, xb, 1, 1);
        for (const threads of [2, 3]) sameBits(nk!.matmul(big, xb, 1, threads), one, `${t} one row, threads ${threads}`);
        for (const offset of [1, 2, 6, 32]) {
          const out = nk!.matmul(atOffset(w, offset), x, 17, 2);
          for (let r = 0; r < 17; r++) sameBits(out.subarray(r * wRows, (r + 1) * wRows), alone[r], `${t} at byte offset ${offset}, row ${r}`);
        }
      });
    }

    test("a group of matrices (mixed types, so mixed activation formats) gives each matrix's own matmul bits", () => {
      use();
      const cols = 512;
      const types = ["q4_K", "q8_0", "f16", "q6_K", "q4_0"] as const;
      const ws = types.map((t, i) => makeWeights(t, 19 + 7 * i, cols, 61 + i).w);
      const x = data(9 * cols, 62);
      for (const rows of [1, 9]) {
        for (const threads of [1, 2]) {
          const got = nk!.matmulGroup(ws, x, rows, threads);
          ws.forEach((w, i) => sameBits(got[i]!, nk!.matmul(w, x, rows, 1), `${w.type} in a group, rows ${rows}, threads ${threads}`));
        }
      }
      assert.throws(() => nk!.matmulGroup([ws[0]!, makeWeights("q8_0", 3, 64, 1).w], x, 1, 1), /same wCols/);
    });

    test("rejects bad arguments", () => {
      use();
      const { w } = makeWeights("q8_0", 2, 64, 5);
      assert.throws(() => nk!.matmul({ ...w, cols: 48 }, new Float32Array(48), 1, 1), /whole number of blocks/);
      assert.throws(() => nk!.matmul({ ...w, rows: 3 }, new Float32Array(64), 1, 1), /fewer bytes/);
      assert.throws(() => nk!.matmul(w, new Float32Array(63), 1, 1), /fewer than/);
    });
  });
}

describe("native kernels", { skip }, () => {
  test("VNNI dot products give the AVX2 kernels' bits, whatever the quant bytes", (t) => {
    nk!.setSimdPath("auto");
    if (nk!.simdPath() !== "avx2-vnni" && nk!.simdPath() !== "avx512") return t.skip(`this CPU runs ${nk!.simdPath()}, without VNNI`);
    try {
      for (const type of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "q4_K", "q5_K", "q6_K"] as const) {
        const cols = type.endsWith("_K") ? 512 : 320;
        const w = rawBlocks(type, 45, cols, 51);
        // Activations with large outliers, so that blocks quantize to +-127.
        const x = data(17 * cols, 52).map((v, i) => (i % 29 === 0 ? v * 1000 : v));
        for (const rows of [1, 4, 17]) {
          nk!.setSimdPath("avx2");
          const plain = nk!.matmul(w, x, rows, 2);
          nk!.setSimdPath("avx2-vnni");
          sameBits(nk!.matmul(w, x, rows, 2), plain, `${type} rows ${rows}`);
        }
      }
    } finally {
      nk!.setSimdPath("auto");
    }
  });

  test("simdPath names the path in use", () => {
    nk!.setSimdPath("auto");
    assert.ok(["avx512", "avx2", "avx2-vnni", "neon", "scalar"].includes(nk!.simdPath()));
    assert.equal(nk!.setSimdPath("scalar"), true);
    assert.equal(nk!.simdPath(), "scalar");
    nk!.setSimdPath("auto");
  });

  test("byte sizes agree with the formats", () => {
    for (const t of WEIGHT_TYPES) {
      const cols = 256;
      const { w } = makeWeights(t, 2, cols, 1);
      assert.equal(w.bytes.length, byteSize(t, 2 * cols));
    }
  });
});
