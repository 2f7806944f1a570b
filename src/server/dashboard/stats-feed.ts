// The numbers the dashboard charts: once a second the engine's totals are read (stats(), a
// few counters) and turned into a sample of rates, hit rate, requests, KV pool use and recent
// latency percentiles. The last ten minutes are kept, so that a page opened late starts with
// history; listeners hear each new sample. Reading stats() costs the engine nothing it waits on.
import type { EngineStats } from "../../engine/engine.js";
import { LatencyWindow, type Percentiles } from "./latency.js";

export interface StatsSample {
  /** Milliseconds since the epoch. */
  readonly t: number;
  /** Tokens per second over the last interval: prompt tokens submitted, those served from the cache, tokens generated. */
  readonly prompt_tps: number;
  readonly cached_tps: number;
  readonly generated_tps: number;
  /** Share of the prompt tokens admitted in the last interval that the cache served (null: none admitted). */
  readonly hit_rate: number | null;
  /** The same since the start (or the last flush). */
  readonly hit_rate_total: number;
  readonly running: number;
  readonly queued: number;
  /** The KV pool in tokens: free, cached and evictable, cached and locked, held by running requests beyond that. */
  readonly kv: { readonly capacity: number; readonly free: number; readonly evictable: number; readonly protected: number; readonly owned: number };
  readonly cache_namespaces: number;
  readonly evicted_tokens: number;
  /** Milliseconds, over the last minute; null when none was observed. */
  readonly ttft: Percentiles | null;
  readonly itl: Percentiles | null;
}

const HISTORY = 600;

export class StatsFeed {
  private readonly samples: StatsSample[] = [];
  private readonly listeners = new Set<(s: StatsSample) => void>();
  private readonly ttft = new LatencyWindow();
  private readonly itl = new LatencyWindow();
  private last: { t: number; s: EngineStats } | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly stats: () => EngineStats | null, private readonly everyMs = 1000) {}

  /** Starts sampling (idempotent); the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  observe(kind: "ttft" | "itl", ms: number): void {
    (kind === "ttft" ? this.ttft : this.itl).add(ms);
  }

  history(): readonly StatsSample[] {
    return this.samples;
  }

  /** Hears every new sample; returns the call that stops it. */
  listen(fn: (s: StatsSample) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Takes one sample now (the timer's tick). */
  sample(): StatsSample | null {
    const s = this.stats();
    if (!s) return null;
    const now = performance.now();
    const prev = this.last;
    this.last = { t: now, s };
    const dt = prev ? (now - prev.t) / 1000 : 0;
    const rate = (f: (x: EngineStats) => number): number => (prev && dt > 0 ? Math.max(0, f(s) - f(prev.s)) / dt : 0);
    const queried = prev ? s.queriedTokens - prev.s.queriedTokens : 0;
    const hits = prev ? s.hitTokens - prev.s.hitTokens : 0;
    const sample: StatsSample = {
      t: Date.now(),
      prompt_tps: rate((x) => x.promptTokensTotal),
      cached_tps: rate((x) => x.hitTokens),
      generated_tps: rate((x) => x.generatedTokensTotal),
      hit_rate: queried > 0 && hits >= 0 ? hits / queried : null,
      hit_rate_total: s.cacheHitRate,
      running: s.running,
      queued: s.queued,
      kv: {
        capacity: s.kvCapacity, free: s.kvFree, evictable: s.evictableTokens, protected: s.protectedTokens,
        owned: Math.max(0, s.kvCapacity - s.kvFree - s.evictableTokens - s.protectedTokens),
      },
      cache_namespaces: s.cacheNamespaces,
      evicted_tokens: s.evictedTokens,
      ttft: this.ttft.percentiles(now),
      itl: this.itl.percentiles(now),
    };
    this.samples.push(sample);
    if (this.samples.length > HISTORY) this.samples.shift();
    for (const fn of this.listeners) fn(sample);
    return sample;
  }
}
