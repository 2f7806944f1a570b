// Matmul throughput of the native kernels for every weight type: GFLOP/s for a decode-like
// shape (1 activation row) and a prefill-like one (512 rows), with the weight bytes read per
// second in the 1-row case held against the machine's memory bandwidth (a STREAM-triad probe).
// Decode cycles through enough copies of the weight matrix to exceed the caches, as a model's
// decode step does; prefill reuses one copy.
//   npm run bench:kernels                          all types, default threads
//   npm run bench:kernels -- --threads 1 --types q8_0,q4_0 --json
import crypto from "node:crypto";
import { byteSize, dtypeInfo, isWeightType, WEIGHT_TYPES, type WeightType } from "../formats/dtype.js";
import { f16BitsFromF32Bits } from "../formats/f16.js";
import { nativeKernels, type NativeWeights } from "../kernels/native-kernels.js";

interface Shape {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
}

// [out x in] of the FFN down projections of qwen2.5-0.5b and smollm2-135m: the up/gate
// shapes transposed, since K-quant rows need a multiple of 256 columns (896 and 576 are not).
const SHAPES: readonly Shape[] = [
  { name: "896x4864", rows: 896, cols: 4864 },
  { name: "576x1536", rows: 576, cols: 1536 },
];
const PREFILL_ROWS = 512;
const DECODE_BYTES = 256 * 1024 * 1024;

interface Row {
  type: WeightType;
  shape: string;
  xRows: number;
  msPerCall: number;
  gflops: number;
  /** Weight bytes read per second (1-row case only). */
  weightGBps: number | null;
}

interface Options {
  threads: number;
  types: WeightType[];
  json: boolean;
  seconds: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { threads: 0, types: [...WEIGHT_TYPES], json: false, seconds: 0.4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") opts.json = true;
    else if (a === "--threads") opts.threads = Number(argv[++i]);
    else if (a === "--seconds") opts.seconds = Number(argv[++i]);
    else if (a === "--types") {
      const list = (argv[++i] ?? "").split(",");
      for (const t of list) if (!isWeightType(t)) throw new Error(`unknown weight type ${t}`);
      opts.types = list as WeightType[];
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(opts.threads) || opts.threads < 0) throw new Error("--threads takes a whole number");
  return opts;
}

// Offsets of the f16 scale fields in each block: random bytes there could be NaN or huge.
const SCALE_FIELDS: Partial<Record<WeightType, readonly number[]>> = {
  q8_0: [0], q4_0: [0], q5_0: [0], q4_1: [0, 2], q5_1: [0, 2], q4_K: [0, 2], q5_K: [0, 2], q6_K: [208],
};

/** `copies` copies of a [rows x cols] matrix of type t with random, finite contents. */
function randomMatrix(t: WeightType, shape: Shape, copies: number): NativeWeights {
  const one = byteSize(t, shape.rows * shape.cols);
  const bytes = new Uint8Array(one * copies);
  const first = bytes.subarray(0, one);
  crypto.randomFillSync(first);
  const small = f16BitsFromF32Bits(0x3c23d70a); // 0.01
  if (t === "f32") {
    const f = new Float32Array(first.buffer, first.byteOffset, one / 4);
    for (let i = 0; i < f.length; i++) f[i] = Math.random() - 0.5;
  } else if (t === "f16" || t === "bf16") {
    for (let i = 0; i < one; i += 2) first[i + 1] &= 0x3b; // clear the top exponent bits: small, finite
  } else {
    const { blockBytes } = dtypeInfo(t);
    for (let b = 0; b < one; b += blockBytes) {
      for (const off of SCALE_FIELDS[t] ?? []) {
        first[b + off] = small & 0xff;
        first[b + off + 1] = small >>> 8;
      }
    }
  }
  for (let c = 1; c < copies; c++) bytes.copyWithin(c * one, 0, one);
  return { type: t, rows: shape.rows, cols: shape.cols, bytes };
}

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  const nk = nativeKernels();
  if (!nk) {
    console.error("kernels-bench: the native addon is not available (see the build output, or RADIXLM_NO_NATIVE)");
    process.exitCode = 1;
    return;
  }
  const threads = opts.threads;
  const bwThreads = nk.memoryBandwidth(threads);
  const bwOne = threads === 1 ? bwThreads : nk.memoryBandwidth(1);
  const rows: Row[] = [];
  for (const t of opts.types) {
    for (const shape of SHAPES) {
      const one = byteSize(t, shape.rows * shape.cols);
      const copies = Math.max(1, Math.ceil(DECODE_BYTES / one));
      const w = randomMatrix(t, shape, copies);
      for (const xRows of [1, PREFILL_ROWS]) {
        const x = new Float32Array(xRows * shape.cols).map(() => Math.random() * 2 - 1);
        const sec = nk.benchMatmul(w, x, xRows, threads, opts.seconds, xRows === 1 ? copies : 1);
        rows.push({
          type: t,
          shape: shape.name,
          xRows,
          msPerCall: sec * 1e3,
          gflops: (2 * xRows * shape.rows * shape.cols) / sec / 1e9,
          weightGBps: xRows === 1 ? one / sec / 1e9 : null,
        });
      }
    }
  }
  const result = { simd: nk.simdPath(), threads: threads || "all", bandwidthGBps: bwThreads, bandwidth1GBps: bwOne, rows };
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`simd: ${result.simd}, threads: ${result.threads}`);
  console.log(`memory bandwidth (triad): ${bwThreads.toFixed(1)} GB/s with these threads, ${bwOne.toFixed(1)} GB/s with 1`);
  console.log("type   shape      rows   ms/call  GFLOP/s  weight GB/s  % of bandwidth");
  for (const r of rows) {
    const gbps = r.weightGBps === null ? "" : r.weightGBps.toFixed(2).padStart(11);
    const pct = r.weightGBps === null ? "" : `${((100 * r.weightGBps) / bwThreads).toFixed(0)}%`.padStart(15);
    console.log(
      `${r.type.padEnd(6)} ${r.shape.padEnd(9)} ${String(r.xRows).padStart(5)} ${r.msPerCall.toFixed(3).padStart(9)} ${r.gflops.toFixed(1).padStart(8)}  ${gbps}${pct}`,
    );
  }
}

main();
