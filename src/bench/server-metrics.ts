// The server's own count of cached prompt tokens, from its Prometheus /metrics before and
// after a run. Known counter pairs: radixlm's and SGLang's cached/prompt token totals, vLLM's
// prefix cache hits/queries. Other traffic on the server in the meantime counts too. A radixlm
// server with a disk tier splits its cached tokens by tier="ram"/"disk" and counts its disk
// loads and their time, which give the hits by tier and the mean load latency. A radixlm
// server counts its speculative decoding's draft tokens, accepted tokens and verifications.

/**
 * Sums of each metric's samples over all label sets, by name; and for samples with a `tier`
 * label, also per tier, under the selector `name{tier="disk"}`.
 */
export type MetricTotals = ReadonlyMap<string, number>;

export function parsePrometheus(text: string): MetricTotals {
  const out = new Map<string, number>();
  const add = (k: string, v: number): void => void out.set(k, (out.get(k) ?? 0) + v);
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    add(m[1]!, v);
    const tier = m[2] ? /(?:^\{|,)\s*tier="([^"]*)"/.exec(m[2]) : null;
    if (tier) add(tierKey(m[1]!, tier[1]!), v);
  }
  return out;
}

/** The MetricTotals key of one tier's part of a metric. */
export function tierKey(name: string, tier: string): string {
  return `${name}{tier="${tier}"}`;
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

/** The disk tier's load counters: loads begun and their summed seconds. */
const LOADS = "radixlm:disk_cache_loads_total";
const LOAD_SECONDS = "radixlm:disk_cache_load_seconds_total";

export interface CacheDelta {
  readonly hits: number;
  readonly total: number;
  readonly source: string;
  /** The hits by tier, where the server labels them and has a disk tier (a tier="disk" part); else null. */
  readonly tiers: { readonly ram: number; readonly disk: number } | null;
  /** Loads from the disk tier and their summed time, where the server counts them; else null. */
  readonly diskLoads: { readonly loads: number; readonly seconds: number } | null;
}

/** Cached and total prompt tokens between two scrapes, from the first pair both carry. */
export function cacheDelta(before: MetricTotals, after: MetricTotals): CacheDelta | null {
  for (const p of PAIRS) {
    const h0 = before.get(p.hits), h1 = after.get(p.hits), t0 = before.get(p.total), t1 = after.get(p.total);
    if (h0 === undefined || h1 === undefined || t0 === undefined || t1 === undefined) continue;
    if (t1 - t0 <= 0) continue;
    return { hits: h1 - h0, total: t1 - t0, source: p.hits, tiers: tierDelta(p.hits, before, after), diskLoads: loadDelta(before, after) };
  }
  return null;
}

/** What `name` grew by; null when the later scrape lacks it. One the earlier lacks had counted nothing yet (a labelled counter shows a label once it is used). */
function grew(name: string, before: MetricTotals, after: MetricTotals): number | null {
  const a = after.get(name);
  return a === undefined ? null : a - (before.get(name) ?? 0);
}

function tierDelta(hits: string, before: MetricTotals, after: MetricTotals): CacheDelta["tiers"] {
  const disk = grew(tierKey(hits, "disk"), before, after);
  if (disk === null) return null;
  return { ram: grew(tierKey(hits, "ram"), before, after) ?? 0, disk };
}

function loadDelta(before: MetricTotals, after: MetricTotals): CacheDelta["diskLoads"] {
  const loads = grew(LOADS, before, after);
  const seconds = grew(LOAD_SECONDS, before, after);
  return loads === null || seconds === null ? null : { loads, seconds };
}

/** Speculative decoding over the run: the server's draft tokens, those accepted, and verifications. */
export interface SpecDelta {
  readonly drafted: number;
  readonly accepted: number;
  readonly verifies: number;
}

/** What radixlm's speculative counters grew by; null where the server has none. */
export function specDelta(before: MetricTotals, after: MetricTotals): SpecDelta | null {
  const drafted = grew("radixlm:spec_draft_tokens_total", before, after);
  const accepted = grew("radixlm:spec_accepted_tokens_total", before, after);
  const verifies = grew("radixlm:spec_verify_total", before, after);
  return drafted === null || accepted === null || verifies === null ? null : { drafted, accepted, verifies };
}
