// The native backend: the same forward pass as reference.ts, computed by the C++ addon on its
// own thread pool. Weight matrices are handed over as views of the mapped model file and used
// in place; only the small vectors (norms, biases) are decoded here. `forward` resolves when
// the addon's worker is done, so the event loop stays free while a step computes.
import os from "node:os";
import { dequantize } from "../formats/quant.js";
import { dtypeInfo } from "../formats/dtype.js";
import { loadNative, type NativeAddon } from "../native/addon.js";
import type { Backend, KVCacheOptions, ModelRunner, MoeConfig, Multipliers, RunnerModel, StepPlan } from "./backend.js";
import { ropeTables } from "./rope.js";
import { layerMatrices, type WeightTensor } from "./tensor.js";

/** A weight matrix as the addon reads it: GGML type id, [rows, cols], bytes used in place. */
interface NativeWeight {
  readonly type: number;
  readonly rows: number;
  readonly cols: number;
  readonly bytes: Uint8Array;
}

interface NativeLayer {
  readonly attnNorm: Float32Array;
  readonly ffnNorm: Float32Array;
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  readonly vBias?: Float32Array;
  readonly qNorm?: Float32Array;
  readonly kNorm?: Float32Array;
  readonly q: NativeWeight; readonly k: NativeWeight; readonly v: NativeWeight; readonly o: NativeWeight;
  /** Absent in a layer of experts. */
  readonly gate?: NativeWeight; readonly up?: NativeWeight; readonly down?: NativeWeight;
  /** A mixture of experts: the router, and each stack [experts, rows, cols] as one [experts * rows, cols] matrix. */
  readonly router?: NativeWeight; readonly gateExps?: NativeWeight; readonly upExps?: NativeWeight; readonly downExps?: NativeWeight;
  /** Qwen2-MoE's shared expert: its gate vector and MLP. */
  readonly sharedGateInp?: Float32Array; readonly sharedGate?: NativeWeight; readonly sharedUp?: NativeWeight; readonly sharedDown?: NativeWeight;
  /** False: no RoPE in this layer (absent: RoPE). */
  readonly rope?: boolean;
  /** The layer's sliding window (absent or 0: none). */
  readonly window?: number;
  /** RMSNorms of the attention and MLP outputs before they join the residual (Gemma). */
  readonly postAttnNorm?: Float32Array;
  readonly postFfnNorm?: Float32Array;
}

/** What `new NativeRunner(desc, ...)` reads (see native/runner-napi.cc). */
export interface NativeModelDesc {
  readonly vocab: number;
  readonly hidden: number;
  readonly ffn: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly eps: number;
  readonly interleaved: boolean;
  /** ropeDim/2 inverse frequencies with their scaling (config, rope_freqs, LongRoPE factors) applied. */
  readonly invFreq: Float64Array;
  /** Dims of each head RoPE rotates, the first ones (partial rotary); absent: headDim. */
  readonly ropeDim?: number;
  /** Rotated values are multiplied by this (LongRoPE's attention factor); absent: 1. */
  readonly ropeScale?: number;
  readonly embed: NativeWeight;
  readonly output: NativeWeight;
  readonly outputNorm: Float32Array;
  readonly layers: readonly NativeLayer[];
  /** As ForwardConfig's (backend.ts); absent: none. */
  readonly multipliers?: Multipliers;
  /** The sliding-window layers' own inverse frequencies (Gemma 3); absent: invFreq everywhere. */
  readonly invFreqLocal?: Float64Array;
  readonly activation?: "silu" | "gelu_tanh";
  readonly attnSoftcap?: number;
  readonly finalSoftcap?: number;
  readonly moe?: MoeConfig;
}

export interface NativeRunnerInfo {
  readonly threads: number;
  /** Threads decode steps run on now: all of them, or 1 where that measured faster (a busy machine). */
  readonly decodeThreads: number;
  /** Bytes of the KV pool the addon allocated (touched only as slots are used). */
  readonly kvBytes: number;
  /** SIMD paths in use: matmul kernels and the other ops. */
  readonly matmul: string;
  readonly ops: string;
  /** Bytes of the matrices repacked at load for the matmul path (0 where it repacks none). */
  readonly packedBytes: number;
  /** Bytes of the model file's pages of those matrices given back to the OS after the copy. */
  readonly releasedBytes: number;
}

