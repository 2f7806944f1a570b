// Grammar compiles are bounded and never hold up other requests: a compile past the time
// limit is a 400 and its worker is replaced, a spec past the size limit is a 400 before any
// work, the context check comes first, an aborted request stops its compile, compiles run in
// parallel up to the bound, and a cached one answers at once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { envelope, MODEL_NAME, post, start, until, type Running } from "./harness.js";

const T = { timeout: 120_000 };

/** A schema whose compile takes about a second per 300 properties on the test vocabulary. */
function schema(n: number, tag = ""): Record<string, unknown> {
  const properties = Object.fromEntries(Array.from({ length: n }, (_, i) => [`field${tag}_${i}`, { type: "string" }]));
  return { type: "object", properties, required: Object.keys(properties) };
}

/** A short completion constrained by `s`. */
const constrained = (s: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ model: MODEL_NAME, prompt: "json:", max_tokens: 4, response_format: { type: "json_schema", json_schema: { name: "x", schema: s } }, ...extra });

const chat = (extra: Record<string, unknown>): Record<string, unknown> =>
  ({ model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 8, ...extra });

/** The largest gap between tokens of a streamed completion while `during` runs. */
async function bystander(srv: Running, during: () => Promise<void>): Promise<{ gap: number; tokens: number }> {
  const r = await fetch(`${srv.url}/v1/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL_NAME, prompt: "a story", max_tokens: 1500, ignore_eos: true, stream: true, temperature: 0 }),
  });
  const reader = r.body!.getReader();
  let busy = true;
  let last = 0;
  let gap = 0;
  let tokens = 0;
  const reading = (async () => {
    while (busy) {
      const { done } = await reader.read();
      if (done) break;
      const now = performance.now();
      if (last > 0) gap = Math.max(gap, now - last);
      last = now;
      tokens++;
    }
  })();
  await until(() => tokens > 3);
  last = 0;
  gap = 0;
  tokens = 0;
  await during();
  busy = false;
  await reader.cancel();
  await reading;
  return { gap, tokens };
}

let srv: Running;
after(() => srv?.close());

test("a compile past the time limit is a 400 saying so, its worker is replaced, and other requests keep streaming", T, async () => {
  srv = await start({ grammarLimits: { compileTimeoutMs: 1000, workers: 2 } });
  let status = 0;
  let message = "";
  let param: string | null = null;
  const b = await bystander(srv, async () => {
    const t0 = performance.now();
    const r = await post(`${srv.url}/v1/completions`, constrained(schema(1500)));
    status = r.status;
    ({ message, param } = envelope(r.body));
    assert.ok(performance.now() - t0 < 5000, `refused after ${(performance.now() - t0).toFixed(0)} ms`);
  });
  assert.equal(status, 400);
  assert.equal(param, "response_format");
  assert.match(message, /took longer than 1 s/);
  assert.ok(b.tokens > 5 && b.gap < 1000, `the bystander stream: ${b.tokens} tokens, longest gap ${b.gap.toFixed(0)} ms`);
  // The same spec again is refused at once (the error is cached); the worker was replaced.
  const t1 = performance.now();
  const again = await post(`${srv.url}/v1/completions`, constrained(schema(1500)));
  assert.equal(again.status, 400);
  assert.ok(performance.now() - t1 < 300);
  const ok = await post(`${srv.url}/v1/completions`, constrained(schema(2)));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.ok(srv.engine.stats().grammarWorkers <= 2);
  await srv.close();
});

test("a spec over the size limit, and a prompt over the context, are refused before any compile", T, async () => {
  srv = await start({ grammarLimits: { maxSpecChars: 4000 } });
  const t0 = performance.now();
  const big = await post(`${srv.url}/v1/completions`, constrained(schema(300)));
  assert.equal(big.status, 400);
  const e = envelope(big.body);
  assert.equal(e.param, "response_format");
  assert.match(e.message, /too large: \d+ characters, over the limit of 4000/);
  const limit = srv.engine.contextLength;
  const long = await post(`${srv.url}/v1/completions`, constrained(schema(100), { prompt: "word ".repeat(limit) }));
  assert.equal(long.status, 400);
  assert.equal(envelope(long.body).code, "context_length_exceeded");
  assert.ok(performance.now() - t0 < 2000, `${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(srv.engine.stats().grammarCompiles, 0);
  assert.equal(srv.engine.stats().grammarWorkers, 0, "nothing was compiled");
  await srv.close();
});

test("a client that leaves while its grammar compiles stops the compile", T, async () => {
  srv = await start({ grammarLimits: { compileTimeoutMs: 60_000, maxSpecChars: 1 << 20 } });
  const ac = new AbortController();
  const req = fetch(`${srv.url}/v1/completions`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(constrained(schema(2000))), signal: ac.signal,
  }).catch(() => null);
  assert.ok(await until(() => srv.engine.stats().grammarCompiles === 1), JSON.stringify(srv.engine.stats()));
  ac.abort();
  await req;
  assert.ok(await until(() => srv.engine.stats().grammarCompiles === 0, 2000), "the compile stopped");
  assert.ok(await until(() => srv.engine.stats().queued === 0 && srv.engine.stats().running === 0));
  assert.equal((await post(`${srv.url}/v1/chat/completions`, chat({}))).status, 200);
  await srv.close();
});

test("compiles run in parallel up to the bound; a cached compile answers at once", T, async () => {
  srv = await start({ grammarLimits: { workers: 2 } });
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, srv.engine.stats().grammarCompiles)), 10);
  const one = async (tag: string): Promise<void> => {
    const r = await post(`${srv.url}/v1/completions`, constrained(schema(300, tag)));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  await one("a");
  assert.equal(peak, 1);
  peak = 0;
  await Promise.all([one("b"), one("c"), one("d")]);
  assert.equal(peak, 2, "two compiles ran at once, and no more");
  assert.equal(srv.engine.stats().grammarWorkers, 2);
  // The first spec again: from the cache, no compile.
  peak = 0;
  await one("a");
  clearInterval(watch);
  assert.equal(peak, 0, "a cached grammar is not compiled again");
  await srv.close();
});

test("a schema nested 1,000 deep is a 400 saying so, before any compile", T, async () => {
  srv = await start();
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 1000; i++) deep = { type: "object", properties: { a: deep }, required: ["a"] };
  const r = await post(`${srv.url}/v1/completions`, constrained(deep));
  assert.equal(r.status, 400);
  const e = envelope(r.body);
  assert.equal(e.param, "response_format");
  assert.match(e.message, /nests deeper than 64 levels/);
  const g = await post(`${srv.url}/generate`, { text: "json:", sampling_params: { max_new_tokens: 4, json_schema: deep } });
  assert.equal(g.status, 400);
  assert.equal(envelope(g.body).param, "sampling_params.json_schema");
  // 60 levels are fine.
  let ok: Record<string, unknown> = { type: "integer" };
  for (let i = 0; i < 20; i++) ok = { type: "object", properties: { a: ok }, required: ["a"] };
  assert.equal((await post(`${srv.url}/v1/completions`, constrained(ok))).status, 200);
  assert.equal(srv.engine.stats().grammarCompiles, 0);
  await srv.close();
});
