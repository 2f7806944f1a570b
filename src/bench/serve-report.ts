// The result of one `bench serve` run: per-request records summed up into the figures the
// JSON carries (and `bench compare` reads back), and the table printed at the end.
import { summarize, type Summary } from "./stats.js";
import { attendedPositions } from "./bound.js";
import type { CacheDelta, SpecDelta } from "./server-metrics.js";
import type { RequestSpeculation } from "./serve-client.js";

/** What one request gave, as the run loop records it. */
export interface RequestRecord {
  readonly ok: boolean;
  readonly error: string | null;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly itlMs: readonly number[];
  readonly promptTokens: number;
  readonly outputTokens: number;
  /** Prompt tokens the server says it reused; null when it does not say. */
  readonly cachedTokens: number | null;
  /** Its speculative decoding, where the response says (absent or null: it does not). */
  readonly speculative?: RequestSpeculation | null;
  /** A chat step's reply was the text it asked for (absent for other steps). */
  readonly matchedExpected?: boolean;
}

/** The server's speculative decoding over the run. */
export interface ServeSpeculation {
  /** "metrics": its /metrics counters before and after (every request it served meanwhile); "usage": summed over the responses. */
  readonly source: "metrics" | "usage";
  readonly draft_tokens: number;
  readonly accepted_tokens: number;
  /** Null where the server does not count them (OpenAI usage has no such field). */
  readonly verify_steps: number | null;
  /** Accepted over drafted; 0 without a draft. */
  readonly accept_rate: number;
  /** Tokens a verification appended on average (1 + accepted / verifications); null without verifications counted. */
  readonly accept_length: number | null;
}

export interface CacheHitRates {
  /** From usage.prompt_tokens_details.cached_tokens (or native meta_info, llama.cpp timings). */
  readonly usage: number | null;
  /** From the server's /metrics counters, before and after the run. */
  readonly metrics: number | null;
  readonly metrics_source: string | null;
}

export interface ServeRunInfo {
  readonly label: string;
  readonly base_url: string;
  readonly api: string;
  readonly model: string | null;
  readonly workload: string;
  readonly workload_options: Readonly<Record<string, number>>;
  readonly prompt_format: string;
  readonly request_rate: number | "inf";
  readonly max_concurrency: number | null;
  readonly tokenizer: string | null;
  readonly started_at: string;
  /** The serving engine, as its /v1/models says (owned_by: radixlm, llama.cpp, vLLM, SGLang); absent in older results. */
  readonly server_engine?: string | null;
}

export interface ServeReport extends ServeRunInfo {
  readonly kind: "radixlm-bench-serve";
  readonly version: 1;
  readonly duration_s: number;
  readonly requests: { readonly total: number; readonly completed: number; readonly failed: number; readonly not_sent: number };
  readonly errors: readonly string[];
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cached_tokens: number | null;
  /** Positions the computed prompt tokens attended to (bound.ts); null when the server does not say what it cached. */
  readonly attended_positions: number | null;
  readonly request_throughput: number;
  readonly input_throughput: number;
  readonly output_throughput: number;
  readonly total_token_throughput: number;
  readonly ttft_ms: Summary;
  readonly itl_ms: Summary;
  readonly tpot_ms: Summary;
  readonly e2e_ms: Summary;
  /** The server's figure: usage where reported, else /metrics; null when it reports neither. */
  readonly cache_hit_rate: number | null;
  readonly cache_hit_rates: CacheHitRates;
  /**
   * The /metrics hit rate split by where the hits were: in the server's KV pool, or loaded
   * back from its disk tier (they sum to cache_hit_rates.metrics). Absent when the server
   * does not say (no tier label, or no disk tier).
   */
  readonly hit_rate_ram?: number;
  readonly hit_rate_disk?: number;
  /** Mean wall time of the server's loads from its disk tier during the run; absent when it made none or does not count them. */
  readonly disk_load_ms_mean?: number;
  /** Loads from the disk tier during the run, where the server counts them. */
  readonly disk_loads?: number;
  /** What an unbounded prefix cache would reach on these prompts, in arrival order. */
  readonly ideal_hit_rate: number;
  /** Absent where the server reports no speculative decoding. */
  readonly speculative?: ServeSpeculation;
  /** Chat steps (the edit workload) whose reply was the expected text; absent for other workloads. */
  readonly expected_replies?: { readonly matched: number; readonly of: number };
  /** Raw latencies (completed requests) for CDFs. */
  readonly samples: { readonly ttft_ms: readonly number[]; readonly itl_ms: readonly number[]; readonly tpot_ms: readonly number[]; readonly e2e_ms: readonly number[] };
}

