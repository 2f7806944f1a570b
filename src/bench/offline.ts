// `radixlm bench offline`: a workload through the in-process engine, with the radix cache
// and without, and the ratios between the two runs. Given a disk store, the cache run has a
// disk tier behind the radix cache (the run without a cache has none to put it behind), and
// its hits are split by tier.
import type { DiskTierStats } from "../engine/disk-tier.js";
import { Engine, type EngineOptions, type EngineStats } from "../engine/engine.js";
import type { SpeculativeCounts } from "../engine/stream.js";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { LoadedModel } from "../model/load.js";
import { IdealHitRate, type Workload } from "./workloads.js";
import { summarize, type Summary } from "./stats.js";
import { idealRatios } from "./ideal-schedule.js";
import { attendedPositions, formatBound, meanSharedPrefix, measureKernelCosts, workloadBound, type KernelShape, type WorkloadBound } from "./bound.js";
import { referenceBackend } from "../kernels/reference.js";
import { Progress } from "../util/progress.js";

export interface OfflineRun {
  readonly requests: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly seconds: number;
  /** Output tokens per second. */
  readonly throughput: number;
  /** Prompt + output tokens per second. */
  readonly totalThroughput: number;
  /** Time to first token, milliseconds. */
  readonly ttft: Summary;
  /** Time per output token after the first (a request's decode time over its tokens after the first), milliseconds. */
  readonly tpot: Summary;
  readonly hitRate: number;
  /** Prompt tokens the engine computed (not served by the cache). */
  readonly computedPromptTokens: number;
  /** Positions those tokens attended to, all together (bound.ts). */
  readonly attendedPositions: number;
  /** With a disk tier: its counts at the end of the run; absent without one. */
  readonly disk?: OfflineDiskRun;
  /** Speculative decoding over the run, as the engine counts it (all zero with it off). */
  readonly speculative: SpeculativeCounts;
  /** Chat steps (the edit workload) whose reply was the expected text; absent for other workloads. */
  readonly expectedReplies?: { readonly matched: number; readonly of: number };
}

/** A run's figures, and the ids each step generated (by chain, then step). */
export interface OfflineRunResult {
  readonly run: OfflineRun;
  readonly outputs: readonly (readonly (readonly number[])[])[];
}

export interface OfflineDiskRun {
  /** hitRate split by where the hits were: in the KV pool, or loaded back from the disk tier. */
  readonly hitRateRam: number;
  readonly hitRateDisk: number;
  readonly writtenTokens: number;
  readonly loadedTokens: number;
  readonly loads: number;
  readonly failedLoads: number;
  /** Mean wall time of a load; null when there was none. */
  readonly loadMsMean: number | null;
}

/** A disk store opened empty for the cache run, and how often it is synced (0: only when closed). */
export interface OfflineDiskStore {
  readonly store: DiskStore;
  readonly checkpointMs: number;
}

/** Opens the cache run's store; the store's evictions go to `onEvict`. The run closes it. */
export type OpenDiskStore = (onEvict: (key: string) => void) => Promise<OfflineDiskStore>;

export interface OfflineReport {
  readonly cache: OfflineRun;
  readonly nocache: OfflineRun;
  readonly throughput_ratio: number;
  readonly ttft_ratio: number;
  readonly hit_rate: number;
  /** With a disk tier: hit_rate split by tier (they sum to it); absent without one. */
  readonly hit_rate_ram?: number;
  readonly hit_rate_disk?: number;
  /** With a disk tier that loaded anything: the mean wall time of a load. */
  readonly disk_load_ms_mean?: number;
  readonly ideal_hit_rate: number;
  /** The throughput ratio if every computed token cost the same (see ideal-schedule.ts). */
  readonly ideal_throughput_ratio: number;
  /** The mean TTFT ratio of the best orders if every computed token cost the same; null for multi-step chains. */
  readonly ideal_ttft_ratio: number | null;
  /** The cache run's bound at this machine's kernel speed (bound.ts), and how close it came. */
  readonly bound: WorkloadBound;
  readonly bound_fraction: number;
}

