// The server's own count of cached prompt tokens, from its Prometheus /metrics before and
// after a run. Known counter pairs: radixlm's and SGLang's cached/prompt token totals, vLLM's
// prefix cache hits/queries. Other traffic on the server in the meantime counts too.

/** Sums of each metric's samples over all label sets. */
export type MetricTotals = ReadonlyMap<string, number>;

export function parsePrometheus(text: string): MetricTotals {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
  }
  return out;
}

/** GET /metrics; null when the server has none (or does not answer within a few seconds). */
export async function scrapeMetrics(root: string, apiKey: string | null): Promise<MetricTotals | null> {
  try {
    const headers: Record<string, string> = apiKey !== null ? { authorization: `Bearer ${apiKey}` } : {};
    const r = await fetch(`${root}/metrics`, { headers, signal: AbortSignal.timeout(5000) });
    if (!r.ok) return null;
    return parsePrometheus(await r.text());
  } catch {
    return null;
  }
}

const PAIRS: readonly { hits: string; total: string }[] = [
  { hits: "radixlm:cached_tokens_total", total: "radixlm:prompt_tokens_total" },
  { hits: "sglang:cached_tokens_total", total: "sglang:prompt_tokens_total" },
  { hits: "vllm:prefix_cache_hits_total", total: "vllm:prefix_cache_queries_total" },
  { hits: "vllm:gpu_prefix_cache_hits_total", total: "vllm:gpu_prefix_cache_queries_total" },
];

export interface CacheDelta {
  readonly hits: number;
  readonly total: number;
  readonly source: string;
}

/** Cached and total prompt tokens between two scrapes, from the first pair both carry. */
export function cacheDelta(before: MetricTotals, after: MetricTotals): CacheDelta | null {
  for (const p of PAIRS) {
    const h0 = before.get(p.hits), h1 = after.get(p.hits), t0 = before.get(p.total), t1 = after.get(p.total);
    if (h0 === undefined || h1 === undefined || t0 === undefined || t1 === undefined) continue;
    if (t1 - t0 <= 0) continue;
    return { hits: h1 - h0, total: t1 - t0, source: p.hits };
  }
  return null;
}