export const SUMMARY_METRICS = ["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"] as const;

/** The most ITL samples kept in the JSON (the summary uses them all). */
const MAX_ITL_SAMPLES = 100_000;

export interface ReportInputs {
  readonly info: ServeRunInfo;
  readonly records: readonly RequestRecord[];
  readonly total: number;
  readonly durationS: number;
  readonly metrics: CacheDelta | null;
  /** The server's speculative counters over the run, where it has them. */
  readonly spec?: SpecDelta | null;
  readonly idealHitRate: number;
}

/** From the /metrics counters where the server has them, else summed over the responses that said. */
function speculation(spec: SpecDelta | null, done: readonly RequestRecord[]): ServeSpeculation | null {
  const said = done.map((r) => r.speculative).filter((x): x is RequestSpeculation => x != null);
  const counts = spec ?? (said.length > 0 ? {
    drafted: said.reduce((a, x) => a + x.drafted, 0),
    accepted: said.reduce((a, x) => a + x.accepted, 0),
    verifies: said.every((x) => x.verifies !== null) ? said.reduce((a, x) => a + x.verifies!, 0) : null,
  } : null);
  if (counts === null) return null;
  return {
    source: spec ? "metrics" : "usage",
    draft_tokens: counts.drafted,
    accepted_tokens: counts.accepted,
    verify_steps: counts.verifies,
    accept_rate: counts.drafted > 0 ? counts.accepted / counts.drafted : 0,
    accept_length: counts.verifies !== null && counts.verifies > 0 ? 1 + counts.accepted / counts.verifies : null,
  };
}

export function buildReport(x: ReportInputs): ServeReport {
  const done = x.records.filter((r) => r.ok);
  const failed = x.records.length - done.length;
  const errors = [...new Set(x.records.filter((r) => !r.ok).map((r) => r.error ?? "error"))].slice(0, 10);
  const sum = (f: (r: RequestRecord) => number): number => done.reduce((a, r) => a + f(r), 0);
  const input = sum((r) => r.promptTokens);
  const output = sum((r) => r.outputTokens);
  const withCache = done.filter((r) => r.cachedTokens !== null);
  const cached = withCache.length ? withCache.reduce((a, r) => a + r.cachedTokens!, 0) : null;
  const cachedOf = withCache.reduce((a, r) => a + r.promptTokens, 0);
  const usageRate = cached !== null && cachedOf > 0 ? cached / cachedOf : null;
  const m = x.metrics;
  const metricsRate = m && m.total > 0 ? m.hits / m.total : null;
  const tiers = m?.tiers && m.total > 0 ? { hit_rate_ram: m.tiers.ram / m.total, hit_rate_disk: m.tiers.disk / m.total } : null;
  const loads = m?.diskLoads ?? null;
  const ttft = done.map((r) => r.ttftMs);
  const e2e = done.map((r) => r.e2eMs);
  const itl = done.flatMap((r) => r.itlMs);
  const tpot = done.filter((r) => r.outputTokens > 1).map((r) => (r.e2eMs - r.ttftMs) / (r.outputTokens - 1));
  const secs = x.durationS > 0 ? x.durationS : 1e-9;
  const spec = speculation(x.spec ?? null, done);
  const chats = done.filter((r) => r.matchedExpected !== undefined);
  return {
    kind: "radixlm-bench-serve",
    version: 1,
    ...x.info,
    duration_s: x.durationS,
    requests: { total: x.total, completed: done.length, failed, not_sent: x.total - x.records.length },
    errors,
    input_tokens: input,
    output_tokens: output,
    cached_tokens: cached,
    attended_positions: withCache.length === done.length ? done.reduce((a, r) => a + attendedPositions(r.promptTokens, r.cachedTokens!), 0) : null,
    request_throughput: done.length / secs,
    input_throughput: input / secs,
    output_throughput: output / secs,
    total_token_throughput: (input + output) / secs,
    ttft_ms: summarize(ttft),
    itl_ms: summarize(itl),
    tpot_ms: summarize(tpot),
    e2e_ms: summarize(e2e),
    cache_hit_rate: usageRate ?? metricsRate,
    cache_hit_rates: { usage: usageRate, metrics: metricsRate, metrics_source: m?.source ?? null },
    ...tiers,
    ...(loads ? { disk_loads: loads.loads } : {}),
    ...(loads && loads.loads > 0 ? { disk_load_ms_mean: (loads.seconds * 1000) / loads.loads } : {}),
    ideal_hit_rate: x.idealHitRate,
    ...(spec ? { speculative: spec } : {}),
    ...(chats.length > 0 ? { expected_replies: { matched: chats.filter((r) => r.matchedExpected).length, of: chats.length } } : {}),
    samples: { ttft_ms: ttft, itl_ms: itl.slice(0, MAX_ITL_SAMPLES), tpot_ms: tpot, e2e_ms: e2e },
  };
}

