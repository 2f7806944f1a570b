// The model-server protocol gauges (queue, running, KV utilization, cache config) under vLLM's
// and SGLang's names, through a real server: which names each --metrics-names serves, that the
// values follow the engine while requests run and queue, and that an endpoint picker reading
// /metrics as the inference extension's EPP does (its model-server-protocol extractor) gets them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { MODEL_NAME, post, spawnServe, start, until, type Running } from "./harness.js";
import { RadixServer } from "../../src/server/http.js";
import { parsePrometheusText, type Family } from "../helpers/prom-text.js";
import { NOMINAL_BLOCK_SIZE, parseMetricNameSets, type MetricNameSet } from "../../src/server/gateway-metrics.js";

const T = { timeout: 120_000 };

/** The EPP's metric specs: its flags' defaults for vLLM, and what its SGLang guide sets. */
interface EppSpecs { queued: string; running: string; kvUsage: string; lora: string; cacheInfo: string }
const VLLM_SPECS: EppSpecs = {
  queued: "vllm:num_requests_waiting", running: "vllm:num_requests_running", kvUsage: "vllm:kv_cache_usage_perc",
  lora: "vllm:lora_requests_info", cacheInfo: "vllm:cache_config_info",
};
const SGLANG_SPECS: EppSpecs = { queued: "sglang:num_queue_reqs", running: "sglang:num_running_reqs", kvUsage: "sglang:token_usage", lora: "", cacheInfo: "" };

interface EppView { queued: number; running: number; kvUsage: number; blockSize?: number; numGpuBlocks?: number; errors: string[] }

/**
 * What the EPP's extractor makes of a scrape: per spec, the family by name, the series with
 * the latest timestamp, its value if the family is a gauge or counter (0 otherwise); the cache
 * info's block_size and num_gpu_blocks labels as integers. A missing family is an error that
 * leaves the other readings standing, as there.
 */
function eppRead(families: Map<string, Family>, specs: EppSpecs): EppView {
  const errors: string[] = [];
  const latest = (name: string): { labels: Readonly<Record<string, string>>; value: number } | null => {
    if (!name) return null;
    const f = families.get(name);
    if (!f || f.samples.length === 0) {
      errors.push(`metric family "${name}" not found`);
      return null;
    }
    let best = f.samples[0]!;
    for (const s of f.samples) if ((s.timestampMs ?? 0) > (best.timestampMs ?? 0)) best = s;
    return { labels: best.labels, value: f.type === "gauge" || f.type === "counter" ? best.value : 0 };
  };
  const int = (v: string | undefined): number | undefined => {
    if (v === undefined || v === "") return undefined;
    if (!/^[-+]?\d+$/.test(v)) {
      errors.push(`strconv.Atoi: "${v}"`);
      return undefined;
    }
    return Number(v);
  };
  const cache = latest(specs.cacheInfo);
  latest(specs.lora);
  return {
    queued: Math.trunc(latest(specs.queued)?.value ?? NaN),
    running: Math.trunc(latest(specs.running)?.value ?? NaN),
    kvUsage: latest(specs.kvUsage)?.value ?? NaN,
    blockSize: int(cache?.labels.block_size),
    numGpuBlocks: int(cache?.labels.num_gpu_blocks),
    errors,
  };
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await fetch(`${url}/metrics`);
  assert.equal(r.status, 200);
  return parsePrometheusText(await r.text());
}

const names = (families: Map<string, Family>, prefix: string): string[] => [...families.keys()].filter((n) => n.startsWith(prefix)).sort();

const VLLM_NAMES = ["vllm:cache_config_info", "vllm:kv_cache_usage_perc", "vllm:num_requests_running", "vllm:num_requests_waiting"];
const SGLANG_NAMES = ["sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage"];

