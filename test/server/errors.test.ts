// Every error in OpenAI's envelope with its status: 400 (naming the parameter), 401, 404, 413,
// 429, 503; malformed and hostile input never takes the server down.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Engine } from "../../src/engine/engine.js";
import { RadixServer } from "../../src/server/http.js";
import { THREAD_PARSE_BYTES } from "../../src/server/json-body.js";
import { JsonSyntaxError, JsonThread } from "../../src/server/json-thread.js";
import { MODEL_NAME, backend, envelope, get, model, post, start, until, type Running } from "./harness.js";

let srv: Running;
before(async () => {
  srv = await start({}, { maxBodyBytes: 64 * 1024 });
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 60_000 };
const chat = (extra: Record<string, unknown>): Record<string, unknown> =>
  ({ model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 2, ...extra });

async function expect400(route: string, body: unknown, param: string | null, code?: string): Promise<string> {
  const r = await post(`${srv.url}${route}`, body);
  assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${JSON.stringify(r.body)}`);
  const e = envelope(r.body);
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.param, param, `param of ${JSON.stringify(body)}: ${e.message}`);
  if (code) assert.equal(e.code, code);
  return e.message;
}

test("400: bad parameters are named, with what they should be", T, async () => {
  const cc = "/v1/chat/completions";
  assert.match(await expect400(cc, chat({ temperature: -1 }), "temperature", "invalid_value"), /temperature.*in \[0, 2\], got -1/);
  await expect400(cc, chat({ top_p: 2 }), "top_p");
  await expect400(cc, chat({ n: 0 }), "n");
  assert.match(await expect400(cc, chat({ max_tokens: "4" }), "max_tokens", "invalid_type"), /expected an integer.*got a string/);
  await expect400(cc, chat({ seed: 1.5 }), "seed", "invalid_type");
  await expect400(cc, chat({ stop: 5 }), "stop", "invalid_type");
  await expect400(cc, chat({ stop: ["a", ""] }), "stop[1]");
  await expect400(cc, chat({ logit_bias: { abc: 1 } }), "logit_bias");
  await expect400(cc, chat({ logit_bias: { "999999": 1 } }), "logit_bias");
  await expect400(cc, chat({ logit_bias: { "5": 500 } }), "logit_bias.5");
  await expect400(cc, chat({ logprobs: "yes" }), "logprobs", "invalid_type");
  await expect400(cc, chat({ top_logprobs: 3 }), "top_logprobs");
  await expect400(cc, chat({ top_logprobs: 50, logprobs: true }), "top_logprobs");
  await expect400(cc, chat({ min_tokens: 5, max_tokens: 2 }), "min_tokens");
  await expect400(cc, chat({ stream: "true" }), "stream", "invalid_type");
  await expect400(cc, chat({ stream_options: { include_usage: 1 } }), "stream_options.include_usage", "invalid_type");
  await expect400(cc, chat({ response_format: { type: "xml" } }), "response_format.type");
  await expect400(cc, chat({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "nope" } } } }), "response_format");
  await expect400(cc, { model: MODEL_NAME }, "messages", "missing_required_parameter");
  await expect400(cc, chat({ messages: [] }), "messages");
  await expect400(cc, chat({ messages: "hi" }), "messages", "invalid_type");
  await expect400(cc, chat({ messages: [{ content: "hi" }] }), "messages[0].role", "missing_required_parameter");
  await expect400(cc, chat({ messages: [{ role: "user", content: 7 }] }), "messages[0].content", "invalid_type");
  await expect400(cc, chat({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), "messages");
  const c = "/v1/completions";
  await expect400(c, { model: MODEL_NAME }, "prompt", "missing_required_parameter");
  await expect400(c, { prompt: 5 }, "prompt", "invalid_type");
  await expect400(c, { prompt: [] }, "prompt", "invalid_type");
  await expect400(c, { prompt: [1, 2, 99999] }, "prompt");
  await expect400(c, { prompt: "", max_tokens: 2 }, "prompt");
  await expect400(c, { prompt: "x", logprobs: 2, echo: true }, "echo");
  await expect400(c, { prompt: "x", best_of: 3 }, "best_of");
  await expect400(c, { prompt: "x", logprobs: 99 }, "logprobs");
  await expect400(c, { prompt: "x", max_tokens: 2, min_tokens: 3 }, "min_tokens");
  await expect400("/generate", { text: "x", input_ids: [1] }, "text");
  await expect400("/generate", { text: "x", sampling_params: { temperature: "hot" } }, "sampling_params.temperature", "invalid_type");
  await expect400("/generate", { input_ids: [1, 2], sampling_params: { top_p: 5 } }, "top_p");
});

test("400: a prompt longer than the context, or one that leaves no room for max_tokens", T, async () => {
  const m = await model();
  const limit = Math.min(m.config.maxPositionEmbeddings, srv.engine.kvCapacity);
  const long = Array.from({ length: limit + 5 }, (_, i) => 10 + (i % 500));
  let msg = await expect400("/v1/completions", { prompt: long, max_tokens: 1 }, "prompt", "context_length_exceeded");
  assert.match(msg, new RegExp(`maximum context length is ${limit} tokens`));
  msg = await expect400("/v1/completions", { prompt: long.slice(0, limit - 10), max_tokens: 50 }, "max_tokens", "context_length_exceeded");
  assert.match(msg, /you requested/);
  await expect400("/v1/chat/completions", { messages: [{ role: "user", content: "word ".repeat(limit) }] }, "messages", "context_length_exceeded");
  // the openai client turns it into a BadRequestError
  await assert.rejects(srv.client.completions.create({ model: MODEL_NAME, prompt: long, max_tokens: 1 }), (e: unknown) =>
    e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === "context_length_exceeded");
});

test("400: malformed JSON, wrong body types, empty bodies; any content type is read as JSON", T, async () => {
  for (const body of ["{", "{\"messages\": [", "nul", "{'a': 1}", "\u0000\u0001"]) {
    const r = await post(`${srv.url}/v1/chat/completions`, body);
    assert.equal(r.status, 400, body);
    assert.equal(envelope(r.body).code, "invalid_json");
  }
  for (const body of ["[]", "null", "42", "\"text\""]) {
    const r = await post(`${srv.url}/v1/chat/completions`, body);
    assert.equal(r.status, 400, body);
    envelope(r.body);
  }
  const empty = await post(`${srv.url}/v1/completions`, "");
  assert.equal(empty.status, 400);
  envelope(empty.body);
  const form = await post(`${srv.url}/v1/completions`, JSON.stringify({ prompt: "hi", max_tokens: 1 }), { "content-type": "application/x-www-form-urlencoded" });
  assert.equal(form.status, 200);
  const proto = await post(`${srv.url}/v1/completions`, "{\"prompt\": \"hi\", \"max_tokens\": 1, \"__proto__\": {\"polluted\": 1}}");
  assert.equal(proto.status, 200);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("big bodies are parsed on the JSON thread with the same rules", T, async (t) => {
  const srv = await start();
  t.after(() => srv.close());
  const pad = " ".repeat(THREAD_PARSE_BYTES);
  const bad = await post(`${srv.url}/v1/chat/completions`, `{"messages": [${pad}`);
  assert.equal(bad.status, 400);
  assert.equal(envelope(bad.body).code, "invalid_json");
  const blank = await post(`${srv.url}/v1/completions`, pad);
  assert.equal(blank.status, 400);
  envelope(blank.body);
  const proto = await post(`${srv.url}/v1/completions`, `{"prompt": "hi", "max_tokens": 1, ${pad} "__proto__": {"polluted": 1}}`);
  assert.equal(proto.status, 200);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // a prompt of two-byte characters: some fall across the socket's chunks
  const text = "é".repeat(THREAD_PARSE_BYTES);
  const tok = await post(`${srv.url}/tokenize`, { prompt: text, add_special_tokens: false });
  assert.equal(tok.status, 200);
  // the text arrived whole: the server's ids are this tokenizer's ids for it
  assert.deepEqual(tok.body.tokens, srv.engine.model.tokenizer.encode(text, { addSpecial: false }));
});

test("the JSON thread: chunks in order, a split character, errors, and a new worker after close", T, async () => {
  const thread = new JsonThread();
  const bytes = Buffer.from(JSON.stringify({ a: "é€😀", b: [1, 2] }));
  const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
  assert.deepEqual(await thread.parse(chunks), { a: "é€😀", b: [1, 2] });
  assert.equal(await thread.parse([Buffer.from(" \n\t ")]), undefined);
  await assert.rejects(thread.parse([Buffer.from("{\"a\":")]), JsonSyntaxError);
  const poisoned = (await thread.parse([Buffer.from('{"__proto__": {"x": 1}, "y": 2}')])) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(poisoned), Object.prototype);
  assert.equal(poisoned.x, undefined);
  assert.equal(poisoned.y, 2);
  const pending = assert.rejects(thread.parse([Buffer.from("[1]")]), /closed/);
  await thread.close();
  await pending;
  assert.deepEqual(await thread.parse([Buffer.from("[2]")]), [2]);
  await thread.close();
});

test("404: unknown routes; unknown models only with --strict-model-name (any name gets the one model otherwise)", T, async () => {
  const r = await post(`${srv.url}/v1/nothing`, {});
  assert.equal(r.status, 404);
  assert.equal(envelope(r.body).code, "unknown_url");
  assert.equal((await get(`${srv.url}/nope`)).status, 404);
  // Tools hard-code "gpt-4o": served by the loaded model, as SGLang and llama.cpp do.
  const any = await srv.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
  assert.equal(any.choices.length, 1);
  assert.equal((await srv.client.completions.create({ model: "other", prompt: "x", max_tokens: 1 })).choices.length, 1);
  // Retrieving a model by a name that is not served stays a 404.
  await assert.rejects(srv.client.models.retrieve("gpt-4o"), (e: unknown) => e instanceof OpenAI.NotFoundError);
  const strict = await start({}, { strictModelName: true });
  try {
    const m = await post(`${strict.url}/v1/chat/completions`, chat({ model: "gpt-4o" }));
    assert.equal(m.status, 404);
    assert.equal(envelope(m.body).code, "model_not_found");
    assert.equal(envelope(m.body).param, "model");
    await assert.rejects(strict.client.completions.create({ model: "other", prompt: "x" }), (e: unknown) => e instanceof OpenAI.NotFoundError);
    assert.equal((await post(`${strict.url}/v1/chat/completions`, chat({}))).status, 200);
  } finally {
    await strict.close();
  }
});

test("413: a body over the limit", T, async () => {
  const big = JSON.stringify({ prompt: "x".repeat(200 * 1024) });
  const r = await post(`${srv.url}/v1/completions`, big);
  assert.equal(r.status, 413);
  assert.equal(envelope(r.body).code, "request_too_large");
  // the connection and the server survive
  assert.equal((await get(`${srv.url}/health`)).status, 200);
});

test("a flood of bad requests never takes the server down", T, async () => {
  const bad: (string | Record<string, unknown>)[] = [
    "{", "[]", "null", chat({ temperature: "x" }), chat({ messages: [{}] }), chat({ n: 1e9 }), chat({ logit_bias: [] }),
    { prompt: [[1, 2], "x"] }, { prompt: [[-1]] }, chat({ max_tokens: -5 }), chat({ stop: Array(100).fill("a") }), chat({ seed: "1" }),
    "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}", chat({ messages: [{ role: "user", content: [{ text: "no type" }] }] }),
  ];
  const routes = ["/v1/chat/completions", "/v1/completions", "/generate", "/tokenize", "/detokenize", "/abort_request"];
  const sends: Promise<{ status: number; body: any }>[] = [];
  for (let i = 0; i < 600; i++) sends.push(post(`${srv.url}${routes[i % routes.length]}`, bad[i % bad.length]!));
  const results = await Promise.all(sends);
  for (const r of results) {
    // some bodies are fine for some routes (a chat body is a valid /tokenize request)
    assert.ok(r.status < 500, `status ${r.status}: ${JSON.stringify(r.body)}`);
    if (r.status >= 400) envelope(r.body);
  }
  assert.ok(results.filter((r) => r.status >= 400).length > 500);
  const ok = await srv.client.completions.create({ model: MODEL_NAME, prompt: "still here", max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
  assert.ok(await until(() => srv.engine.stats().running === 0 && srv.engine.stats().queued === 0));
});

test("401: a missing or wrong key; health and metrics stay open", T, async () => {
  const s = await start({}, { apiKey: "sekret-key" });
  try {
    const none = await post(`${s.url}/v1/completions`, { prompt: "x", max_tokens: 1 });
    assert.equal(none.status, 401);
    assert.equal(envelope(none.body).code, "missing_api_key");
    const wrong = await post(`${s.url}/v1/completions`, { prompt: "x", max_tokens: 1 }, { authorization: "Bearer sekret-kez" });
    assert.equal(wrong.status, 401);
    assert.equal(envelope(wrong.body).code, "invalid_api_key");
    const short = await post(`${s.url}/generate`, { text: "x" }, { authorization: "Bearer s" });
    assert.equal(short.status, 401);
    assert.equal((await get(`${s.url}/v1/models`)).status, 401);
    assert.equal((await get(`${s.url}/health`)).status, 200);
    assert.equal((await get(`${s.url}/metrics`)).status, 200);
    const right = await post(`${s.url}/v1/completions`, { prompt: "x", max_tokens: 1 }, { authorization: "Bearer sekret-key" });
    assert.equal(right.status, 200);
    const x = await post(`${s.url}/v1/completions`, { prompt: "x", max_tokens: 1 }, { "x-api-key": "sekret-key" });
    assert.equal(x.status, 200);
    const wrongClient = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "nope", maxRetries: 0 });
    await assert.rejects(wrongClient.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    assert.equal((await s.client.models.list()).data.length, 1);
  } finally {
    await s.close();
  }
});

test("429: a full queue", T, async () => {
  const s = await start({ maxRunningRequests: 1, maxQueuedRequests: 1 });
  try {
    const body = { prompt: "queue me", max_tokens: 40, ignore_eos: true, temperature: 0 };
    const results = await Promise.all(Array.from({ length: 8 }, () => post(`${s.url}/v1/completions`, body)));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.includes(200), statuses.join());
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, statuses.join());
    for (const r of limited) {
      assert.equal(envelope(r.body).code, "rate_limit_exceeded");
      assert.equal(r.headers.get("retry-after"), "1");
    }
    assert.ok(statuses.every((x) => x === 200 || x === 429), statuses.join());
  } finally {
    await s.close();
  }
});

test("503 while loading (metrics answer), and while draining", T, async () => {
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0 });
  const url = await server.listen("127.0.0.1", 0);
  try {
    const loading = await post(`${url}/v1/completions`, { prompt: "x" });
    assert.equal(loading.status, 503);
    assert.equal(envelope(loading.body).code, "service_unavailable");
    assert.equal((await get(`${url}/health`)).status, 503);
    assert.equal((await get(`${url}/metrics`)).status, 200);
    const engine = await Engine.create({ model: await model(), backend: backend(), maxTotalTokens: 4096 });
    server.attach(engine);
    assert.equal((await get(`${url}/health`)).status, 200);

    // a stream in flight finishes; new requests meanwhile get 503
    const r = await fetch(`${url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "drain me", max_tokens: 60, ignore_eos: true, stream: true, temperature: 0 }),
    });
    assert.equal(r.status, 200);
    const drained = server.drain(30_000);
    const during = await post(`${url}/v1/completions`, { prompt: "x" }).catch(() => null);
    if (during) {
      assert.equal(during.status, 503);
      assert.equal(envelope(during.body).code, "service_unavailable");
    }
    const text = await r.text();
    assert.match(text, /"finish_reason":"length"/);
    assert.ok(text.endsWith("data: [DONE]\n\n"));
    await drained;
    assert.equal(server.state, "closed");
  } finally {
    await server.drain(0);
  }
});
