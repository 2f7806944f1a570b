// The contract between the runtime and whatever computes the forward pass. The reference
// backend (pure TypeScript) and the native one (C++ addon) both implement it.
import type { RopeLayout, RopeParams } from "./rope.js";
import type { TensorSource } from "./tensor.js";

/** One sequence's part of a step. */
export interface SeqPlan {
  /** First row of this sequence's new tokens in the step's token arrays. */
  readonly start: number;
  /** Number of new tokens (a prefill chunk, or 1 when decoding). */
  readonly count: number;
  /**
   * KV slot of every position of the sequence, 0 through its last new token, in position
   * order: `kvSlots[p]` holds position p. The new tokens write their K/V into the last
   * `count` entries; each token attends over the entries up to and including its own.
   */
  readonly kvSlots: Int32Array;
}

export interface StepPlan {
  /** Token ids of all new tokens, sequence after sequence. */
  readonly tokens: Int32Array;
  /** Position of each new token within its sequence. */
  readonly positions: Int32Array;
  readonly seqs: readonly SeqPlan[];
  /** Rows (indices into `tokens`) whose logits are wanted, in output order. */
  readonly logitRows: Int32Array;
  /**
   * Rows whose final hidden state (after the output norm, before the output matrix: what
   * embedding models pool) is wanted, in output order; absent: none.
   */
  readonly hiddenRows?: Int32Array;
}

export type KVDType = "f16" | "f32";

export interface KVCacheOptions {
  /** Number of token slots. */
  readonly capacity: number;
  readonly dtype: KVDType;
}

/**
 * The hyperparameters of a llama-family transformer that the forward pass reads. The
 * kernels define it so that they need no model code; a model's own config has these fields.
 */
export interface ForwardConfig extends RopeParams {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeLayout: RopeLayout;
  /** Scalings some families add to the llama block (Granite); absent: none. */
  readonly multipliers?: Multipliers;
  /** Per layer, whether RoPE rotates its Q and K (SmolLM3 leaves every 4th layer without); absent: every layer. */
  readonly ropeLayers?: readonly boolean[];
  /**
   * Per layer, the sliding window: a token attends to itself and the window - 1 tokens
   * before it (Mistral's sliding_window, Gemma's local layers); 0 or absent: all of them.
   */
  readonly attentionWindows?: readonly number[];
  /**
   * The RoPE base of the sliding-window layers, which take no scaling (Gemma 3's local
   * layers); absent: every layer rotates as ropeTheta and ropeScaling say.
   */
  readonly localRopeTheta?: number;
  /** The MLP's gate: SiLU (absent) or GELU's tanh form (Gemma's GeGLU). */
  readonly activation?: "silu" | "gelu_tanh";
  /** Attention scores become cap * tanh(score / cap) before the softmax (Gemma 2); absent: none. */
  readonly attnSoftcap?: number;
  /** The logits become cap * tanh(logit / cap) (Gemma 2); absent: none. */
  readonly finalSoftcap?: number;
  /** A mixture of experts in place of every layer's MLP (Qwen3-MoE, Mixtral); absent: a dense MLP. */
  readonly moe?: MoeConfig;
}

/**
 * Each token's router logits (ffn_gate_inp) go through a softmax over all `experts`; the
 * `used` most probable (ties to the lower index) run, their SiLU-gated MLPs of `expertFfn`
 * weighted by those probabilities, renormalized to sum 1 when normTopK.
 */
export interface MoeConfig {
  readonly experts: number;
  readonly used: number;
  readonly expertFfn: number;
  readonly normTopK: boolean;
  /** Qwen2-MoE's shared expert: an MLP of this width every token runs, scaled by sigmoid(ffn_gate_inp_shexp . x). */
  readonly sharedFfn?: number;
}

/** The first position a token at `pos` attends to under a window (0: none). */
export function windowStart(pos: number, window: number): number {
  return window > 0 && pos + 1 > window ? pos + 1 - window : 0;
}

/**
 * The token embedding is multiplied by `embedding`; attention scores are scaled by `attention`
 * in place of 1/sqrt(headDim); each attention and MLP output is multiplied by `residual` before
 * it joins the residual stream; the logits are divided by `logit`.
 */
export interface Multipliers {
  readonly embedding: number;
  readonly attention: number;
  readonly residual: number;
  readonly logit: number;
}

export interface RunnerModel {
  readonly config: ForwardConfig;
  readonly weights: TensorSource;
}

export interface ModelRunner {
  /**
   * Logits for `plan.logitRows`, row after row, each `vocabSize` long. With `into` (long
   * enough), a backend may write them there and return a view of it: the caller then owns
   * the reuse, and must be done with the view before passing `into` again. The hidden
   * states of `plan.hiddenRows` go to `hidden` (hiddenSize floats each, in order), which a
   * plan with hidden rows must give.
   */
  forward(plan: StepPlan, into?: Float32Array, hidden?: Float32Array): Promise<Float32Array>;
  readonly kv: KVCacheOptions;
  /** Bytes of one token's K and V over all layers, as exportKv lays them out. */
  readonly kvTokenBytes: number;
  /**
   * The K and V of `slots`, token-major (per slot, per layer, K then V, each kv heads x head
   * dim values in the pool's dtype): the disk tier's item bytes. Runs beside forward passes
   * (off the event loop where the backend can); the caller keeps the slots out of every
   * forward pass until it settles.
   */
  exportKv(slots: Int32Array): Promise<Uint8Array>;
  /** Writes bytes laid out as exportKv's into `slots` (same rules). */
  importKv(slots: Int32Array, bytes: Uint8Array): Promise<void>;
  close(): void;
}

export interface Backend {
  readonly name: string;
  createRunner(model: RunnerModel, kv: KVCacheOptions): ModelRunner;
}

/** Checks a plan against the runner's capacity; a bad plan is a bug upstream, so throw. */
export function validatePlan(plan: StepPlan, capacity: number, hiddenSize = 0, hidden?: Float32Array): void {
  const n = plan.tokens.length;
  if (plan.positions.length !== n) throw new Error("plan: positions and tokens differ in length");
  let covered = 0;
  for (const s of plan.seqs) {
    if (s.start !== covered) throw new Error("plan: sequences must cover the tokens in order");
    covered += s.count;
    if (s.count <= 0 || s.kvSlots.length < s.count) throw new Error("plan: sequence has no new tokens or too few slots");
    for (let j = 0; j < s.count; j++) {
      if (plan.positions[s.start + j] !== s.kvSlots.length - s.count + j) throw new Error("plan: positions do not match the slot list");
    }
    for (const slot of s.kvSlots) if (slot < 0 || slot >= capacity) throw new Error(`plan: KV slot ${slot} out of range`);
  }
  if (covered !== n) throw new Error("plan: sequences do not cover every token");
  for (const r of plan.logitRows) if (r < 0 || r >= n) throw new Error(`plan: logit row ${r} out of range`);
  const hr = plan.hiddenRows ?? new Int32Array(0);
  for (const r of hr) if (r < 0 || r >= n) throw new Error(`plan: hidden row ${r} out of range`);
  if (hr.length > 0 && (hidden === undefined || hidden.length < hr.length * hiddenSize)) throw new Error("plan: hidden rows need an output array");
}