test("by default /metrics serves radixlm's names and vLLM's gateway gauges, typed and labelled as vLLM's", T, async () => {
  const s = await start();
  try {
    const f = await scrape(s.url);
    assert.deepEqual(names(f, "vllm:"), VLLM_NAMES);
    assert.deepEqual(names(f, "sglang:"), []);
    assert.ok(f.has("radixlm:num_queue_reqs") && f.has("radixlm:time_to_first_token_seconds"));
    for (const n of VLLM_NAMES) {
      const fam = f.get(n)!;
      assert.equal(fam.type, "gauge", n);
      assert.equal(fam.samples.length, 1, n);
      assert.equal(fam.samples[0]!.labels.model_name, "tiny-test", n);
      assert.equal(fam.samples[0]!.labels.engine, "0", n);
    }
    const info = f.get("vllm:cache_config_info")!.samples[0]!;
    assert.equal(info.value, 1);
    assert.equal(info.labels.block_size, String(NOMINAL_BLOCK_SIZE));
    assert.equal(info.labels.num_gpu_blocks, String(Math.floor(s.engine.kvCapacity / NOMINAL_BLOCK_SIZE)));
    const epp = eppRead(f, VLLM_SPECS);
    assert.deepEqual({ ...epp, errors: undefined }, {
      queued: 0, running: 0, kvUsage: 0, blockSize: NOMINAL_BLOCK_SIZE, numGpuBlocks: Math.floor(s.engine.kvCapacity / NOMINAL_BLOCK_SIZE), errors: undefined,
    });
    // No LoRA adapters are served, so no vllm:lora_requests_info (as vLLM without --enable-lora).
    assert.deepEqual(epp.errors, ['metric family "vllm:lora_requests_info" not found']);
  } finally {
    await s.close();
  }
});

test("each name set alone serves its own names only; sglang's are SGLang's gauges", T, async () => {
  const cases: { sets: MetricNameSet[]; vllm: string[]; sglang: string[]; radixlm: boolean }[] = [
    { sets: ["sglang"], vllm: [], sglang: SGLANG_NAMES, radixlm: false },
    { sets: ["vllm"], vllm: VLLM_NAMES, sglang: [], radixlm: false },
    { sets: ["radixlm"], vllm: [], sglang: [], radixlm: true },
    { sets: ["radixlm", "vllm", "sglang"], vllm: VLLM_NAMES, sglang: SGLANG_NAMES, radixlm: true },
  ];
  for (const c of cases) {
    const s = await start({}, { metricNames: c.sets });
    try {
      const f = await scrape(s.url);
      assert.deepEqual(names(f, "vllm:"), c.vllm, c.sets.join());
      assert.deepEqual(names(f, "sglang:"), c.sglang, c.sets.join());
      assert.equal(names(f, "radixlm:").length > 0, c.radixlm, c.sets.join());
      // the process's own metrics stay whatever the names
      assert.ok(f.has("process_cpu_user_seconds_total"), c.sets.join());
      for (const n of c.sglang) {
        assert.equal(f.get(n)!.type, "gauge", n);
        assert.deepEqual(f.get(n)!.samples.map((x) => x.labels), [{ model_name: "tiny-test" }], n);
      }
      if (c.sglang.length > 0) assert.deepEqual(eppRead(f, SGLANG_SPECS), { queued: 0, running: 0, kvUsage: 0, blockSize: undefined, numGpuBlocks: undefined, errors: [] });
    } finally {
      await s.close();
    }
  }
});

