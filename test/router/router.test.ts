// The router in front of real workers on 127.0.0.1: the official openai client through it
// (whole and streamed, equal to a worker's own answer), prefix affinity, retries past a dead
// worker and its breaker, workers added and removed at run time, keys in and out, a client
// disconnect reaching the worker, stored responses followed to their worker, broadcasts.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import OpenAI from "openai";
import { get, post, start, until, type Running } from "../server/harness.js";
import { Router } from "../../src/router/router.js";
import { DEFAULT_CACHE_AWARE, type PolicyName } from "../../src/router/policies.js";
import { KvEventHub } from "../../src/server/kv-events.js";
import { RadixServer } from "../../src/server/http.js";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Setup {
  workers: Running[];
  router: Router;
  url: string;
  client: OpenAI;
}

async function setup(n: number, policy: PolicyName, extra: Partial<ConstructorParameters<typeof Router>[0]> = {}, workerKey?: string): Promise<Setup> {
  const workers: Running[] = [];
  for (let i = 0; i < n; i++) workers.push(await start({}, workerKey ? { apiKey: workerKey } : {}));
  const router = new Router({
    workers: workers.map((w) => ({ url: w.url, apiKey: workerKey })), policy, cacheAware: DEFAULT_CACHE_AWARE,
    retryBackoffMs: 1, health: { intervalMs: 60_000, timeoutMs: 1000, unhealthyAfter: 1 }, warn: () => {}, ...extra,
  });
  const url = await router.listen("127.0.0.1", 0);
  return { workers, router, url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: extra.apiKey ?? "none", maxRetries: 0 }) };
}

async function teardown(s: Setup): Promise<void> {
  await s.router.close();
  for (const w of s.workers) await w.close();
}

const served = (s: Setup): number[] => s.workers.map((w) => w.engine.stats().promptTokensTotal);