/** How a run sends its workload. */
export interface RunShape {
  /** Chains in flight at once; all of them when absent. */
  readonly maxConcurrency?: number;
  /** Each step's `prediction` (by chain, then step): the drafts speculative decoding is given. */
  readonly predictions?: readonly (readonly (readonly number[])[])[];
  /** Called as each request finishes (a progress bar). */
  readonly onRequest?: () => void;
}

/** The workload through a new engine made with `engineOpts`, closed at the end. */
export async function runOnce(model: LoadedModel, w: Workload, engineOpts: Omit<EngineOptions, "model">, ideal: IdealHitRate | null, openDisk: OpenDiskStore | null, shape: RunShape = {}): Promise<OfflineRunResult> {
  let engine: Engine | null = null;
  const disk = openDisk ? await openDisk((key) => engine?.forgetDiskItem(key)) : null;
  try {
    engine = await Engine.create({ ...engineOpts, model, ...(disk ? { diskStore: disk.store } : {}) });
  } catch (e) {
    await disk?.store.close();
    throw e;
  }
  return runOn(engine, w, ideal, disk, shape);
}

async function runOn(engine: Engine, w: Workload, ideal: IdealHitRate | null, disk: OfflineDiskStore | null, shape: RunShape): Promise<OfflineRunResult> {
  // Synced as serve syncs it, so that the run pays what a server would.
  const syncs = disk && disk.checkpointMs > 0 ? setInterval(() => void disk.store.flush().catch(() => undefined), disk.checkpointMs) : null;
  const ttfts: number[] = [];
  const tpots: number[] = [];
  let promptTokens = 0;
  let outputTokens = 0;
  let attended = 0;
  let chats = 0;
  let matched = 0;
  const outputs = w.chains.map((chain) => chain.map((): number[] => []));
  const t0 = performance.now();
  try {
    const runChain = async (c: number): Promise<void> => {
      const chain = w.chains[c]!;
      let history: number[] = [];
      for (const [k, step] of chain.entries()) {
        const prompt = [...history, ...step.tokens];
        ideal?.query(prompt);
        const start = performance.now();
        let first = 0;
        let last = 0;
        const out = outputs[c]![k]!;
        // Greedy either way: a fixed length, or a chat reply to its end of turn.
        const params = step.chat ? { maxNewTokens: step.outputLen, temperature: 0 } : { maxNewTokens: step.outputLen, ignoreEos: true, temperature: 0 };
        const prediction = shape.predictions?.[c]?.[k];
        for await (const ev of engine.generate({ inputIds: prompt, params, ...(prediction ? { prediction } : {}) })) {
          if (ev.type === "token") {
            last = performance.now();
            if (first === 0) first = last;
            out.push(ev.tokenId);
          } else if (ev.type === "finish") {
            attended += attendedPositions(ev.usage.promptTokens, ev.usage.cachedTokens);
            if (step.chat) {
              chats++;
              if (ev.output.text.trim() === step.chat.expected.trim()) matched++;
            }
          }
        }
        ttfts.push(first - start);
        if (out.length > 1) tpots.push((last - first) / (out.length - 1));
        promptTokens += prompt.length;
        outputTokens += out.length;
        ideal?.add([...prompt, ...out]);
        history = [...prompt, ...out];
        shape.onRequest?.();
      }
    };
    // Workers that each take the next chain: at most maxConcurrency chains in flight.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < w.chains.length) await runChain(next++);
    };
    await Promise.all(Array.from({ length: Math.min(w.chains.length, shape.maxConcurrency ?? w.chains.length) }, worker));
    const seconds = (performance.now() - t0) / 1000;
    const st = engine.stats();
    const ds = engine.diskStats();
    const run: OfflineRun = {
      requests: ttfts.length, promptTokens, outputTokens, seconds,
      throughput: outputTokens / seconds,
      totalThroughput: (promptTokens + outputTokens) / seconds,
      ttft: summarize(ttfts),
      tpot: summarize(tpots),
      hitRate: st.cacheHitRate,
      computedPromptTokens: st.promptTokensTotal - st.hitTokens,
      attendedPositions: attended,
      ...(ds ? { disk: diskRun(st, ds) } : {}),
      speculative: { draftTokens: st.specDraftTokens, acceptedTokens: st.specAcceptedTokens, verifySteps: st.specVerifySteps },
      ...(chats > 0 ? { expectedReplies: { matched, of: chats } } : {}),
    };
    return { run, outputs };
  } finally {
    if (syncs) clearInterval(syncs);
    await engine.close();
    // After the engine: its close stores what it had not yet.
    await disk?.store.close();
  }
}

