// Prometheus metrics (prom-client), named as SGLang names them with a `radixlm:` prefix, and
// the periodic status line. Totals and gauges are read from engine.stats() when scraped;
// latencies are observed per request by the HTTP layer. The gateway gauges under vLLM's and
// SGLang's own names are in gateway-metrics.ts, the disk tier's in disk-metrics.ts.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine, EngineStats } from "../engine/engine.js";
import type { FinishReason } from "../engine/stream.js";
import { registerDiskMetrics } from "./disk-metrics.js";
import { mirrorOf } from "./prom-mirror.js";
import { DEFAULT_METRIC_NAME_SETS, registerSglangGauges, registerVllmGauges, type MetricNameSet } from "./gateway-metrics.js";

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 20, 30, 60];
const ITL_BUCKETS = [0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2];
const E2E_BUCKETS = [0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 120, 300, 600];

/** Generated tokens per second over the last few seconds, from periodic samples of the total. */
class ThroughputWindow {
  private readonly samples: { t: number; total: number }[] = [];
  constructor(private readonly windowMs: number) {}

  add(t: number, total: number): void {
    this.samples.push({ t, total });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
  }

  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    return b.t > a.t ? ((b.total - a.total) * 1000) / (b.t - a.t) : 0;
  }
}

export class Metrics {
  readonly registry = new Registry();
  private engine: Engine | null = null;
  private readonly window = new ThroughputWindow(5000);
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly requests: Counter<"finish_reason">;
  private readonly registers: Registry[];
  private diskRegistered = false;
  /** Hears each latency observed, in ms (the dashboard's percentiles); none by default. */
  onLatency: ((kind: "ttft" | "itl", ms: number) => void) | null = null;

  /** `names`: the name families to serve (default radixlm and vLLM's); without "radixlm", the radixlm:* ones are kept but not served. */
  constructor(modelName: string, names: readonly MetricNameSet[] = DEFAULT_METRIC_NAME_SETS) {
    this.registry.setDefaultLabels({ model_name: modelName });
    // The process's and Node.js runtime's own (CPU, memory, event-loop lag, GC), as prom-client gives them.
    collectDefaultMetrics({ register: this.registry });
    const registers = names.includes("radixlm") ? [this.registry] : [];
    this.registers = registers;
    const stats = (): EngineStats | null => this.engine?.stats() ?? null;
    if (names.includes("vllm")) registerVllmGauges(this.registry, stats);
    if (names.includes("sglang")) registerSglangGauges(this.registry, stats);
    // Counters and gauges that mirror an engine total (prom-mirror.ts).
    const { total, gauge } = mirrorOf(registers, stats);
    total("radixlm:prompt_tokens_total", "Prompt tokens submitted.", (s) => s.promptTokensTotal);
    total("radixlm:generation_tokens_total", "Tokens generated.", (s) => s.generatedTokensTotal);
    cachedTokensByTier(registers, stats, () => this.engine?.diskStats() != null);
    total("radixlm:spec_draft_tokens_total", "Speculative decoding: draft tokens verified.", (s) => s.specDraftTokens);
    total("radixlm:spec_accepted_tokens_total", "Speculative decoding: draft tokens the model agreed with (tokens it did not need a step of their own for).", (s) => s.specAcceptedTokens);
    total("radixlm:spec_verify_total", "Speculative decoding: drafts verified (one per request and step).", (s) => s.specVerifySteps);
    gauge("radixlm:spec_accept_rate", "Speculative decoding: share of the draft tokens verified that were accepted, since the start.", (s) => (s.specDraftTokens > 0 ? s.specAcceptedTokens / s.specDraftTokens : 0));
    gauge("radixlm:spec_accept_length", "Speculative decoding: mean tokens a verification appended (accepted drafts plus the one sampled after them), since the start.", (s) => (s.specVerifySteps > 0 ? 1 + s.specAcceptedTokens / s.specVerifySteps : 0));
    gauge("radixlm:cache_hit_rate", "Share of prompt tokens served from the radix cache since the start.", (s) => s.cacheHitRate);
    gauge("radixlm:num_running_reqs", "Requests in the running batch.", (s) => s.running);
    gauge("radixlm:num_queue_reqs", "Requests waiting to be admitted.", (s) => s.queued);
    gauge("radixlm:token_usage", "Share of the KV pool held by running requests and locked cache entries.", (s) => s.kvUsage);
    gauge("radixlm:num_used_tokens", "KV slots held by running requests and locked cache entries.", (s) => Math.round(s.kvUsage * s.kvCapacity));
    gauge("radixlm:max_total_num_tokens", "KV pool capacity in tokens.", (s) => s.kvCapacity);
    gauge("radixlm:radix_cache_tokens", "Tokens held in the radix cache (reusable prefixes).", (s) => s.cachedTokens);
    gauge("radixlm:cache_namespaces", "Radix cache namespaces (distinct cache_salt values) holding entries.", (s) => s.cacheNamespaces);
    const window = this.window;
    new Gauge({ name: "radixlm:gen_throughput", help: "Generated tokens per second over the last 5 seconds.", registers, collect() { this.set(window.rate()); } });
    this.ttft = new Histogram({ name: "radixlm:time_to_first_token_seconds", help: "Time to first token.", buckets: TTFT_BUCKETS, registers });
    this.itl = new Histogram({ name: "radixlm:inter_token_latency_seconds", help: "Time between consecutive tokens of a sample.", buckets: ITL_BUCKETS, registers });
    this.e2e = new Histogram({ name: "radixlm:e2e_request_latency_seconds", help: "Request latency from arrival to the last token.", buckets: E2E_BUCKETS, registers });
    this.requests = new Counter({ name: "radixlm:num_requests_total", help: "Finished generation requests.", labelNames: ["finish_reason"], registers });
  }