test("the gauges follow the engine while requests run and queue, and cached prefixes nothing holds count as free", T, async () => {
  const s: Running = await start({ maxRunningRequests: 1 }, { metricNames: ["radixlm", "vllm", "sglang"] });
  try {
    const gen = (rid: string): Promise<{ status: number; body: any }> =>
      post(`${s.url}/generate`, { text: `hold the line ${rid}`, rid, sampling_params: { max_new_tokens: 1500, ignore_eos: true, temperature: 0 } });
    const held = [gen("a"), gen("b"), gen("c")];
    assert.ok(await until(() => s.engine.stats().running === 1 && s.engine.stats().queued === 2), JSON.stringify(s.engine.stats()));
    // One request decodes while two wait, so the KV held only grows between the two reads.
    const before = s.engine.stats().kvUsage;
    const f = await scrape(s.url);
    const after = s.engine.stats();
    assert.equal(after.running, 1, "still one running after the scrape");
    for (const specs of [VLLM_SPECS, SGLANG_SPECS]) {
      const epp = eppRead(f, specs);
      assert.equal(epp.running, 1, specs.running);
      assert.equal(epp.queued, 2, specs.queued);
      assert.ok(epp.kvUsage > 0 && epp.kvUsage >= before && epp.kvUsage <= after.kvUsage, `${specs.kvUsage} ${epp.kvUsage} in [${before}, ${after.kvUsage}]`);
    }
    const radix = (n: string): number => f.get(n)!.samples[0]!.value;
    assert.equal(radix("radixlm:num_running_reqs"), 1);
    assert.equal(radix("radixlm:num_queue_reqs"), 2);
    assert.equal(f.get("vllm:kv_cache_usage_perc")!.samples[0]!.value, f.get("sglang:token_usage")!.samples[0]!.value);

    assert.deepEqual((await post(`${s.url}/abort_request`, { abort_all: true })).status, 200);
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    assert.ok(await until(() => s.engine.stats().running === 0 && s.engine.stats().queued === 0), JSON.stringify(s.engine.stats()));
    const idle = await scrape(s.url);
    // The finished requests' tokens stay in the radix cache, evictable: the pool is not in use.
    assert.ok(idle.get("radixlm:radix_cache_tokens")!.samples[0]!.value > 0);
    for (const specs of [VLLM_SPECS, SGLANG_SPECS]) {
      const epp = eppRead(idle, specs);
      assert.deepEqual([epp.running, epp.queued, epp.kvUsage], [0, 0, 0], specs.kvUsage);
    }
  } finally {
    await s.close();
  }
});

test("while the model loads the gauges read 0 and vllm:cache_config_info has no series (the pool's size is not known yet)", T, async () => {
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: () => {}, metricNames: ["vllm", "sglang"] });
  const url = await server.listen("127.0.0.1", 0);
  try {
    const f = await scrape(url);
    assert.deepEqual(f.get("vllm:cache_config_info")?.samples, []);
    for (const specs of [VLLM_SPECS, SGLANG_SPECS]) {
      const epp = eppRead(f, specs);
      assert.deepEqual([epp.running, epp.queued, epp.kvUsage, epp.blockSize], [0, 0, 0, undefined], specs.kvUsage);
    }
  } finally {
    await server.drain(0);
  }
});

test("--metrics-names parses a comma-separated list of radixlm, vllm, sglang", () => {
  assert.deepEqual(parseMetricNameSets("radixlm"), ["radixlm"]);
  assert.deepEqual(parseMetricNameSets(" vllm , sglang,vllm "), ["vllm", "sglang"]);
  assert.throws(() => parseMetricNameSets(""), /at least one of radixlm, vllm, sglang/);
  assert.throws(() => parseMetricNameSets("radixlm,trtllm"), /"trtllm" is not one of radixlm, vllm, sglang/);
});

test("radixlm serve --metrics-names: sglang's gauges from the command line; a bad name is a usage error", T, async () => {
  const child = await spawnServe(["--metrics-names", "sglang"]);
  try {
    const f = await scrape(child.url);
    assert.deepEqual(names(f, "sglang:"), SGLANG_NAMES);
    assert.deepEqual(names(f, "vllm:"), []);
    assert.deepEqual(names(f, "radixlm:"), []);
    const info = await (await fetch(`${child.url}/get_server_info`)).json() as { metrics_names?: unknown };
    assert.deepEqual(info.metrics_names, ["sglang"]);
  } finally {
    child.kill("SIGTERM");
    await child.exit;
  }
  const bad = spawn(process.execPath, [path.resolve("bin/radixlm.js"), "serve", "--port", "0", "--metrics-names", "vllm,nope"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  bad.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => bad.on("exit", resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, /--metrics-names "nope" is not one of radixlm, vllm, sglang/);
});