function diskRun(st: EngineStats, ds: DiskTierStats): OfflineDiskRun {
  const q = st.queriedTokens;
  return {
    hitRateRam: q > 0 ? (st.hitTokens - st.diskHitTokens) / q : 0,
    hitRateDisk: q > 0 ? st.diskHitTokens / q : 0,
    writtenTokens: ds.writtenTokens, loadedTokens: ds.loadedTokens, loads: ds.loads, failedLoads: ds.failedLoads,
    loadMsMean: ds.loads > 0 ? ds.loadMsTotal / ds.loads : null,
  };
}

/** The cache run's typical step shapes: its prefill chunk and cached prefix, its decode batch and context. */
function kernelShape(w: Workload, run: OfflineRun, o: Omit<EngineOptions, "model">, maxConcurrency: number | null): KernelShape {
  const steps = w.chains.flat();
  const outputLen = steps.reduce((n, s) => n + s.outputLen, 0) / Math.max(1, steps.length);
  const meanPrompt = run.promptTokens / Math.max(1, run.requests);
  return {
    chunk: o.chunkedPrefillSize ?? 512,
    perRequest: Math.max(1, Math.round(run.computedPromptTokens / Math.max(1, run.requests))),
    prefix: Math.round((run.promptTokens - run.computedPromptTokens) / Math.max(1, run.requests)),
    batch: Math.min(o.maxRunningRequests ?? 64, maxConcurrency ?? Infinity, w.chains.length),
    context: Math.round(meanPrompt + outputLen / 2),
    sharedPrefix: meanSharedPrefix(w.chains.map((c) => c[0]?.tokens ?? [])),
  };
}

