// Isolation under hostile load, through the real server: a request whose grammar allows no
// token fails alone (400) while a long stream beside it goes on untouched; a refused
// submission (choices over the queue limit, a full queue, n over the limit, a duplicate rid)
// leaves nothing registered; /abort_request matches exact ids only; max_new_tokens 0 returns
// no token and still caches the prompt.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { MODEL_NAME, envelope, get, post, start, until, withExtra, type Running } from "./harness.js";

const T = { timeout: 120_000 };

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

/** Nothing running or queued, no submission registered, no cache node held by a request. */
function idle(s: Running): boolean {
  const st = s.engine.stats();
  return s.engine.inflight === 0 && st.running === 0 && st.queued === 0 && st.protectedTokens === 0 && st.kvFree + st.evictableTokens === st.kvCapacity;
}

async function serverInfo(s: Running): Promise<{ inflight_requests: number; stats: { running: number; queued: number; protectedTokens: number } }> {
  const r = await get(`${s.url}/get_server_info`);
  assert.equal(r.status, 200);
  return r.body;
}

interface OpenSse {
  /** The events so far: parsed JSON objects, and "[DONE]" as a string. */
  readonly events: unknown[];
  /** Whether the response has ended. */
  ended(): boolean;
  /** Every event, once the response ends. */
  readonly all: Promise<unknown[]>;
}

/** POSTs a streaming request and reads its events as they come (the status must be 200). */
async function openSse(url: string, body: unknown): Promise<OpenSse> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, await (r.status === 200 ? Promise.resolve("") : r.text()));
  assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events: unknown[] = [];
  let ended = false;
  const all = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    const reader = r.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        if (!block.startsWith("data: ")) continue;
        const d = block.slice(6);
        events.push(d === "[DONE]" ? d : JSON.parse(d));
      }
    }
    ended = true;
    return events;
  })();
  return { events, ended: () => ended, all };
}

interface CompletionChunk {
  choices: { index: number; text: string; finish_reason: string | null }[];
  usage?: { completion_tokens: number } | null;
}

/** A streamed /v1/completions: its text, finish reasons and completion tokens (from include_usage). */
function completionOf(events: unknown[]): { text: string; reasons: string[]; tokens: number } {
  assert.equal(events[events.length - 1], "[DONE]");
  const chunks = events.slice(0, -1) as CompletionChunk[];
  const text = chunks.flatMap((c) => c.choices.map((x) => x.text)).join("");
  const reasons = chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter((x): x is string => x !== null);
  const usage = chunks[chunks.length - 1]!.usage;
  assert.ok(usage, "the last chunk carries the usage");
  return { text, reasons, tokens: usage.completion_tokens };
}

const LONG = { model: MODEL_NAME, prompt: "A long and steady story:", max_tokens: 256, ignore_eos: true, temperature: 0, stream: true, stream_options: { include_usage: true } };
const NO_TOKEN = { ebnf: "root ::= root" };

function assertNoToken(r: { status: number; body: any; headers: Headers }): void {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/, "an error response, not a stream");
  const e = envelope(r.body);
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.code, "request_failed");
  assert.equal(e.param, null);
  assert.match(e.message, /no token is allowed at output position 0/);
}

test("a request whose grammar allows no token fails alone with a 400; a long stream beside it is untouched", T, async () => {
  // the long stream's greedy text, alone on an idle server of its own
  const ref = await start();
  let alone: { text: string; reasons: string[]; tokens: number };
  try {
    alone = completionOf(await (await openSse(`${ref.url}/v1/completions`, LONG)).all);
  } finally {
    await ref.close();
  }
  assert.deepEqual(alone.reasons, ["length"]);
  assert.equal(alone.tokens, 256);

  // alone, the bad request is a 400 too (and its grammar is compiled from here on)
  assertNoToken(await post(`${srv.url}/generate`, { text: "hello", sampling_params: { ...NO_TOKEN, temperature: 0 } }));
  assert.ok(await until(() => idle(srv)), JSON.stringify(srv.engine.stats()));

  const long = await openSse(`${srv.url}/v1/completions`, LONG);
  // it is decoding: a few chunks are out
  assert.ok(await until(() => long.events.length >= 3), `${long.events.length} events`);
  const [whole, streamed, two] = await Promise.all([
    post(`${srv.url}/generate`, { text: "hello", sampling_params: { ...NO_TOKEN, max_new_tokens: 16 } }),
    post(`${srv.url}/generate`, { text: "hello", stream: true, sampling_params: { ...NO_TOKEN, max_new_tokens: 16 } }),
    post(`${srv.url}/generate`, { text: "hello there", sampling_params: { ...NO_TOKEN, n: 2, max_new_tokens: 16 } }),
  ]);
  // the three failed while the long stream was still in flight, and are gone; it is not
  assert.equal(srv.engine.inflight, 1, "only the long stream is registered");
  assert.equal(long.ended(), false, "the long stream was still going when the bad requests failed");
  assertNoToken(whole);
  assertNoToken(streamed);
  assertNoToken(two);

  const beside = completionOf(await long.all);
  assert.deepEqual(beside.reasons, ["length"]);
  assert.equal(beside.tokens, 256);
  assert.equal(beside.text, alone.text, "the same greedy tokens as alone on an idle server");

  assert.ok(await until(() => idle(srv)), JSON.stringify(srv.engine.stats()));
  const info = await serverInfo(srv);
  assert.equal(info.inflight_requests, 0);
  assert.equal(info.stats.running, 0);
  assert.equal(info.stats.queued, 0);
  assert.equal(info.stats.protectedTokens, 0);
  srv.engine.checkAccounting();
});

