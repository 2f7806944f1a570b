// Lifecycle: a client that goes away frees its KV at once; 200 concurrent streams all come
// back complete and correct; the real `radixlm serve` process drains on SIGTERM and exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MODEL_NAME, get, modelPath, readSse, spawnServe, start, until, withExtra, type Running } from "./harness.js";
import { cli } from "../helpers/cli.js";

const T = { timeout: 120_000 };

/** Pool accounting back to idle: nothing running or queued, every slot free or evictable. */
function idle(s: Running): boolean {
  const st = s.engine.stats();
  return st.running === 0 && st.queued === 0 && st.kvFree + st.evictableTokens === st.kvCapacity && st.protectedTokens === 0;
}

test("a client that disconnects mid-stream aborts its request and frees its KV", T, async () => {
  const s = await start();
  try {
    const stream = await s.client.chat.completions.create(
      withExtra({ model: MODEL_NAME, messages: [{ role: "user" as const, content: "tell me a long story" }], max_tokens: 1500, stream: true as const, temperature: 0 },
        { ignore_eos: true }));
    let chunks = 0;
    // leaving the loop aborts the HTTP request (the client closes the connection)
    for await (const _ of stream) if (++chunks === 5) break;
    assert.equal(chunks, 5);
    assert.ok(await until(() => idle(s), 3000), JSON.stringify(s.engine.stats()));
    s.engine.checkAccounting();
    const generated = s.engine.stats().generatedTokensTotal;
    assert.ok(generated < 1500, `the request stopped early (${generated} tokens)`);

    // a whole-response request whose client gives up is aborted too
    const ac2 = new AbortController();
    const whole = fetch(`${s.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: ac2.signal,
      body: JSON.stringify({ prompt: "long", max_tokens: 1500, ignore_eos: true }),
    });
    assert.ok(await until(() => s.engine.stats().running > 0, 3000));
    ac2.abort();
    await assert.rejects(whole);
    assert.ok(await until(() => idle(s), 3000), JSON.stringify(s.engine.stats()));
    assert.ok(s.engine.stats().generatedTokensTotal - generated < 1500);
  } finally {
    await s.close();
  }
});

test("200 concurrent streaming clients all receive complete, correct streams", T, async () => {
  const s = await start({ maxRunningRequests: 256, maxTotalTokens: 16384 });
  try {
    const prompts = Array.from({ length: 10 }, (_, i) => `Client group ${i} says hello`);
    const base = { model: MODEL_NAME, max_tokens: 6, temperature: 0, ignore_eos: true };
    // the greedy answer of each prompt, one at a time
    const expected: string[] = [];
    for (const prompt of prompts) {
      const r = await fetch(`${s.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...base, prompt }) });
      expected.push(((await r.json()) as { choices: { text: string }[] }).choices[0]!.text);
    }
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const r = await fetch(`${s.url}/v1/completions`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...base, prompt: prompts[i % 10], stream: true, stream_options: { include_usage: true } }),
      });
      assert.equal(r.status, 200);
      return { i, events: await readSse(r) };
    }));
    const ms = performance.now() - t0;
    for (const { i, events } of results) {
      assert.equal(events[events.length - 1], "[DONE]", `client ${i}`);
      const chunks = events.slice(0, -1) as { choices: { text: string; finish_reason: string | null }[]; usage?: { completion_tokens: number } | null }[];
      const text = chunks.flatMap((c) => c.choices.map((x) => x.text)).join("");
      assert.equal(text, expected[i % 10], `client ${i}`);
      const reasons = chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter((x) => x !== null);
      assert.deepEqual(reasons, ["length"]);
      assert.equal(chunks[chunks.length - 1]!.usage!.completion_tokens, 6);
    }
    assert.ok(await until(() => idle(s), 3000));
    s.engine.checkAccounting();
    assert.ok(ms < 60_000, `${ms} ms`);
  } finally {
    await s.close();
  }
});

async function openStream(url: string, maxTokens: number): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; rest: () => Promise<string> }> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "go" }], max_tokens: maxTokens, ignore_eos: true, temperature: 0, stream: true }),
  });
  assert.equal(r.status, 200);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);
  return {
    reader,
    rest: async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    },
  };
}

test("SIGTERM while streaming: the stream completes, new requests get 503, the process exits 0", T, async () => {
  const child = await spawnServe(["--grace-period", "30"]);
  assert.match(child.stdout[0]!, /^radixlm: serving .* at http:\/\/127\.0\.0\.1:\d+/);
  const models = await get(`${child.url}/v1/models`);
  assert.equal(models.status, 200);
  const stream = await openStream(child.url, 400);
  child.kill("SIGTERM");
  let rejected = false;
  for (let i = 0; i < 300 && !rejected; i++) {
    const h = await get(`${child.url}/health`).catch(() => null);
    rejected = h?.status === 503;
    if (!rejected) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(rejected, "health turns 503 while draining");
  const text = await stream.rest();
  assert.match(text, /"finish_reason":"length"/);
  assert.ok(text.endsWith("data: [DONE]\n\n"));
  assert.equal(await child.exit, 0);
  assert.ok(child.stdout.some((l) => /SIGTERM: draining/.test(l)));
});

test("SIGINT with a short grace period: the stream is aborted, the process exits 0", T, async () => {
  const child = await spawnServe(["--grace-period", "0.2"]);
  const stream = await openStream(child.url, 2000);
  child.kill("SIGINT");
  const text = await stream.rest();
  assert.match(text, /"finish_reason":"abort"/);
  assert.ok(text.endsWith("data: [DONE]\n\n"));
  assert.equal(await child.exit, 0);
});

test("serve: bad flags, a missing model and a busy port exit 2 with one line", T, async () => {
  const bad = cli(["serve", "--model", await modelPath(), "--port", "http"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^radixlm: error: --port must be an integer/);
  const missing = cli(["serve", "--model", "/nonexistent/model.gguf", "--port", "0"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^radixlm: error: .*no such file/);
  assert.equal(missing.stderr.trim().split("\n").length, 1);
  const child = await spawnServe([]);
  const port = new URL(child.url).port;
  const busy = cli(["serve", "--model", await modelPath(), "--port", port]);
  assert.equal(busy.code, 2);
  assert.match(busy.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  child.kill("SIGTERM");
  assert.equal(await child.exit, 0);
});
