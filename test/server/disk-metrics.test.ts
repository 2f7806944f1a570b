// /metrics of a server whose engine has a disk tier: radixlm:cached_tokens_total split by
// tier (ram + disk = the hits), the disk tier's counters and gauges; and a server without one
// carries only the "ram" tier and no disk series.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statusLine } from "../../src/server/metrics.js";
import { post, start, startTiered, until } from "./harness.js";

/** The value of one sample: `name` with exactly `labels` among its labels (model_name aside). */
function sample(text: string, name: string, labels = ""): number | null {
  for (const line of text.split("\n")) {
    const m = /^([^{\s]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const own = (m[2] ?? "").split(",").filter((l) => l !== "" && !l.startsWith("model_name=")).join(",");
    if (own === labels) return Number(m[3]);
  }
  return null;
}

const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
const greedy = { max_new_tokens: 4, temperature: 0, ignore_eos: true };

test("/metrics with a disk tier: cached tokens by tier and the disk_cache counters", async () => {
  const srv = await startTiered({ maxTotalTokens: 96 });
  try {
    // Three 40-token prefixes, each asked twice, in an order that makes the 96-token pool evict them.
    for (const [i, k] of [0, 1, 2, 0, 1, 2].entries()) {
      const r = await post(`${srv.url}/generate`, { input_ids: [...prefix(k), 300 + i], sampling_params: greedy });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // The background writer stores what this request left before the next one evicts it.
      const before = srv.engine.diskStats()!.writtenTokens;
      await until(() => srv.engine.diskStats()!.writtenTokens > before, 2000);
    }
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const v = (name: string, labels = ""): number => {
      const x = sample(text, name, labels);
      assert.ok(x !== null, `${name}{${labels}} in\n${text}`);
      return x;
    };
    const st = srv.engine.stats();
    const ds = srv.engine.diskStats()!;
    assert.ok(ds.loadedTokens >= 40, JSON.stringify(ds));
    assert.ok(st.diskHitTokens >= 40, JSON.stringify(st));
    const ram = v("radixlm:cached_tokens_total", 'tier="ram"');
    const disk = v("radixlm:cached_tokens_total", 'tier="disk"');
    assert.equal(disk, st.diskHitTokens);
    assert.equal(ram + disk, st.hitTokens, "the tiers sum to every cached token");
    assert.equal(v("radixlm:disk_cache_loaded_tokens_total"), ds.loadedTokens);
    assert.equal(v("radixlm:disk_cache_loaded_bytes_total"), ds.loadedBytes);
    assert.ok(v("radixlm:disk_cache_loaded_bytes_total") > 0);
    assert.equal(v("radixlm:disk_cache_loads_total"), ds.loads);
    assert.ok(ds.loads >= 1);
    assert.equal(v("radixlm:disk_cache_load_failures_total"), 0);
    assert.ok(v("radixlm:disk_cache_load_seconds_total") > 0);
    assert.ok(v("radixlm:disk_cache_written_tokens_total") >= 120);
    assert.ok(v("radixlm:disk_cache_written_bytes_total") > 0);
    assert.equal(v("radixlm:disk_cache_max_bytes"), 64 << 20);
    assert.ok(v("radixlm:disk_cache_bytes") > 0);
    assert.ok(v("radixlm:disk_cache_items") >= 3);
    assert.ok(v("radixlm:disk_cache_tokens") >= 0);
    assert.equal(v("radixlm:disk_cache_pinned_tokens"), 0);
    // A second scrape adds nothing when nothing happened.
    const again = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(sample(again, "radixlm:cached_tokens_total", 'tier="disk"'), disk);
    assert.equal(sample(again, "radixlm:cached_tokens_total", 'tier="ram"'), ram);
    // The status line names the disk tier's share of the hits.
    const line = statusLine({ ...st, running: 1 }, 0, new Date(0));
    assert.match(line!, /cache hit rate: [\d.]+% \(disk [\d.]+%\), gen throughput/);
  } finally {
    await srv.close();
  }
});

test("/metrics without a disk tier: cached tokens all in tier ram, no disk_cache series", async () => {
  const srv = await start();
  try {
    const body = { input_ids: [...prefix(7), 1], sampling_params: greedy };
    await post(`${srv.url}/generate`, body);
    await post(`${srv.url}/generate`, body);
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(sample(text, "radixlm:cached_tokens_total", 'tier="ram"'), srv.engine.stats().hitTokens);
    assert.ok(srv.engine.stats().hitTokens > 0);
    assert.equal(sample(text, "radixlm:cached_tokens_total", 'tier="disk"'), null);
    assert.doesNotMatch(text, /radixlm:disk_cache_/);
    const line = statusLine({ ...srv.engine.stats(), running: 1 }, 0, new Date(0));
    assert.doesNotMatch(line!, /disk/);
  } finally {
    await srv.close();
  }
});