test("/abort_request matches exact ids: a prefix aborts nothing, the exact rid aborts every choice", T, async () => {
  // a streaming chat completion: neither its id's prefix nor its id less a character abort it
  const stream = await srv.client.chat.completions.create(withExtra({
    model: MODEL_NAME, messages: [{ role: "user" as const, content: "talk for a while" }], max_tokens: 300, temperature: 0,
    stream: true as const, stream_options: { include_usage: true },
  }, { ignore_eos: true }));
  let id = "";
  let reason: string | null = null;
  let tokens = -1;
  for await (const chunk of stream) {
    if (!id) {
      id = chunk.id;
      assert.match(id, /^chatcmpl-[0-9a-f]{24}$/);
      assert.equal(srv.engine.inflight, 1);
      for (const rid of ["chatcmpl", "chatcmpl-", id.slice(0, -1), id.toUpperCase()]) {
        const r = await post(`${srv.url}/abort_request`, { rid });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, { aborted: 0 }, rid);
      }
    }
    for (const c of chunk.choices) reason = c.finish_reason ?? reason;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  assert.equal(reason, "length");
  assert.equal(tokens, 300);

  // /generate with rid "job-42": "job" and "job-4" abort nothing, "job-42" aborts it
  const body = (rid: string, n: number): Record<string, unknown> =>
    ({ text: "count slowly", rid, sampling_params: { max_new_tokens: 1500, ignore_eos: true, temperature: 0, n } });
  const job = post(`${srv.url}/generate`, body("job-42", 1));
  assert.ok(await until(() => srv.engine.stats().running === 1), JSON.stringify(srv.engine.stats()));
  for (const rid of ["job", "job-4", "job-42 ", "JOB-42"]) assert.deepEqual((await post(`${srv.url}/abort_request`, { rid })).body, { aborted: 0 }, rid);
  assert.equal(srv.engine.inflight, 1, "still running");
  assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: "job-42" })).body, { aborted: 1 });
  const done = await job;
  assert.equal(done.status, 200);
  assert.equal(done.body.meta_info.id, "job-42");
  assert.deepEqual(done.body.meta_info.finish_reason, { type: "abort" });
  assert.ok(done.body.meta_info.completion_tokens < 1500, `${done.body.meta_info.completion_tokens} tokens`);
  assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: "job-42" })).body, { aborted: 0 }, "gone once finished");

  // n = 3 under rid "multi": the samples' ids ("multi-1") abort nothing, "multi" aborts all three
  const multi = post(`${srv.url}/generate`, body("multi", 3));
  assert.ok(await until(() => srv.engine.stats().running === 3), JSON.stringify(srv.engine.stats()));
  for (const rid of ["multi-0", "multi-1", "multi-2", "mult"]) assert.deepEqual((await post(`${srv.url}/abort_request`, { rid })).body, { aborted: 0 }, rid);
  assert.equal(srv.engine.stats().running, 3, "all three still running");
  assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: "multi" })).body, { aborted: 1 });
  const m = await multi;
  assert.equal(m.status, 200);
  assert.ok(Array.isArray(m.body) && m.body.length === 3, JSON.stringify(m.body).slice(0, 200));
  for (const [i, o] of (m.body as { meta_info: { id: string; finish_reason: unknown; completion_tokens: number } }[]).entries()) {
    assert.equal(o.meta_info.id, `multi-${i}`);
    assert.deepEqual(o.meta_info.finish_reason, { type: "abort" });
    assert.ok(o.meta_info.completion_tokens < 1500);
  }
  assert.ok(await until(() => idle(srv)), JSON.stringify(srv.engine.stats()));
  assert.equal((await serverInfo(srv)).inflight_requests, 0);
});