interface NativeRunnerHandle {
  forward(tokens: Int32Array, positions: Int32Array, seqStart: Int32Array, seqCount: Int32Array,
    slotOffset: Int32Array, slots: Int32Array, logitRows: Int32Array, into?: Float32Array,
    hiddenRows?: Int32Array, hidden?: Float32Array): Promise<Float32Array>;
  exportKv(slots: Int32Array): Promise<Uint8Array>;
  importKv(slots: Int32Array, bytes: Uint8Array): Promise<void>;
  close(): void;
  info(): NativeRunnerInfo;
}

/** The addon as this backend uses it. */
export interface RunnerAddon extends NativeAddon {
  NativeRunner: new (desc: NativeModelDesc, capacity: number, kvF16: boolean, threads: number) => NativeRunnerHandle;
  /** Test hook: the SIMD path of the runner's ops (norms, RoPE, attention); false if this CPU cannot run it. */
  setOpsPath(name: "auto" | "scalar" | "avx2" | "neon"): boolean;
}

/** The addon when it is loaded and has the runner, else null (loadNative warns on failure). */
export function runnerAddon(): RunnerAddon | null {
  const a = loadNative() as Partial<RunnerAddon> | null;
  return a && typeof a.NativeRunner === "function" ? (a as RunnerAddon) : null;
}