  attach(engine: Engine): void {
    this.engine = engine;
    if (engine.diskStats() !== null && !this.diskRegistered) {
      this.diskRegistered = true;
      registerDiskMetrics(this.registers, () => this.engine?.diskStats() ?? null);
    }
  }

  /** Records the engine's generated-token total (called every second). */
  sample(now = performance.now()): void {
    if (this.engine) this.window.add(now, this.engine.stats().generatedTokensTotal);
  }

  genThroughput(): number {
    return this.window.rate();
  }

  observeTtft(ms: number): void {
    this.ttft.observe(ms / 1000);
    this.onLatency?.("ttft", ms);
  }

  observeItl(ms: number): void {
    this.itl.observe(ms / 1000);
    this.onLatency?.("itl", ms);
  }

  /** One finished request (all of its samples) and its worst finish reason. */
  observeRequest(ms: number, reason: FinishReason): void {
    this.e2e.observe(ms / 1000);
    this.requests.inc({ finish_reason: reason });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * radixlm:cached_tokens_total by tier: "disk" for the hits a disk-tier load brought back for
 * the request that used them (only with a disk tier), "ram" for the rest, so that the sum
 * over the label is every prompt token served from the cache, as the counter was before it
 * had the label (bench serve sums it). Both mirror engine totals, which a flush resets.
 */
function cachedTokensByTier(registers: Registry[], stats: () => EngineStats | null, hasDisk: () => boolean): void {
  let ram = 0;
  let disk = 0;
  new Counter({
    name: "radixlm:cached_tokens_total", help: "Prompt tokens served from the radix cache, by where they were: in the KV pool (ram) or loaded back from the disk tier (disk).",
    labelNames: ["tier"], registers,
    collect() {
      const s = stats();
      if (!s) return;
      const r = s.hitTokens - s.diskHitTokens;
      this.inc({ tier: "ram" }, Math.max(0, r - ram));
      ram = r;
      if (hasDisk()) {
        this.inc({ tier: "disk" }, Math.max(0, s.diskHitTokens - disk));
        disk = s.diskHitTokens;
      }
    },
  });
}

/** The periodic line, SGLang style; null when there is nothing to report. Once a disk tier served hits, their share follows the hit rate. */
export function statusLine(s: EngineStats, genThroughput: number, now = new Date()): string | null {
  if (s.running === 0 && s.queued === 0 && genThroughput === 0) return null;
  const stamp = now.toISOString().replace("T", " ").slice(0, 19);
  const fromDisk = s.diskHitTokens > 0 ? ` (disk ${((s.diskHitTokens / s.queriedTokens) * 100).toFixed(2)}%)` : "";
  return `[${stamp}] #running-req: ${s.running}, #queue-req: ${s.queued}, ` +
    `#token: ${Math.round(s.kvUsage * s.kvCapacity)}, token usage: ${s.kvUsage.toFixed(2)}, ` +
    `cache hit rate: ${(s.cacheHitRate * 100).toFixed(2)}%${fromDisk}, gen throughput (token/s): ${genThroughput.toFixed(2)}`;
}