test("max_new_tokens 0: no token, finish_reason length, and the prompt is still cached", T, async () => {
  const text = "a prompt sent only by the max_new_tokens 0 test, long enough to cache";
  const sp = { sampling_params: { max_new_tokens: 0 } };
  const first = await post(`${srv.url}/generate`, { text, ...sp });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.text, "");
  assert.deepEqual(first.body.output_ids, []);
  assert.deepEqual(first.body.meta_info.finish_reason, { type: "length", length: 0 });
  assert.equal(first.body.meta_info.completion_tokens, 0);
  assert.equal(first.body.meta_info.cached_tokens, 0, "a prompt not seen before");
  const promptTokens = first.body.meta_info.prompt_tokens as number;
  assert.ok(promptTokens > 10);
  // the same prompt again: all of it but the last token comes from the cache
  const second = await post(`${srv.url}/generate`, { text, ...sp });
  assert.equal(second.status, 200);
  assert.deepEqual(second.body.output_ids, []);
  assert.equal(second.body.meta_info.cached_tokens, promptTokens - 1);
  // streamed: one event, the finish
  const streamed = await openSse(`${srv.url}/generate`, { text, stream: true, ...sp });
  const events = await streamed.all;
  assert.equal(events.length, 2);
  assert.equal(events[1], "[DONE]");
  const only = events[0] as { text: string; output_ids: number[]; meta_info: { finish_reason: unknown; completion_tokens: number } };
  assert.equal(only.text, "");
  assert.deepEqual(only.output_ids, []);
  assert.deepEqual(only.meta_info.finish_reason, { type: "length", length: 0 });
  assert.equal(only.meta_info.completion_tokens, 0);

  // /v1/completions with max_tokens 0: an empty text (with echo, the prompt), finish_reason length
  const c = await srv.client.completions.create({ model: MODEL_NAME, prompt: text, max_tokens: 0 });
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0]!.text, "");
  assert.equal(c.choices[0]!.finish_reason, "length");
  assert.equal(c.usage!.completion_tokens, 0);
  assert.equal(c.usage!.prompt_tokens, promptTokens);
  const echo = await post(`${srv.url}/v1/completions`, { prompt: text, max_tokens: 0, echo: true });
  assert.equal(echo.status, 200, JSON.stringify(echo.body));
  assert.equal(echo.body.choices[0].text, text);
  assert.equal(echo.body.choices[0].finish_reason, "length");
  const cs = await openSse(`${srv.url}/v1/completions`, { prompt: text, max_tokens: 0, stream: true, stream_options: { include_usage: true } });
  const streamedC = completionOf(await cs.all);
  assert.equal(streamedC.text, "");
  assert.deepEqual(streamedC.reasons, ["length"]);
  assert.equal(streamedC.tokens, 0);
  // chat keeps max_tokens >= 1
  const chat = await post(`${srv.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x" }], max_tokens: 0 });
  assert.equal(chat.status, 400);
  assert.equal(envelope(chat.body).param, "max_tokens");
  assert.ok(await until(() => idle(srv)), JSON.stringify(srv.engine.stats()));
});

test("n over --max-queued-requests is a 400 naming n, idle or busy; a duplicate rid in flight is a 400", T, async () => {
  const s = await start({ maxQueuedRequests: 4, maxRunningRequests: 1 });
  try {
    const limit = /more than the server ever queues \(4\)/;
    const refused = async (route: string, body: Record<string, unknown>, status = 400): Promise<void> => {
      const r = await post(`${s.url}${route}`, body);
      assert.equal(r.status, status, `${route} ${JSON.stringify(body)} -> ${JSON.stringify(r.body)}`);
      const e = envelope(r.body);
      assert.equal(e.type, "invalid_request_error");
      assert.equal(e.param, "n");
      assert.match(e.message, limit);
      assert.match(e.message, /needs \d+ sequences/);
    };
    const check = async (): Promise<void> => {
      await refused("/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], n: 5, max_tokens: 2 });
      await refused("/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], n: 5, max_tokens: 2, stream: true });
      await refused("/v1/completions", { prompt: "hi", n: 5, max_tokens: 2 });
      await refused("/v1/completions", { prompt: ["a", "b", "c"], n: 2, max_tokens: 2 });
      await refused("/generate", { text: "hi", sampling_params: { n: 5, max_new_tokens: 2 } });
      await refused("/generate", { text: ["a", "b", "c"], sampling_params: { n: 2, max_new_tokens: 2 } });
      await refused("/generate", { input_ids: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], sampling_params: { max_new_tokens: 2 } });
    };
    // idle: a 400, not a 429
    await check();
    await assert.rejects(s.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], n: 5, max_tokens: 2 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "n");
    assert.equal(s.engine.inflight, 0);
    // exactly the limit fits: 2 prompts × n 2
    const fits = await post(`${s.url}/generate`, { text: ["a", "b"], sampling_params: { n: 2, max_new_tokens: 2, ignore_eos: true } });
    assert.equal(fits.status, 200, JSON.stringify(fits.body));
    assert.equal(fits.body.length, 4);

    // busy (one running, two queued): still a 400, and nothing more is queued
    const gen = (rid: string): Promise<{ status: number; body: any }> =>
      post(`${s.url}/generate`, { text: "occupy", rid, sampling_params: { max_new_tokens: 150, ignore_eos: true, temperature: 0 } });
    const busy = [gen("dup"), gen("b"), gen("c")];
    assert.ok(await until(() => s.engine.stats().running === 1 && s.engine.stats().queued === 2), JSON.stringify(s.engine.stats()));
    await check();
    // a duplicate rid while the first is in flight
    const dup = await post(`${s.url}/generate`, { text: "again", rid: "dup", sampling_params: { max_new_tokens: 2 } });
    assert.equal(dup.status, 400, JSON.stringify(dup.body));
    const e = envelope(dup.body);
    assert.equal(e.param, "rid");
    assert.equal(e.code, "duplicate_id");
    assert.match(e.message, /'dup' is already running/);
    assert.equal(s.engine.inflight, 3);
    assert.equal(s.engine.stats().queued, 2);
    for (const r of await Promise.all(busy)) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.meta_info.finish_reason, { type: "length", length: 150 });
    }
    // once the first is done, its rid is free again
    const again = await post(`${s.url}/generate`, { text: "again", rid: "dup", sampling_params: { max_new_tokens: 2 } });
    assert.equal(again.status, 200);
    assert.equal(again.body.meta_info.id, "dup");
    assert.ok(await until(() => idle(s)), JSON.stringify(s.engine.stats()));
  } finally {
    await s.close();
  }
});

test("choices over the queue limit (400) or into a full queue (429) leave nothing registered; drain is quick", T, async () => {
  const s = await start({ maxQueuedRequests: 3, maxRunningRequests: 1 });
  try {
    const choices = (k: number): Record<string, unknown> =>
      ({ text: "Pick one:", sampling_params: { choices: ["red", "green", "blue", "cyan"].slice(0, k) } });
    // three options fit an idle server
    const ok = await post(`${s.url}/generate`, choices(3));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(["red", "green", "blue"].includes(ok.body.text), ok.body.text);
    assert.equal(ok.body.meta_info.choice_logprobs.length, 3);
    // four never fit: a 400 naming the limit, idle
    const never = async (): Promise<void> => {
      const r = await post(`${s.url}/generate`, choices(4));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(envelope(r.body).message, /needs 4 sequences.*\(3\)/);
    };
    await never();
    assert.equal(s.engine.inflight, 0);
    assert.equal((await serverInfo(s)).inflight_requests, 0);

    // busy: one running, two queued; three options could fit but not now: 429 with Retry-After
    const gen = (rid: string): Promise<{ status: number; body: any }> =>
      post(`${s.url}/generate`, { text: "occupy the queue", rid, sampling_params: { max_new_tokens: 200, ignore_eos: true, temperature: 0 } });
    const busy = [gen("a"), gen("b"), gen("c")];
    assert.ok(await until(() => s.engine.stats().running === 1 && s.engine.stats().queued === 2), JSON.stringify(s.engine.stats()));
    const full = await post(`${s.url}/generate`, choices(3));
    assert.equal(full.status, 429, JSON.stringify(full.body));
    assert.equal(full.headers.get("retry-after"), "1");
    const e = envelope(full.body);
    assert.equal(e.type, "rate_limit_error");
    assert.equal(e.code, "rate_limit_exceeded");
    // nothing of it was queued or registered
    assert.equal(s.engine.stats().queued, 2);
    assert.equal(s.engine.inflight, 3);
    await never();
    assert.equal(s.engine.stats().queued, 2);
    assert.equal(s.engine.inflight, 3);

    for (const r of await Promise.all(busy)) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.meta_info.finish_reason, { type: "length", length: 200 });
    }
    assert.ok(await until(() => idle(s)), JSON.stringify(s.engine.stats()));
    const info = await serverInfo(s);
    assert.equal(info.inflight_requests, 0);
    assert.equal(info.stats.queued, 0);
    assert.equal(info.stats.running, 0);
    // nothing left sending: a drain with a 5 s grace period ends at once
    const t0 = performance.now();
    await s.server.drain(5000);
    const ms = performance.now() - t0;
    assert.equal(s.server.state, "closed");
    assert.ok(ms < 1000, `drain took ${ms.toFixed(0)} ms`);
  } finally {
    await s.close();
  }
});
