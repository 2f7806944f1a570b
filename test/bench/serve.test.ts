import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { benchServe, arrivalTimes, type ServeBenchOptions } from "../../src/bench/serve.js";
import { PromptText, wordAlphabet } from "../../src/bench/prompt-text.js";
import { makeWorkloadFrom, DEFAULT_WORKLOAD, type TokenWorkloadName, type WorkloadOptions } from "../../src/bench/workloads.js";
import type { ApiKind } from "../../src/bench/serve-client.js";
import type { ServeReport } from "../../src/bench/serve-report.js";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { testModel } from "../helpers/models.js";
import { startFake, type FakeOptions, type FakeServer } from "./fake-server.js";

let tok: Tokenizer;
let alphabet: number[];
let text: PromptText;

before(async () => {
  tok = await loadTokenizerFile(await testModel("bench-tok", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 }));
  alphabet = wordAlphabet(tok);
  text = new PromptText(tok, alphabet);
});

const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function fake(o: Partial<FakeOptions>): Promise<FakeServer> {
  const s = await startFake(o);
  servers.push(s);
  return s;
}

interface Run {
  api?: ApiKind;
  workload?: TokenWorkloadName;
  w?: Partial<WorkloadOptions>;
  extra?: Partial<ServeBenchOptions>;
}

function run(url: string, r: Run = {}): Promise<ServeReport> {
  const api = r.api ?? "openai-completions";
  const wopts = { ...DEFAULT_WORKLOAD, groups: 1, promptsPerGroup: 3, systemPromptLen: 20, questionLen: 5, outputLen: 4, seed: 3, ...r.w };
  const workload = makeWorkloadFrom(r.workload ?? "random", wopts, alphabet);
  return benchServe({
    client: { root: url, api, model: "fake-model", apiKey: null, extraBody: {} },
    workload, promptFormat: "ids", tokenizer: tok, text,
    requestRate: Infinity, maxConcurrency: null, seed: 3, timeoutMs: 30_000, maxDurationMs: 60_000,
    info: {
      label: "t", base_url: url, api, model: "fake-model", workload: workload.name, workload_options: { ...wopts },
      request_rate: "inf", max_concurrency: null, tokenizer: null,
    },
    progress: { isTTY: false, write: () => true },
    ...r.extra,
  });
}

// Generous upper bounds: a loaded 2-core machine delays timers and sockets, never speeds them up.
const SLACK_MS = 400;
// The mean gap between chunks is (last - first) / (k - 1): on a loaded machine a first chunk
// delivered later than the last one makes it come out a little under the server's delay.
const EARLY_MS = 10;

test("TTFT, ITL, TPOT and E2E match a server's known delays (completions)", async () => {
  const s = await fake({ ttftMs: 200, itlMs: 50 });
  const r = await run(s.url, { w: { outputLen: 8 } });
  assert.equal(r.requests.completed, 3);
  assert.equal(r.samples.ttft_ms.length, 3);
  for (const t of r.samples.ttft_ms) assert.ok(t >= 195 && t <= 200 + SLACK_MS, `ttft ${t}`);
  assert.equal(r.samples.itl_ms.length, 3 * 7);
  assert.ok(r.itl_ms.mean >= 50 - EARLY_MS && r.itl_ms.mean <= 50 + SLACK_MS / 4, `itl mean ${r.itl_ms.mean}`);
  for (const t of r.samples.tpot_ms) assert.ok(t >= 49 && t <= 50 + SLACK_MS / 4, `tpot ${t}`);
  for (const t of r.samples.e2e_ms) assert.ok(t >= 200 + 7 * 50 - 5 && t <= 550 + 2 * SLACK_MS, `e2e ${t}`);
  assert.equal(r.output_tokens, 24);
  assert.equal(r.input_tokens, 75);
  // usage: floor(25/2) of each 25-token prompt cached; /metrics: floor(25/4), counted from a non-zero baseline
  assert.equal(r.cache_hit_rates.usage, 36 / 75);
  assert.equal(r.cache_hit_rates.metrics, 18 / 75);
  assert.equal(r.cache_hit_rates.metrics_source, "radixlm:cached_tokens_total");
  assert.equal(r.cache_hit_rate, 36 / 75);
  assert.ok(r.duration_s >= 0.55 && r.duration_s < 0.55 + SLACK_MS / 1000 * 2, `duration ${r.duration_s}`);
  assert.ok(Math.abs(r.output_throughput - 24 / r.duration_s) < 1e-9);
  // the request asked for a fixed output length
  const b = s.received[0]!.body;
  assert.equal(b.max_tokens, 8);
  assert.equal(b.min_tokens, 8);
  assert.equal(b.ignore_eos, true);
  assert.equal(b.stream, true);
  assert.deepEqual(b.stream_options, { include_usage: true });
});

test("chat and native streams are timed the same way; llama.cpp timings give the hit rate", async () => {
  const s = await fake({ ttftMs: 120, itlMs: 30 });
  for (const api of ["openai-chat", "native"] as const) {
    const r = await run(s.url, { api, w: { outputLen: 5 } });
    assert.equal(r.requests.completed, 3, api);
    for (const t of r.samples.ttft_ms) assert.ok(t >= 115 && t <= 120 + SLACK_MS, `${api} ttft ${t}`);
    assert.equal(r.samples.itl_ms.length, 3 * 4, api);
    assert.ok(r.itl_ms.mean >= 30 - EARLY_MS && r.itl_ms.mean <= 30 + SLACK_MS / 4, `${api} itl ${r.itl_ms.mean}`);
    assert.equal(r.output_tokens, 15, api);
    assert.equal(r.cache_hit_rates.usage, 36 / 75, api);
  }
  const n = s.received.find((x) => x.path === "/generate")!.body;
  assert.deepEqual(n.sampling_params, { max_new_tokens: 5, min_new_tokens: 5, ignore_eos: true, temperature: 0 });
  const l = await fake({ ttftMs: 20, itlMs: 5, report: "timings" });
  const r = await run(l.url);
  assert.equal(r.cache_hit_rates.usage, 36 / 75);
  assert.equal(r.output_tokens, 12);
});