describe("router", () => {
  let s: Setup;
  before(async () => {
    s = await setup(2, "cache-aware");
  });
  after(() => teardown(s));

  test("chat through the router equals a worker's own answer, whole and streamed", async () => {
    const body = { model: "m", messages: [{ role: "user" as const, content: "Tell me about cats." }], max_tokens: 12, temperature: 0 };
    const direct = await s.workers[0]!.client.chat.completions.create(body);
    const routed = await s.client.chat.completions.create(body);
    assert.equal(routed.choices[0]!.message.content, direct.choices[0]!.message.content);
    const stream = await s.client.chat.completions.create({ ...body, stream: true });
    let text = "";
    let chunks = 0;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? "";
      chunks++;
    }
    assert.equal(text, direct.choices[0]!.message.content);
    assert.ok(chunks > 2, "chunk by chunk");
  });

  test("requests sharing a prefix go to the worker that has it", async () => {
    const before = served(s);
    const system = "You are a helpful assistant for the harbour office. ".repeat(6);
    for (let i = 0; i < 6; i++) {
      await s.client.chat.completions.create({ model: "m", messages: [{ role: "system", content: system }, { role: "user", content: `Question ${i}?` }], max_tokens: 2 });
    }
    const grew = served(s).map((v, i) => v - before[i]!);
    assert.equal(grew.filter((g) => g > 0).length, 1, `one worker took them all: ${grew}`);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(text, /radixlm:router_decisions_total\{reason="cache_hit"\} [1-9]/);
  });

  test("/workers lists, adds and removes workers at run time; bad ones are 400s", async () => {
    const list = await get(`${s.url}/workers`);
    assert.equal(list.body.workers.length, 2);
    const third = await start();
    try {
      const add = await post(`${s.url}/workers`, { url: third.url + "/" });
      assert.equal(add.status, 201);
      assert.equal((await post(`${s.url}/workers`, { url: third.url })).status, 400, "a duplicate");
      assert.equal((await post(`${s.url}/workers`, { url: "ftp://x" })).status, 400);
      assert.equal((await get(`${s.url}/workers`)).body.workers.length, 3);
      // Round the new one in: a request that matches nothing goes to the smallest tree, the new worker's.
      await s.client.completions.create({ model: "m", prompt: "zzz unrelated words here", max_tokens: 1 });
      assert.ok(third.engine.stats().promptTokensTotal > 0);
      const del = await fetch(`${s.url}/workers?url=${encodeURIComponent(third.url)}`, { method: "DELETE" });
      assert.equal(del.status, 200);
      assert.equal((await fetch(`${s.url}/workers?url=${encodeURIComponent(third.url)}`, { method: "DELETE" })).status, 404);
      assert.equal((await get(`${s.url}/workers`)).body.workers.length, 2);
    } finally {
      await third.close();
    }
  });

  test("a client that disconnects mid-stream aborts the worker's request", async () => {
    const ac = new AbortController();
    const r = await fetch(`${s.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: ac.signal,
      body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 1500, ignore_eos: true, stream: true }),
    });
    assert.equal(r.status, 200);
    const reader = r.body!.getReader();
    await reader.read();
    assert.ok(s.workers.some((w) => w.engine.inflight > 0), `in flight: ${s.workers.map((w) => w.engine.inflight)}`);
    ac.abort();
    assert.ok(await until(() => s.workers.every((w) => w.engine.inflight === 0), 5000), "the worker's request ended");
  });

  test("a stored response's follow-up goes to the worker that holds it", async () => {
    const first = await s.client.responses.create({ model: "m", input: "A first question about boats.", max_output_tokens: 4 });
    const owner = s.workers.findIndex((w) => w.engine.stats().promptTokensTotal > 0 && w.engine.stats().cachedTokens > 0);
    assert.ok(owner >= 0);
    for (let i = 0; i < 3; i++) {
      const next = await s.client.responses.create({ model: "m", previous_response_id: first.id, input: `And ${i}?`, max_output_tokens: 2 });
      assert.equal(next.previous_response_id, first.id);
    }
    const got = await s.client.responses.retrieve(first.id);
    assert.equal(got.id, first.id);
    assert.equal((await get(`${s.url}/v1/responses/resp_unknown`)).status, 404);
  });

  test("flush_cache and abort_request go to every worker", async () => {
    const f = await post(`${s.url}/flush_cache`, {});
    assert.equal(f.status, 200);
    assert.equal(f.body.workers.length, 2);
    for (const w of s.workers) assert.equal(w.engine.stats().cachedTokens, 0);
    const a = await post(`${s.url}/abort_request`, { abort_all: true });
    assert.equal(a.status, 200);
  });
});

describe("router failures", () => {
  test("a dead worker's attempts are retried on a live one before any byte, and its breaker opens", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const s = await setup(1, "round-robin", { breaker: { failures: 2, cooldownMs: 60_000 } });
    try {
      assert.equal((await post(`${s.url}/workers`, { url: dead })).status, 201);
      for (let i = 0; i < 6; i++) {
        const r = await s.client.completions.create({ model: "m", prompt: `hello ${i}`, max_tokens: 2 });
        assert.equal(r.choices.length, 1);
      }
      const workers = (await get(`${s.url}/workers`)).body.workers as { url: string; breaker: string }[];
      assert.equal(workers.find((w) => w.url === dead)!.breaker, "open");
      const m = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(m, new RegExp(`radixlm:router_retries_total\\{worker="${dead.replace(/[.:/]/g, "\\$&")}",reason="connect"\\} 2`));
      assert.match(m, /radixlm:router_breaker_state\{worker="http:\/\/127\.0\.0\.1:\d+"\} 1/);
    } finally {
      await teardown(s);
    }
  });

  test("a worker that answers 5xx before any byte (one still loading) is passed over", async () => {
    const loading = new RadixServer({ name: "loading", logIntervalSeconds: 0, warn: () => {} });
    const loadingUrl = await loading.listen("127.0.0.1", 0);
    const s = await setup(1, "round-robin");
    try {
      assert.equal((await post(`${s.url}/workers`, { url: loadingUrl })).status, 201);
      for (let i = 0; i < 4; i++) assert.equal((await post(`${s.url}/v1/completions`, { prompt: `hi ${i}`, max_tokens: 1 })).status, 200);
      const m = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(m, /radixlm:router_retries_total\{worker="http:\/\/127\.0\.0\.1:\d+",reason="status"\} [1-9]/, m.split("\n").filter((l) => l.includes("router_")).join("\n"));
    } finally {
      await teardown(s);
      await loading.drain(0);
    }
  });

  test("with no worker left, a 503; health checks take a dead worker out and the router reports it", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const router = new Router({ workers: [{ url: dead }], policy: "cache-aware", cacheAware: DEFAULT_CACHE_AWARE, retryBackoffMs: 1, warn: () => {},
      health: { intervalMs: 60_000, timeoutMs: 500, unhealthyAfter: 3 } });
    const url = await router.listen("127.0.0.1", 0);
    try {
      const r = await post(`${url}/v1/completions`, { prompt: "x" });
      assert.equal(r.status, 502);
      assert.equal(r.body.error.code, "upstream_failed");
      for (let i = 0; i < 3; i++) await router.pool.checkAll();
      assert.equal((await get(`${url}/health`)).status, 503);
      const r2 = await post(`${url}/v1/completions`, { prompt: "x" });
      assert.equal(r2.status, 503);
      assert.equal(r2.body.error.code, "no_worker");
    } finally {
      await router.close();
    }
  });

  test("the router's key is asked of clients, and each worker gets its own", async () => {
    const s = await setup(1, "cache-aware", { apiKey: "router-key" }, "worker-key");
    try {
      assert.equal((await post(`${s.url}/v1/completions`, { prompt: "x", max_tokens: 1 })).status, 401);
      const r = await s.client.completions.create({ model: "m", prompt: "hello", max_tokens: 1 });
      assert.equal(r.choices.length, 1);
      assert.equal((await get(`${s.url}/health`)).status, 200, "health needs no key");
    } finally {
      await teardown(s);
    }
  });
});

describe("router, exact policy", () => {
  test("follows the workers' KV events and sends a prompt to the worker that holds its prefix, even after the approximate picture would be wrong", async () => {
    const hubs = [await KvEventHub.create({ blockSize: 4 }), await KvEventHub.create({ blockSize: 4 })];
    const workers = [await start({ kvEvents: hubs[0] }, { kvEvents: hubs[0] }), await start({ kvEvents: hubs[1] }, { kvEvents: hubs[1] })];
    const model = workers[0]!.engine.model;
    const router = new Router({
      workers: workers.map((w) => ({ url: w.url })), policy: "exact", cacheAware: { ...DEFAULT_CACHE_AWARE, cacheThreshold: 0.3 },
      prompting: { tokenizer: model.tokenizer, chat: workers[0]!.engine.chat }, retryBackoffMs: 1, warn: () => {},
      health: { intervalMs: 60_000, timeoutMs: 1000, unhealthyAfter: 3 },
    });
    const url = await router.listen("127.0.0.1", 0);
    try {
      assert.ok(await until(() => workers.every((w) => router.mirror!.following(w.url)), 5000), "subscribed to both");
      // Worker 1 computes a long prompt itself (not through the router): only its events say so.
      const prompt = "The lighthouse keeper counted the ships every night and wrote their names in a book. ".repeat(3);
      await workers[1]!.client.completions.create({ model: "m", prompt, max_tokens: 1 });
      assert.ok(await until(() => router.mirror!.blockCount(workers[1]!.url) > 5, 5000));
      const before = workers.map((w) => w.engine.stats().promptTokensTotal);
      const r = await post(`${url}/v1/completions`, { prompt: prompt + "Which ship came first?", max_tokens: 1 });
      assert.equal(r.status, 200);
      assert.ok(r.body.usage.prompt_tokens_details.cached_tokens > 20, JSON.stringify(r.body.usage));
      assert.equal(workers[0]!.engine.stats().promptTokensTotal, before[0], "worker 0 took nothing");
      assert.ok(workers[1]!.engine.stats().promptTokensTotal > before[1]!);
      // Once worker 1 drops its cache, the router knows it: a new prompt goes by load.
      await post(`${workers[1]!.url}/flush_cache`, {});
      assert.ok(await until(() => router.mirror!.blockCount(workers[1]!.url) === 0, 5000));
      const list = await get(`${url}/workers`);
      assert.deepEqual(list.body.workers.map((w: { kv_events: boolean }) => w.kv_events), [true, true]);
    } finally {
      await router.close();
      for (const w of workers) await w.close();
      for (const h of hubs) await h.close();
    }
  });
});