const pct = (x: number | null): string => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`);

/** The table printed at the end of a run. */
/**
 * A hit rate above what this workload can reach from an empty cache (by more than a point):
 * the server was warm, so the figures are not the workload's.
 */
export function hitAboveIdeal(r: ServeReport): boolean {
  return r.cache_hit_rate !== null && r.cache_hit_rate > r.ideal_hit_rate + 0.01;
}

export function formatReport(r: ServeReport): string {
  const rows: [string, string][] = [
    ["label", r.label],
    ["server", `${r.base_url} (${r.api}${r.model ? `, model ${r.model}` : ""})`],
    ["workload", `${r.workload}, ${r.prompt_format} prompts, rate ${r.request_rate}, concurrency ${r.max_concurrency ?? "unbounded"}`],
    ["requests", `${r.requests.completed} completed, ${r.requests.failed} failed, ${r.requests.not_sent} not sent (of ${r.requests.total})`],
    ["duration", `${r.duration_s.toFixed(2)} s`],
    ["input / output tokens", `${r.input_tokens} / ${r.output_tokens}`],
    ["request throughput", `${r.request_throughput.toFixed(2)} req/s`],
    ["input token throughput", `${r.input_throughput.toFixed(1)} tok/s`],
    ["output token throughput", `${r.output_throughput.toFixed(1)} tok/s`],
    ["total token throughput", `${r.total_token_throughput.toFixed(1)} tok/s`],
  ];
  const names: Record<(typeof SUMMARY_METRICS)[number], string> = { ttft_ms: "TTFT", itl_ms: "ITL", tpot_ms: "TPOT", e2e_ms: "E2E latency" };
  for (const m of SUMMARY_METRICS) {
    const s = r[m];
    rows.push([`${names[m]} ms (mean/p50/p90/p99)`, [s.mean, s.p50, s.p90, s.p99].map((v) => v.toFixed(1)).join(" / ")]);
  }
  const byTier = r.hit_rate_ram !== undefined && r.hit_rate_disk !== undefined ? `: ram ${pct(r.hit_rate_ram)}, disk ${pct(r.hit_rate_disk)}` : "";
  rows.push(["cache hit rate", `${pct(r.cache_hit_rate)} (usage ${pct(r.cache_hit_rates.usage)}, /metrics ${pct(r.cache_hit_rates.metrics)}${byTier}; ideal ${pct(r.ideal_hit_rate)})`]);
  if (hitAboveIdeal(r)) {
    rows.push(["", `above the ideal: the server's cache held these prompts from earlier requests (--flush-cache starts from an empty one)`]);
  }
  if (r.disk_loads !== undefined) {
    rows.push(["disk tier loads", `${r.disk_loads}${r.disk_load_ms_mean !== undefined ? `, mean ${r.disk_load_ms_mean.toFixed(1)} ms` : ""}`]);
  }
  const sp = r.speculative;
  if (sp) {
    rows.push(["speculative decoding", `${sp.accepted_tokens} of ${sp.draft_tokens} draft tokens accepted (${pct(sp.accept_rate)})` +
      `${sp.accept_length !== null ? `, ${sp.accept_length.toFixed(2)} tokens per verification` : ""} (from ${sp.source === "metrics" ? "/metrics" : "usage"})`]);
  }
  if (r.expected_replies) rows.push(["replies as expected", `${r.expected_replies.matched} of ${r.expected_replies.of}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
  if (r.errors.length) lines.push(`errors: ${r.errors.join("; ")}`);
  return lines.join("\n");
}
