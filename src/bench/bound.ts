// The time a workload cannot go below at this machine's own kernel speed: the prompt tokens
// it must compute (those the cache did not hold) at the prefill rate, plus its decode steps,
// each a batch of the requests running at once, at what one such step costs. Both costs are
// measured here on the engine's own backend at the workload's shape (a prefill chunk after a
// cached prefix of the typical length; decode rows at the typical context), so the bound
// moves with the machine's load as the measured run does.
import type { Backend, KVDType, ModelRunner, StepPlan } from "../kernels/backend.js";
import type { LoadedModel } from "../model/load.js";

export interface KernelShape {
  /** Rows a prefill step holds at most (the chunk size). */
  readonly chunk: number;
  /** Prompt tokens a request computes (its uncached part; the step packs several such). */
  readonly perRequest: number;
  /** Positions already cached before them (the typical prefix hit). */
  readonly prefix: number;
  /** Requests decoding at once. */
  readonly batch: number;
  /** Context of each decoding request (prompt plus half its output). */
  readonly context: number;
}

export interface KernelCosts {
  readonly shape: KernelShape;
  /** Prompt tokens per second in a step of `chunk` rows after `prefix` cached positions. */
  readonly prefillTokS: number;
  /** Milliseconds of one decode step of `batch` rows at `context`. */
  readonly decodeStepMs: number;
}

export interface WorkloadBound {
  readonly seconds: number;
  readonly prefillSeconds: number;
  readonly decodeSeconds: number;
  readonly computedPromptTokens: number;
  readonly decodeSteps: number;
  readonly costs: KernelCosts;
}

const REPEATS = 3;

/** The best (least) time of `REPEATS` runs of `f`, in milliseconds. */
async function best(f: () => Promise<unknown>): Promise<number> {
  let ms = Infinity;
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    await f();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

/** Measures the prefill rate and the decode step cost at `shape` on a runner of its own. */
export async function measureKernelCosts(model: LoadedModel, backend: Backend, shape: KernelShape, dtype: KVDType = "f16"): Promise<KernelCosts> {
  const ctx = model.config.maxPositionEmbeddings;
  const per = Math.max(1, Math.min(shape.perRequest, shape.chunk, ctx));
  const s: KernelShape = {
    chunk: Math.max(per, shape.chunk),
    perRequest: per,
    prefix: Math.max(0, Math.min(shape.prefix, ctx - per)),
    batch: Math.max(1, shape.batch),
    context: Math.max(1, Math.min(shape.context, ctx)),
  };
  // A prefill step as the scheduler packs one: as many requests' uncached parts as the chunk holds.
  const packed = Math.max(1, Math.floor(s.chunk / per));
  const span = s.prefix + per;
  const capacity = Math.max(packed * span, s.batch * s.context);
  const runner: ModelRunner = backend.createRunner(model, { capacity, dtype });
  try {
    const vocab = model.config.vocabSize;
    const logits = new Float32Array(vocab * Math.max(s.batch, packed));
    const tokens = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
    // Each sequence in slots of its own; the K/V of its prefix positions are whatever the pool holds (timing only).
    const prefill: StepPlan = {
      tokens: tokens(packed * per),
      positions: Int32Array.from({ length: packed * per }, (_, j) => s.prefix + (j % per)),
      seqs: Array.from({ length: packed }, (_, q) => ({ start: q * per, count: per, kvSlots: Int32Array.from({ length: span }, (_, i) => q * span + i) })),
      logitRows: Int32Array.from({ length: packed }, (_, q) => q * per + per - 1),
    };
    // `batch` sequences of `context` positions each, in slot ranges of their own, one new token each.
    const decode: StepPlan = {
      tokens: tokens(s.batch),
      positions: new Int32Array(s.batch).fill(s.context - 1),
      seqs: Array.from({ length: s.batch }, (_, b) => ({ start: b, count: 1, kvSlots: Int32Array.from({ length: s.context }, (_, i) => b * s.context + i) })),
      logitRows: Int32Array.from({ length: s.batch }, (_, b) => b),
    };
    // warm-up: pages the weights in, sizes the buffers
    await runner.forward(prefill, logits);
    await runner.forward(decode, logits);
    const prefillMs = await best(() => runner.forward(prefill, logits));
    const decodeMs = await best(() => runner.forward(decode, logits));
    return { shape: s, prefillTokS: (packed * per * 1000) / prefillMs, decodeStepMs: decodeMs };
  } finally {
    runner.close();
  }
}

/** The bound of a run that computed `computedPromptTokens` and generated `outputTokens` at `costs`. */
export function workloadBound(computedPromptTokens: number, outputTokens: number, costs: KernelCosts): WorkloadBound {
  const decodeSteps = Math.ceil(outputTokens / costs.shape.batch);
  const prefillSeconds = computedPromptTokens / costs.prefillTokS;
  const decodeSeconds = (decodeSteps * costs.decodeStepMs) / 1000;
  return { seconds: prefillSeconds + decodeSeconds, prefillSeconds, decodeSeconds, computedPromptTokens, decodeSteps, costs };
}

export function formatBound(b: WorkloadBound, measuredSeconds: number): string {
  const c = b.costs;
  return `bound at this machine's kernel speed: ${b.seconds.toFixed(2)} s = ${b.computedPromptTokens} computed prompt tokens at ${c.prefillTokS.toFixed(0)} tok/s ` +
    `(steps of ${Math.max(1, Math.floor(c.shape.chunk / c.shape.perRequest))} x ${c.shape.perRequest} rows after ${c.shape.prefix} cached) + ${b.decodeSteps} decode steps of ${c.shape.batch} at ${c.decodeStepMs.toFixed(2)} ms (context ${c.shape.context}); ` +
    `the cache run took ${measuredSeconds.toFixed(2)} s, ${((b.seconds / measuredSeconds) * 100).toFixed(0)}% of the bound's speed`;
}
