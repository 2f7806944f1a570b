// Typed access to the addon's kernel entry points (native/kernels-napi.cc), for tests and
// benchmarks. `nativeKernels()` is null when the addon is missing or disabled
// (RADIXLM_NO_NATIVE=1); callers skip or fall back then.
import { dtypeInfo, type WeightType } from "../formats/dtype.js";
import { loadNative, type NativeAddon } from "../native/addon.js";

/** The kernel functions the addon exports beside mapFile. */
interface KernelAddon extends NativeAddon {
  simdPath(): string;
  setSimdPath(name: string): boolean;
  matmul(weights: Uint8Array, ggmlType: number, wRows: number, wCols: number, x: Float32Array, xRows: number, threads: number): Float32Array;
  matmulGroup(list: [Uint8Array, number, number, number][], x: Float32Array, xRows: number, threads: number): Float32Array[];
  dequantizeRow(weights: Uint8Array, ggmlType: number, wRows: number, wCols: number, row: number, repacked: boolean): Float32Array;
  quantizeActivations(x: Float32Array, ggmlType: number, cols: number): Float32Array;
  benchMatmul(
    weights: Uint8Array,
    ggmlType: number,
    wRows: number,
    wCols: number,
    copies: number,
    x: Float32Array,
    xRows: number,
    threads: number,
    minSeconds: number,
  ): number;
  memoryBandwidth(threads: number): number;
  simulateThreadChooser(threads: number, rows: Int32Array, ms1: Float64Array, msFull: Float64Array): Int32Array;
}

/** A [rows x cols] weight matrix of any type: its bytes, row after row. */
export interface NativeWeights {
  readonly type: WeightType;
  readonly rows: number;
  readonly cols: number;
  readonly bytes: Uint8Array;
}

export type SimdPath = "avx512" | "avx2" | "avx2-vnni" | "neon" | "scalar";

export interface NativeKernels {
  /** The SIMD path the kernels take now. */
  simdPath(): SimdPath;
  /** Test hook: "auto" (what the CPU supports) or a named path; false when this CPU cannot run it. */
  setSimdPath(path: "auto" | SimdPath): boolean;
  /** out[r * w.rows + o] = sum_i x[r * w.cols + i] * W[o][i], for `rows` rows of x. */
  matmul(w: NativeWeights, x: Float32Array, rows: number, threads: number): Float32Array;
  /** The matmuls of several matrices of the same width as one group (as the runner does q/k/v); one output each. */
  matmulGroup(ws: readonly NativeWeights[], x: Float32Array, rows: number, threads: number): Float32Array[];
  /** Row `row` of w, decoded exactly as src/formats/quant.ts decodes it. */
  /**
   * Row `row` of w decoded; with `repacked`, read back out of the layout the active SIMD path
   * repacks w into at load (the embedding lookups of a tied output matrix), where it repacks.
   */
  dequantizeRow(w: NativeWeights, row: number, repacked?: boolean): Float32Array;
  /**
   * The activations as the integer dot products of weight type `t` see them: each row of
   * `cols` quantized to the 8-bit block format and decoded again (d * q). Identity for
   * float types is not offered: `t` must be quantized.
   */
  quantizeActivations(t: WeightType, x: Float32Array, cols: number): Float32Array;
  /**
   * Seconds per matmul of `rows` rows of x by w, averaged over at least `minSeconds`. `copies`
   * (default 1) consecutive matrices in w.bytes are used in turn, so that a benchmark can
   * read more weight bytes than the caches hold, as a model's decode step does.
   */
  benchMatmul(w: NativeWeights, x: Float32Array, rows: number, threads: number, minSeconds: number, copies?: number): number;
  /** STREAM-triad-style main-memory bandwidth over 3 x 128 MiB arrays, GB/s, best of 4. */
  memoryBandwidth(threads: number): number;
  /**
   * Test hook: the thread count the runner's decode chooser (native/thread-chooser.h) picks
   * for each step of a simulated run, where step i is a decode step of rows[i] rows (0: a
   * prefill step) taking ms1[i] milliseconds on 1 thread and msFull[i] on all `threads`.
   */
  simulateThreadChooser(threads: number, rows: Int32Array, ms1: Float64Array, msFull: Float64Array): Int32Array;
}

let cached: NativeKernels | null | undefined;

export function nativeKernels(): NativeKernels | null {
  if (cached !== undefined) return cached;
  const addon = loadNative() as KernelAddon | null;
  cached = addon !== null && typeof addon.matmul === "function" ? wrap(addon) : null;
  return cached;
}

function wrap(a: KernelAddon): NativeKernels {
  const id = (t: WeightType): number => dtypeInfo(t).ggmlType;
  return {
    simdPath: () => a.simdPath() as SimdPath,
    setSimdPath: (path) => a.setSimdPath(path),
    matmul: (w, x, rows, threads) => a.matmul(w.bytes, id(w.type), w.rows, w.cols, x, rows, threads),
    matmulGroup: (ws, x, rows, threads) => a.matmulGroup(ws.map((w) => [w.bytes, id(w.type), w.rows, w.cols]), x, rows, threads),
    dequantizeRow: (w, row, repacked = false) => a.dequantizeRow(w.bytes, id(w.type), w.rows, w.cols, row, repacked),
    quantizeActivations: (t, x, cols) => a.quantizeActivations(x, id(t), cols),
    benchMatmul: (w, x, rows, threads, minSeconds, copies = 1) =>
      a.benchMatmul(w.bytes, id(w.type), w.rows, w.cols, copies, x, rows, threads, minSeconds),
    memoryBandwidth: (threads) => a.memoryBandwidth(threads),
    simulateThreadChooser: (threads, rows, ms1, msFull) => a.simulateThreadChooser(threads, rows, ms1, msFull),
  };
}