/** `openDisk`: a disk tier behind the cache run's radix cache, in a store it opens empty. */
export async function benchOffline(model: LoadedModel, w: Workload, engineOpts: Omit<EngineOptions, "model">, openDisk: OpenDiskStore | null = null, maxConcurrency: number | null = null): Promise<OfflineReport> {
  const ideal = new IdealHitRate();
  const requests = w.chains.reduce((a, c) => a + c.length, 0);
  // Both runs' requests, then one step for the kernel measurements of the bound.
  const bar = new Progress("bench offline", 2 * requests + 1, { unit: "steps" });
  let done = 0;
  const shape = (phase: string): RunShape => ({
    ...(maxConcurrency === null ? {} : { maxConcurrency }),
    onRequest: () => bar.update(++done, phase),
  });
  let cache: OfflineRun;
  let nocache: OfflineRun;
  let bound: WorkloadBound;
  try {
    bar.update(0, "run 1/2: cache on");
    cache = (await runOnce(model, w, { ...engineOpts, disableRadixCache: false }, ideal, openDisk, shape("run 1/2: cache on"))).run;
    bar.update(done, "run 2/2: cache off");
    nocache = (await runOnce(model, w, { ...engineOpts, disableRadixCache: true }, null, null, shape("run 2/2: cache off"))).run;
    bar.update(done, "measuring the kernels for the bound");
    bound = workloadBound(cache.computedPromptTokens, cache.attendedPositions, cache.outputTokens, await measureKernelCosts(model, engineOpts.backend ?? referenceBackend, kernelShape(w, cache, engineOpts, maxConcurrency), engineOpts.kvCacheDtype));
  } finally {
    bar.stop();
  }
  const ideals = idealRatios(w, ideal.queriedTokens, ideal.hitTokens, cache.outputTokens);
  return {
    cache, nocache,
    throughput_ratio: cache.throughput / nocache.throughput,
    ttft_ratio: nocache.ttft.mean / cache.ttft.mean,
    hit_rate: cache.hitRate,
    ...(cache.disk ? { hit_rate_ram: cache.disk.hitRateRam, hit_rate_disk: cache.disk.hitRateDisk } : {}),
    ...(cache.disk?.loadMsMean != null ? { disk_load_ms_mean: cache.disk.loadMsMean } : {}),
    ideal_hit_rate: ideal.rate,
    ideal_throughput_ratio: ideals.throughput,
    ideal_ttft_ratio: ideals.ttft,
    bound,
    bound_fraction: bound.seconds / cache.seconds,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The runs' table columns, each header with its unit. */
export const RUN_HEADER = `run       reqs  time s  out tok/s  all tok/s  TTFT mean ms  TTFT p50 ms  TTFT p99 ms  TPOT mean ms  hit rate`;

/** One run's line under RUN_HEADER. */
export function runRow(name: string, x: OfflineRun): string {
  return `${name.padEnd(9)} ${String(x.requests).padStart(5)} ${x.seconds.toFixed(1).padStart(7)} ${x.throughput.toFixed(1).padStart(10)} ${x.totalThroughput.toFixed(1).padStart(10)} ` +
    `${x.ttft.mean.toFixed(0).padStart(13)} ${x.ttft.p50.toFixed(0).padStart(12)} ${x.ttft.p99.toFixed(0).padStart(12)} ${x.tpot.mean.toFixed(2).padStart(13)} ${(x.hitRate * 100).toFixed(1).padStart(8)}%`;
}

export function formatOffline(r: OfflineReport): string {
  const d = r.cache.disk;
  const byTier = r.hit_rate_ram !== undefined && r.hit_rate_disk !== undefined ? ` (ram ${pct(r.hit_rate_ram)}, disk ${pct(r.hit_rate_disk)})` : "";
  return [
    RUN_HEADER,
    runRow("cache", r.cache),
    runRow("no cache", r.nocache),
    ``,
    `throughput ratio ${r.throughput_ratio.toFixed(2)}x, mean TTFT ratio ${r.ttft_ratio.toFixed(2)}x, ` +
      `hit rate ${pct(r.hit_rate)}${byTier} of an ideal ${pct(r.ideal_hit_rate)} (${pct(r.hit_rate / (r.ideal_hit_rate || 1))})`,
    ...(d ? [`disk tier: ${d.writtenTokens} tokens written, ${d.loadedTokens} loaded in ${d.loads} loads` +
      `${d.loadMsMean !== null ? ` (mean ${d.loadMsMean.toFixed(1)} ms)` : ""}${d.failedLoads > 0 ? `, ${d.failedLoads} failed` : ""}`] : []),
    `if every computed token cost the same (as on a CPU): throughput ratio at most ${r.ideal_throughput_ratio.toFixed(2)}x` +
      (r.ideal_ttft_ratio === null ? "" : `, mean TTFT ratio about ${r.ideal_ttft_ratio.toFixed(2)}x (best orders, prefill only)`),
    ...(r.cache.expectedReplies ? [expectedLine([["cache", r.cache], ["no cache", r.nocache]])] : []),
    formatBound(r.bound, r.cache.seconds),
  ].join("\n");
}

/** How many chat replies were the expected text, per run (the edit workload's check that the model does the task). */
export function expectedLine(runs: readonly (readonly [string, OfflineRun])[]): string {
  return `replies equal to the expected text: ${runs.map(([name, x]) => `${x.expectedReplies?.matched ?? 0} of ${x.expectedReplies?.of ?? 0} (${name})`).join(", ")}`;
}