test("multi-turn re-sends the growing history: ids with the server's output ids, text, chat messages", async () => {
  const w = { conversations: 2, turns: 3, systemPromptLen: 12, questionLen: 4, outputLen: 3 };
  const s = await fake({ ttftMs: 5, itlMs: 2 });
  const native = await run(s.url, { api: "native", workload: "multi-turn", w });
  assert.equal(native.requests.completed, 6);
  const sent = s.received.map((x) => x.body.input_ids as number[]);
  // each conversation: 16 tokens, then + 3 output + 4 new, twice
  assert.deepEqual(sent.map((p) => p.length).sort((a, b) => a - b), [16, 16, 23, 23, 30, 30]);
  for (const p of sent.filter((x) => x.length > 16)) {
    const prev = sent.find((q) => q.length === p.length - 7 && p.slice(0, q.length).join() === q.join());
    assert.ok(prev, "a later turn extends an earlier prompt");
    assert.deepEqual(p.slice(prev.length, prev.length + 3), [500, 501, 502]);
  }
  assert.equal(native.input_tokens, 2 * (16 + 23 + 30));

  const c = await fake({ ttftMs: 5, itlMs: 2 });
  await run(c.url, { api: "openai-chat", workload: "multi-turn", w });
  const convs = c.received.map((x) => x.body.messages as { role: string; content: string }[]);
  assert.deepEqual(convs.map((m) => m.length).sort(), [1, 1, 3, 3, 5, 5]);
  for (const m of convs) {
    assert.deepEqual(m.map((x) => x.role), ["user", "assistant", "user", "assistant", "user"].slice(0, m.length));
    m.forEach((x, i) => {
      if (x.role === "assistant") assert.equal(x.content, " ab ab ab");
      else assert.equal(tok.encode(x.content).length, i === 0 ? 16 : 4);
    });
  }

  const t = await fake({ ttftMs: 5, itlMs: 2 });
  await run(t.url, { workload: "multi-turn", w, extra: { promptFormat: "text" } });
  const prompts = t.received.map((x) => x.body.prompt as string);
  const firstTurns = prompts.filter((p) => tok.encode(p).length === 16);
  assert.equal(firstTurns.length, 2);
  for (const p of prompts.filter((x) => !firstTurns.includes(x))) {
    const prev = prompts.find((q) => q !== p && p.startsWith(q + " ab ab ab") && tok.encode(p.slice(q.length + 9)).length === 4);
    assert.ok(prev, `turn extends an earlier prompt: ${p.slice(0, 60)}`);
  }
});

test("--max-concurrency bounds the requests in flight; failures are counted and end their chain", async () => {
  const s = await fake({ ttftMs: 40, itlMs: 5 });
  await run(s.url, { w: { promptsPerGroup: 4 }, extra: { maxConcurrency: 1 } });
  assert.equal(s.maxInFlight(), 1);
  const u = await fake({ ttftMs: 150, itlMs: 5 });
  await run(u.url, { w: { promptsPerGroup: 4 } });
  assert.equal(u.maxInFlight(), 4);

  const f = await fake({ ttftMs: 5, itlMs: 2, failIndexes: [0] });
  const r = await run(f.url, { workload: "multi-turn", w: { conversations: 1, turns: 3 } });
  assert.deepEqual(r.requests, { total: 3, completed: 0, failed: 1, not_sent: 2 });
  assert.deepEqual(r.errors, ["HTTP 500: fake failure"]);
  assert.equal(r.cache_hit_rate, null);
});

test("a server that never answers: the per-request timeout and the run's deadline end it", async () => {
  const s = await fake({ hang: true });
  const t0 = performance.now();
  const r = await run(s.url, { extra: { timeoutMs: 300 } });
  assert.deepEqual(r.requests, { total: 3, completed: 0, failed: 3, not_sent: 0 });
  assert.deepEqual(r.errors, ["timed out"]);
  const d = await run(s.url, { workload: "multi-turn", w: { conversations: 2, turns: 3 }, extra: { timeoutMs: 60_000, maxDurationMs: 300 } });
  assert.equal(d.requests.failed, 2);
  assert.equal(d.requests.not_sent, 4);
  assert.deepEqual(d.errors, ["aborted"]);
  assert.ok(performance.now() - t0 < 10_000);
});

test("Poisson arrivals: first at 0, deterministic by seed, mean gap 1/rate", () => {
  const a = arrivalTimes(2000, 10, 1);
  assert.equal(a[0], 0);
  assert.deepEqual(arrivalTimes(2000, 10, 1), a);
  assert.notDeepEqual(arrivalTimes(2000, 10, 2), a);
  const mean = a[a.length - 1]! / (a.length - 1);
  assert.ok(Math.abs(mean - 100) < 10, `mean gap ${mean}`);
  assert.ok(arrivalTimes(5, Infinity, 1).every((t) => t === 0));
});
