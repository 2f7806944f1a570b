// bench serve's hits by tier: a radixlm server with a disk tier labels its cached tokens
// tier="ram"/"disk" and counts its disk loads; the report splits the /metrics hit rate and
// gives the mean load time, and leaves both out for a server that does not say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchServe } from "../../src/bench/serve.js";
import { buildReport, formatReport, type ServeRunInfo } from "../../src/bench/serve-report.js";
import { cacheDelta, parsePrometheus, tierKey } from "../../src/bench/server-metrics.js";
import type { Workload } from "../../src/bench/workloads.js";
import { post, startTiered, until } from "../server/harness.js";

const INFO: ServeRunInfo = {
  label: "t", base_url: "http://x", api: "native", model: null, workload: "random", workload_options: {},
  prompt_format: "ids", request_rate: "inf", max_concurrency: 1, tokenizer: null, started_at: "2026-01-01T00:00:00Z",
};
const record = { ok: true, error: null, ttftMs: 1, e2eMs: 2, itlMs: [], promptTokens: 100, outputTokens: 2, cachedTokens: null };

const scrape = (ram: number, disk: number | null, prompt: number, loads: number | null, loadSeconds: number): string => [
  "# HELP radixlm:cached_tokens_total x",
  "# TYPE radixlm:cached_tokens_total counter",
  `radixlm:cached_tokens_total{tier="ram",model_name="m"} ${ram}`,
  ...(disk === null ? [] : [`radixlm:cached_tokens_total{tier="disk",model_name="m"} ${disk}`]),
  `radixlm:prompt_tokens_total{model_name="m"} ${prompt}`,
  ...(loads === null ? [] : [`radixlm:disk_cache_loads_total{model_name="m"} ${loads}`, `radixlm:disk_cache_load_seconds_total{model_name="m"} ${loadSeconds}`]),
  "",
].join("\n");

test("parsePrometheus sums a metric over its labels and keeps each tier apart", () => {
  const m = parsePrometheus(scrape(30, 12, 100, 3, 0.5) + 'other{model_name="m",tier="disk"} 4\n');
  assert.equal(m.get("radixlm:cached_tokens_total"), 42);
  assert.equal(m.get(tierKey("radixlm:cached_tokens_total", "ram")), 30);
  assert.equal(m.get(tierKey("radixlm:cached_tokens_total", "disk")), 12);
  assert.equal(m.get(tierKey("other", "disk")), 4, "a tier label anywhere among the labels");
  assert.equal(m.get("radixlm:prompt_tokens_total"), 100);
});

test("the report splits the /metrics hit rate by tier and gives the mean disk load time", () => {
  // Before: a disk tier that has not served anything yet (no "disk" series until it does).
  const d = cacheDelta(parsePrometheus(scrape(10, null, 100, 0, 0)), parsePrometheus(scrape(40, 20, 200, 4, 0.02)))!;
  assert.deepEqual(d.tiers, { ram: 30, disk: 20 });
  assert.deepEqual(d.diskLoads, { loads: 4, seconds: 0.02 });
  const r = buildReport({ info: INFO, records: [record], total: 1, durationS: 1, metrics: d, idealHitRate: 0.6 });
  assert.equal(r.cache_hit_rates.metrics, 0.5);
  assert.equal(r.hit_rate_ram, 0.3);
  assert.equal(r.hit_rate_disk, 0.2);
  assert.equal(r.disk_loads, 4);
  assert.ok(Math.abs(r.disk_load_ms_mean! - 5) < 1e-9);
  const table = formatReport(r);
  assert.match(table, /cache hit rate\s+50\.0% \(usage n\/a, \/metrics 50\.0%: ram 30\.0%, disk 20\.0%; ideal 60\.0%\)/);
  assert.match(table, /disk tier loads\s+4, mean 5\.0 ms/);
});

test("without a disk tier (or tier labels) the split and the load time are absent", () => {
  const plain = "radixlm:cached_tokens_total 10\nradixlm:prompt_tokens_total 100\n";
  const noDisk = cacheDelta(parsePrometheus(scrape(10, null, 100, null, 0)), parsePrometheus(scrape(50, null, 200, null, 0)))!;
  const unlabelled = cacheDelta(parsePrometheus(plain), parsePrometheus(plain.replace("10\n", "60\n").replace("100", "200")))!;
  for (const d of [noDisk, unlabelled]) {
    assert.equal(d.tiers, null);
    assert.equal(d.diskLoads, null);
    const r = buildReport({ info: INFO, records: [record], total: 1, durationS: 1, metrics: d, idealHitRate: 0.6 });
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    for (const k of ["hit_rate_ram", "hit_rate_disk", "disk_loads", "disk_load_ms_mean"]) assert.ok(!(k in json), k);
    assert.doesNotMatch(formatReport(r), /ram|disk/);
  }
});

test("bench serve against a server with a disk tier reports disk hits and the load time", async () => {
  const srv = await startTiered({ maxTotalTokens: 96 });
  try {
    const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
    // Three prefixes, each stored before the next comes: the 96-token pool keeps only the last ones.
    for (const k of [0, 1, 2]) {
      const before = srv.engine.diskStats()!.writtenTokens;
      await post(`${srv.url}/generate`, { input_ids: [...prefix(k), 1], sampling_params: { max_new_tokens: 2, temperature: 0, ignore_eos: true } });
      await until(() => srv.engine.diskStats()!.writtenTokens > before, 2000);
    }
    // The run asks for the first again, evicted by now: it comes back from disk.
    const workload: Workload = { name: "random", chains: [[{ tokens: [...prefix(0), 2], outputLen: 2 }]] };
    const r = await benchServe({
      client: { root: srv.url, api: "native", model: null, apiKey: null, extraBody: {} },
      workload, promptFormat: "ids", tokenizer: null, text: null,
      requestRate: Infinity, maxConcurrency: 1, seed: 1, timeoutMs: 30_000, maxDurationMs: 60_000,
      info: { label: "t", base_url: srv.url, api: "native", model: null, workload: "random", workload_options: {}, request_rate: "inf", max_concurrency: 1, tokenizer: null },
      progress: { isTTY: false, write: () => true },
    });
    assert.equal(r.requests.completed, 1, r.errors.join("; "));
    assert.equal(r.cache_hit_rates.metrics_source, "radixlm:cached_tokens_total");
    assert.ok(r.hit_rate_disk! > 0.5, `disk ${r.hit_rate_disk}, ram ${r.hit_rate_ram}`);
    assert.ok(Math.abs(r.hit_rate_ram! + r.hit_rate_disk! - r.cache_hit_rates.metrics!) < 1e-9);
    assert.ok(r.disk_loads! >= 1);
    assert.ok(r.disk_load_ms_mean! > 0);
    assert.match(formatReport(r), /ram [\d.]+%, disk [\d.]+%/);
  } finally {
    await srv.close();
  }
});
