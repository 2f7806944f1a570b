// The time a workload cannot go below at this machine's own kernel speed: the prompt tokens
// it must compute (those the cache did not hold), each costing a row of matmuls plus its
// attention over the positions before it, plus its decode steps, each a batch of the
// requests running at once, at what one such step costs. The costs are measured here on the
// engine's own backend at the workload's shape, over K/V the runner has really written (a
// pool's untouched pages all read as one zero page, from cache) and, for decoding requests
// that share a cached prefix, on shared slots, as the radix cache lays them out. They move
// with the machine's load as the measured run does.
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
  /** Leading positions the decoding requests share (the same slots in the pool). */
  readonly sharedPrefix: number;
}

export interface KernelCosts {
  readonly shape: KernelShape;
  /** Milliseconds a prompt token costs apart from its attention (matmuls, norms). */
  readonly prefillRowMs: number;
  /** Nanoseconds each position a prompt token attends to adds. */
  readonly attendNs: number;
  /** Prompt tokens per second in a step of `chunk` rows after `prefix` cached positions (shown beside the bound). */
  readonly prefillTokS: number;
  /** Milliseconds of one decode step of `batch` rows at `context`. */
  readonly decodeStepMs: number;
}

export interface WorkloadBound {
  readonly seconds: number;
  readonly prefillSeconds: number;
  readonly decodeSeconds: number;
  readonly computedPromptTokens: number;
  /** Positions the computed prompt tokens attend to, all together. */
  readonly attendedPositions: number;
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

/** Positions the prompt tokens a request computes attend to: token p (from `cached` on) sees p + 1. */
export function attendedPositions(promptTokens: number, cachedTokens: number): number {
  return (promptTokens * (promptTokens + 1) - cachedTokens * (cachedTokens + 1)) / 2;
}

/** The mean common prefix of each prompt with the one before it: what requests running together share. */
export function meanSharedPrefix(prompts: readonly (readonly number[])[]): number {
  if (prompts.length < 2) return 0;
  let sum = 0;
  for (let i = 1; i < prompts.length; i++) {
    const a = prompts[i - 1]!;
    const b = prompts[i]!;
    let c = 0;
    while (c < a.length && c < b.length && a[c] === b[c]) c++;
    sum += c;
  }
  return sum / (prompts.length - 1);
}

const range = (from: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);

/** Measures the prefill costs and the decode step cost at `shape` on a runner of its own. */
export async function measureKernelCosts(model: LoadedModel, backend: Backend, shape: KernelShape, dtype: KVDType = "f16"): Promise<KernelCosts> {
  const ctx = model.config.maxPositionEmbeddings;
  const per = Math.max(1, Math.min(shape.perRequest, shape.chunk, ctx));
  const context = Math.max(1, Math.min(shape.context, ctx));
  const s: KernelShape = {
    chunk: Math.max(per, shape.chunk),
    perRequest: per,
    prefix: Math.max(0, Math.min(shape.prefix, ctx - per)),
    batch: Math.max(1, shape.batch),
    context,
    sharedPrefix: Math.max(0, Math.min(Math.round(shape.sharedPrefix), context - 1)),
  };
  // A prefill step as the scheduler packs one: as many requests' uncached parts as the chunk holds.
  const packed = Math.max(1, Math.floor(s.chunk / per));
  // Slots: a written region (the cached prefix, which decoding requests also read), then each
  // prefill sequence's own rows, then one slot per decoding request for its new row.
  const region = Math.max(s.prefix, context - 1, 1);
  const last = region + packed * per;
  const capacity = last + s.batch;
  const runner: ModelRunner = backend.createRunner(model, { capacity, dtype });
  try {
    const vocab = model.config.vocabSize;
    const logits = new Float32Array(vocab * Math.max(s.batch, packed));
    const tokens = (n: number, from = 0): Int32Array => Int32Array.from({ length: n }, (_, i) => ((from + i) * 7919 + 13) % vocab);
    const regionSlots = range(0, region);
    for (let p = 0; p < region; p += s.chunk) {
      const n = Math.min(s.chunk, region - p);
      await runner.forward({ tokens: tokens(n, p), positions: range(p, n), seqs: [{ start: 0, count: n, kvSlots: regionSlots.subarray(0, p + n) }], logitRows: Int32Array.of(n - 1) }, logits);
    }
    // `packed` sequences of `per` new rows after `prefix` cached positions (the region's).
    const prefill = (prefix: number): StepPlan => ({
      tokens: tokens(packed * per, 1),
      positions: Int32Array.from({ length: packed * per }, (_, j) => prefix + (j % per)),
      seqs: Array.from({ length: packed }, (_, q) => {
        const slots = new Int32Array(prefix + per);
        slots.set(regionSlots.subarray(0, prefix));
        slots.set(range(region + q * per, per), prefix);
        return { start: q * per, count: per, kvSlots: slots };
      }),
      logitRows: Int32Array.from({ length: packed }, (_, q) => q * per + per - 1),
    });
    // `batch` requests at `context`, the first `sharedPrefix` positions in the same slots; the
    // rest of each in written slots of the region taken in an order of its own (so that no
    // two requests' lists begin alike past the shared part), its new row in a slot of its own.
    const rest = context - 1 - s.sharedPrefix;
    const decode: StepPlan = {
      tokens: tokens(s.batch, 3),
      positions: new Int32Array(s.batch).fill(context - 1),
      seqs: Array.from({ length: s.batch }, (_, b) => {
        const slots = new Int32Array(context);
        slots.set(regionSlots.subarray(0, s.sharedPrefix));
        const span = region - s.sharedPrefix;
        for (let i = 0; i < rest; i++) slots[s.sharedPrefix + i] = s.sharedPrefix + ((i + b * 97) % span);
        slots[context - 1] = last + b;
        return { start: b, count: 1, kvSlots: slots };
      }),
      logitRows: Int32Array.from({ length: s.batch }, (_, b) => b),
    };
    const long = prefill(s.prefix);
    const short = prefill(0);
    // warm-up: pages the weights in, sizes the buffers
    await runner.forward(long, logits);
    await runner.forward(decode, logits);
    const longMs = await best(() => runner.forward(long, logits));
    const shortMs = await best(() => runner.forward(short, logits));
    const decodeMs = await best(() => runner.forward(decode, logits));
    // Two points of ms = rows * rowMs + positions * attend: the step without a prefix and the one after it.
    const rows = packed * per;
    const posShort = packed * attendedPositions(per, 0);
    const posLong = packed * attendedPositions(s.prefix + per, s.prefix);
    const attendMs = posLong > posShort ? Math.max(0, (longMs - shortMs) / (posLong - posShort)) : 0;
    const prefillRowMs = Math.max(1e-6, (shortMs - posShort * attendMs) / rows);
    return { shape: s, prefillRowMs, attendNs: attendMs * 1e6, prefillTokS: (rows * 1000) / longMs, decodeStepMs: decodeMs };
  } finally {
    runner.close();
  }
}

/**
 * The bound of a run that computed `computedPromptTokens` prompt tokens, attending to
 * `attended` positions in all, and generated `outputTokens` at `costs`.
 */
export function workloadBound(computedPromptTokens: number, attended: number, outputTokens: number, costs: KernelCosts): WorkloadBound {
  const decodeSteps = Math.ceil(outputTokens / costs.shape.batch);
  const prefillSeconds = (computedPromptTokens * costs.prefillRowMs + attended * costs.attendNs * 1e-6) / 1000;
  const decodeSeconds = (decodeSteps * costs.decodeStepMs) / 1000;
  return { seconds: prefillSeconds + decodeSeconds, prefillSeconds, decodeSeconds, computedPromptTokens, attendedPositions: attended, decodeSteps, costs };
}

export function formatBound(b: WorkloadBound, measuredSeconds: number, run = "the cache run"): string {
  const c = b.costs;
  const shared = c.shape.sharedPrefix > 0 ? `, ${c.shape.sharedPrefix} shared` : "";
  return `bound at this machine's kernel speed: ${b.seconds.toFixed(2)} s = ${b.computedPromptTokens} computed prompt tokens ` +
    `(${c.prefillRowMs.toFixed(2)} ms each + ${c.attendNs.toFixed(1)} ns per position attended, ${(b.attendedPositions / 1e6).toFixed(2)} M in all: ${b.prefillSeconds.toFixed(2)} s) ` +
    `+ ${b.decodeSteps} decode steps of ${c.shape.batch} at ${c.decodeStepMs.toFixed(2)} ms (context ${c.shape.context}${shared}: ${b.decodeSeconds.toFixed(2)} s); ` +
    `${run} took ${measuredSeconds.toFixed(2)} s, ${((b.seconds / measuredSeconds) * 100).toFixed(0)}% of the bound's speed`;
}