export function defaultThreads(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

function matrix(t: WeightTensor): NativeWeight {
  if (t.shape.length !== 2) throw new Error(`${t.name}: expected a matrix, got shape [${t.shape.join(", ")}]`);
  return { type: dtypeInfo(t.type).ggmlType, rows: t.shape[0]!, cols: t.shape[1]!, bytes: t.bytes };
}

/** A stacked [experts, rows, cols] tensor as the [experts * rows, cols] matrix it is in memory. */
function stack(t: WeightTensor): NativeWeight {
  if (t.shape.length !== 3) throw new Error(`${t.name}: expected a stack of experts, got shape [${t.shape.join(", ")}]`);
  return { type: dtypeInfo(t.type).ggmlType, rows: t.shape[0]! * t.shape[1]!, cols: t.shape[2]!, bytes: t.bytes };
}

function vector(t: WeightTensor): Float32Array {
  return dequantize(t.type, t.bytes, t.shape.reduce((a, b) => a * b, 1));
}

/** The model as the addon wants it, for a pool of `capacity` slots; mirrors the constructor of the reference runner. */
export function describeModel(model: RunnerModel, capacity: number): NativeModelDesc {
  const c = model.config;
  const w = model.weights;
  const rope = ropeTables(c, w, capacity);
  const opt = (name: string): Float32Array | undefined => (w.has(name) ? vector(w.get(name)) : undefined);
  const layers: NativeLayer[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const b = `blk.${i}.`;
    const m = layerMatrices(w, b, c.numHeads * c.headDim, c.numKvHeads * c.headDim, c.moe !== undefined);
    layers.push({
      attnNorm: vector(w.get(b + "attn_norm.weight")), ffnNorm: vector(w.get(b + "ffn_norm.weight")),
      qBias: opt(b + "attn_q.bias"), kBias: opt(b + "attn_k.bias"), vBias: opt(b + "attn_v.bias"),
      qNorm: opt(b + "attn_q_norm.weight"), kNorm: opt(b + "attn_k_norm.weight"),
      postAttnNorm: opt(b + "post_attention_norm.weight"), postFfnNorm: opt(b + "post_ffw_norm.weight"),
      q: matrix(m.q), k: matrix(m.k), v: matrix(m.v), o: matrix(m.o),
      ...(c.moe
        ? {
          router: matrix(w.get(b + "ffn_gate_inp.weight")), gateExps: stack(w.get(b + "ffn_gate_exps.weight")),
          upExps: stack(w.get(b + "ffn_up_exps.weight")), downExps: stack(w.get(b + "ffn_down_exps.weight")),
          ...(c.moe.sharedFfn !== undefined
            ? {
              sharedGateInp: vector(w.get(b + "ffn_gate_inp_shexp.weight")), sharedGate: matrix(w.get(b + "ffn_gate_shexp.weight")),
              sharedUp: matrix(w.get(b + "ffn_up_shexp.weight")), sharedDown: matrix(w.get(b + "ffn_down_shexp.weight")),
            }
            : {}),
        }
        : { gate: matrix(m.gate!), up: matrix(m.up!), down: matrix(m.down!) }),
      ...(c.ropeLayers?.[i] === false ? { rope: false } : {}),
      ...(c.attentionWindows?.[i] ? { window: c.attentionWindows[i] } : {}),
    });
  }
  const embed = matrix(w.get("token_embd.weight"));
  return {
    vocab: c.vocabSize, hidden: c.hiddenSize, ffn: c.intermediateSize, heads: c.numHeads, kvHeads: c.numKvHeads,
    headDim: c.headDim, eps: c.rmsNormEps, interleaved: c.ropeLayout === "interleaved", invFreq: rope.invFreq,
    embed, output: w.has("output.weight") ? matrix(w.get("output.weight")) : embed,
    outputNorm: vector(w.get("output_norm.weight")), layers,
    ...(c.multipliers ? { multipliers: c.multipliers } : {}),
    ...(rope.invFreqLocal ? { invFreqLocal: rope.invFreqLocal } : {}),
    ...(c.ropeDim !== undefined && c.ropeDim !== c.headDim ? { ropeDim: c.ropeDim } : {}),
    ...(rope.mscale !== 1 ? { ropeScale: rope.mscale } : {}),
    ...(c.activation ? { activation: c.activation } : {}),
    ...(c.attnSoftcap ? { attnSoftcap: c.attnSoftcap } : {}),
    ...(c.finalSoftcap ? { finalSoftcap: c.finalSoftcap } : {}),
    ...(c.moe ? { moe: c.moe } : {}),
  };
}

export class NativeModelRunner implements ModelRunner {
  private readonly handle: NativeRunnerHandle;
  /** Steps called and not yet settled, and a promise that settles after the last of them. */
  private pending = 0;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  readonly kvTokenBytes: number;

  constructor(addon: RunnerAddon, model: RunnerModel, readonly kv: KVCacheOptions, threads: number) {
    this.handle = new addon.NativeRunner(describeModel(model, kv.capacity), kv.capacity, kv.dtype === "f16", threads);
    const c = model.config;
    this.kvTokenBytes = 2 * c.numLayers * c.numKvHeads * c.headDim * (kv.dtype === "f16" ? 2 : 4);
  }

  /**
   * Steps run one at a time, in call order; the plan is read at call time. With no step in
   * flight the addon starts at once, so the caller's own work overlaps the computation.
   */
  forward(plan: StepPlan, into?: Float32Array, hidden?: Float32Array): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error("runner is closed"));
    const seqStart = new Int32Array(plan.seqs.length);
    const seqCount = new Int32Array(plan.seqs.length);
    const slotOffset = new Int32Array(plan.seqs.length + 1);
    let total = 0;
    plan.seqs.forEach((s, i) => {
      seqStart[i] = s.start;
      seqCount[i] = s.count;
      slotOffset[i] = total;
      total += s.kvSlots.length;
    });
    slotOffset[plan.seqs.length] = total;
    const slots = new Int32Array(total);
    plan.seqs.forEach((s, i) => slots.set(s.kvSlots, slotOffset[i]));
    const tokens = Int32Array.from(plan.tokens);
    const positions = Int32Array.from(plan.positions);
    const logitRows = Int32Array.from(plan.logitRows);
    const hiddenRows = plan.hiddenRows && plan.hiddenRows.length > 0 ? Int32Array.from(plan.hiddenRows) : undefined;
    const start = (): Promise<Float32Array> => hiddenRows
      ? this.handle.forward(tokens, positions, seqStart, seqCount, slotOffset, slots, logitRows, into, hiddenRows, hidden)
      : this.handle.forward(tokens, positions, seqStart, seqCount, slotOffset, slots, logitRows, into);
    let step: Promise<Float32Array>;
    if (this.pending === 0) {
      try {
        step = start();
      } catch (err) {
        step = Promise.reject(err);
      }
    } else {
      step = this.tail.then(start);
    }
    this.pending++;
    // Registered before the caller can await `step`: the count is down when the caller resumes.
    const settled = (): void => {
      this.pending--;
    };
    this.tail = step.then(settled, settled);
    return step;
  }

  /** On a libuv worker, beside any forward pass (runner-kv.cc). */
  exportKv(slots: Int32Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error("runner is closed"));
    return this.handle.exportKv(Int32Array.from(slots));
  }

  importKv(slots: Int32Array, bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("runner is closed"));
    return this.handle.importKv(Int32Array.from(slots), bytes);
  }

  info(): NativeRunnerInfo {
    return this.handle.info();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The addon frees the pool once a step still in flight has finished.
    this.handle.close();
  }
}

/** A native backend whose runners each own a pool of `threads` threads. */
export function nativeBackend(addon: RunnerAddon, threads: number = defaultThreads()): Backend {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  return {
    name: "native",
    createRunner: (model, kv) => new NativeModelRunner(addon, model, kv, threads),
  };
}
