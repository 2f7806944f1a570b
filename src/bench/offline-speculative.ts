// `radixlm bench offline --compare speculative`: a workload through the in-process engine
// twice on the same settings (radix cache on), with n-gram speculative decoding and without,
// and what speculation gave: throughput and TTFT ratios, how much of the draft the model
// accepted, and whether every request generated the same ids both times (it must: verifying a
// draft keeps exactly the tokens plain decoding would have produced). A third run gives each
// request the reply plain decoding wrote as its `prediction`: every draft is right, so it is
// the most speculation can give on this workload, model and machine (the bound).
import type { EngineOptions } from "../engine/engine.js";
import type { LoadedModel } from "../model/load.js";
import { expectedLine, runOnce, runRow, RUN_HEADER, type OfflineRun, type OfflineRunResult, type RunShape } from "./offline.js";
import type { Workload } from "./workloads.js";
import { Progress } from "../util/progress.js";

export interface SpeculativeReport {
  readonly compare: "speculative";
  readonly workload: string;
  /** With `speculative: "ngram"`, and with `"off"`. */
  readonly on: OfflineRun;
  readonly off: OfflineRun;
  /** With every draft right: each request's prediction is the reply of the run without speculation. */
  readonly bound: OfflineRun;
  /** Chains in flight at once; null: all of them. */
  readonly max_concurrency: number | null;
  /** Output tokens per second with speculation over without. */
  readonly throughput_ratio: number;
  /** Mean time per output token after the first, without over with: the decode speed-up, prefill left out. */
  readonly tpot_ratio: number;
  /** The same two ratios with every draft right: the most speculation can give here. */
  readonly bound_throughput_ratio: number;
  readonly bound_tpot_ratio: number;
  /** Mean TTFT without over with: above 1, the first token came sooner with speculation (as the cache comparison's ratio reads). */
  readonly ttft_ratio: number;
  /** The speculative run's drafts: tokens verified, those accepted, and verifications (one per request and step that had a draft). */
  readonly draft_tokens: number;
  readonly accepted_tokens: number;
  readonly verify_steps: number;
  /** Accepted over drafted tokens; 0 without a draft. */
  readonly accept_rate: number;
  /** Tokens a verification appended, on average: the accepted drafts and the one sampled after them; null without one. */
  readonly accept_length: number | null;
  /** Runs of each side; each reports its fastest. */
  readonly rounds: number;
  /** Every request generated the same ids in both runs. */
  readonly identical_outputs: boolean;
  /** Requests whose ids differed (0 when identical_outputs). */
  readonly differing_requests: number;
}

const sameIds = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);

/**
 * `rounds` runs of each, alternating (off, ngram, ngram, off, ...) so that warm-up and drift
 * fall on both alike; each side reports its fastest run.
 */
export async function benchSpeculative(model: LoadedModel, w: Workload, engineOpts: Omit<EngineOptions, "model">, rounds = 2, maxConcurrency: number | null = null): Promise<SpeculativeReport> {
  const runs = { ngram: [] as OfflineRunResult[], off: [] as OfflineRunResult[], bound: [] as OfflineRunResult[] };
  const order = ["off", "ngram", "bound"] as const;
  const requests = w.chains.reduce((a, c) => a + c.length, 0);
  const bar = new Progress("bench offline", rounds * order.length * requests, { unit: "requests" });
  let done = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      // Off first in the first round: the bound's predictions are its replies.
      for (const [i, mode] of (r % 2 === 0 ? order : [...order].reverse()).entries()) {
        const phase = `run ${r * order.length + i + 1}/${rounds * order.length}: ${mode}`;
        bar.update(done, phase);
        const shape: RunShape = {
          ...(maxConcurrency === null ? {} : { maxConcurrency }),
          ...(mode === "bound" ? { predictions: runs.off[0]!.outputs } : {}),
          onRequest: () => bar.update(++done, phase),
        };
        const opts = { ...engineOpts, disableRadixCache: false, speculative: mode === "off" ? "off" as const : "ngram" as const };
        runs[mode].push(await runOnce(model, w, opts, null, null, shape));
      }
    }
  } finally {
    bar.stop();
  }
  const fastest = (xs: readonly OfflineRunResult[]): OfflineRunResult => xs.reduce((a, b) => (b.run.throughput > a.run.throughput ? b : a));
  const on = fastest(runs.ngram);
  const off = fastest(runs.off);
  const bound = fastest(runs.bound);
  // Every run against the first: a request differs if any run generated other ids for it.
  const ref = runs.off[0]!.outputs;
  const all = [...runs.ngram, ...runs.off, ...runs.bound];
  let differing = 0;
  for (const [c, chain] of ref.entries()) {
    for (const [k, ids] of chain.entries()) if (all.some((x) => !sameIds(x.outputs[c]![k]!, ids))) differing++;
  }
  const s = on.run.speculative;
  return {
    compare: "speculative",
    workload: w.name,
    on: on.run,
    off: off.run,
    bound: bound.run,
    max_concurrency: maxConcurrency,
    throughput_ratio: on.run.throughput / off.run.throughput,
    tpot_ratio: off.run.tpot.mean / on.run.tpot.mean,
    bound_throughput_ratio: bound.run.throughput / off.run.throughput,
    bound_tpot_ratio: off.run.tpot.mean / bound.run.tpot.mean,
    ttft_ratio: off.run.ttft.mean / on.run.ttft.mean,
    draft_tokens: s.draftTokens,
    accepted_tokens: s.acceptedTokens,
    verify_steps: s.verifySteps,
    accept_rate: s.draftTokens > 0 ? s.acceptedTokens / s.draftTokens : 0,
    accept_length: s.verifySteps > 0 ? 1 + s.acceptedTokens / s.verifySteps : null,
    rounds,
    identical_outputs: differing === 0,
    differing_requests: differing,
  };
}

export function formatSpeculative(r: SpeculativeReport): string {
  const requests = r.on.requests;
  return [
    RUN_HEADER,
    runRow("ngram", r.on),
    runRow("off", r.off),
    runRow("bound", r.bound),
    ``,
    `speculative decoding (ngram over off, the fastest of ${r.rounds} alternating runs each, ${r.max_concurrency === null ? "all requests at once" : `at most ${r.max_concurrency} in flight`}): ` +
      `output throughput ${r.throughput_ratio.toFixed(2)}x, decode speed (mean time per output token after the first) ${r.tpot_ratio.toFixed(2)}x, mean TTFT ratio ${r.ttft_ratio.toFixed(2)}x (off / ngram)`,
    `bound (every draft right: each request predicts the reply it gets): output throughput ${r.bound_throughput_ratio.toFixed(2)}x, decode speed ${r.bound_tpot_ratio.toFixed(2)}x`,
    `drafted ${r.draft_tokens} tokens in ${r.verify_steps} verifications, accepted ${r.accepted_tokens} (${(r.accept_rate * 100).toFixed(1)}%), ` +
      `${r.accept_length === null ? "n/a" : r.accept_length.toFixed(2)} tokens per verification`,
    `identical outputs: ${r.identical_outputs ? `yes (all ${requests} requests)` : `NO (${r.differing_requests} of ${requests} requests differ)`}`,
    ...(r.on.expectedReplies ? [expectedLine([["ngram", r.on], ["off", r.off]])] : []),
  ].join("\n");
}
