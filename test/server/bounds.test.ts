// The documented bounds of a request (README, Serving), through the real server: each one
// just over its limit is a 400 naming the parameter, the limit itself is accepted, and a
// refusal leaves nothing running. Headers over Node's limit get the envelope with a 431.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import OpenAI from "openai";
import { MAX_CACHE_SALT_LENGTH, MAX_SEQUENCES_PER_REQUEST } from "../../src/engine/input.js";
import { MAX_LOGIT_BIAS, MAX_STOP_STRING_LENGTH, MAX_STOP_STRINGS, MAX_STOP_TOKEN_IDS, MAX_STOP_TOTAL_LENGTH } from "../../src/sampling/params.js";
import { CHAT_ROLES, MAX_MESSAGES, MAX_MODEL_LENGTH, MAX_PROMPTS, MAX_RID_LENGTH, MAX_TOOLS } from "../../src/server/schema.js";
import { MODEL_NAME, envelope, get, post, start, until, withExtra, type Running } from "./harness.js";

const T = { timeout: 120_000 };

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const chat = (extra: Record<string, unknown>): Record<string, unknown> =>
  ({ model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 1, ...extra });

async function expect400(route: string, body: unknown, param: string, pattern?: RegExp): Promise<void> {
  const r = await post(`${srv.url}${route}`, body);
  const e = r.status === 400 ? envelope(r.body) : null;
  assert.equal(r.status, 400, `${route}: ${JSON.stringify(r.body).slice(0, 300)}`);
  assert.equal(e!.param, param, e!.message);
  assert.equal(e!.type, "invalid_request_error");
  if (pattern) assert.match(e!.message, pattern);
}

async function expect200(route: string, body: unknown): Promise<void> {
  const r = await post(`${srv.url}${route}`, body);
  assert.equal(r.status, 200, `${route}: ${JSON.stringify(r.body).slice(0, 300)}`);
}

/** Nothing in flight or queued: a refused request left nothing behind. */
async function settled(): Promise<void> {
  assert.ok(await until(() => srv.engine.inflight === 0 && srv.engine.stats().queued === 0 && srv.engine.stats().running === 0));
}

test("cache_salt: at most 256 characters, on every route", T, async () => {
  const ok = "s".repeat(MAX_CACHE_SALT_LENGTH);
  const long = ok + "s";
  await expect200("/v1/chat/completions", chat({ cache_salt: ok }));
  await expect400("/v1/chat/completions", chat({ cache_salt: long }), "cache_salt", /at most 256 characters/);
  await expect400("/v1/completions", { prompt: "x", max_tokens: 1, cache_salt: long }, "cache_salt");
  await expect400("/generate", { text: "x", sampling_params: { max_new_tokens: 1 }, cache_salt: long }, "cache_salt");
  await expect400("/generate", { text: ["x", "y"], sampling_params: { max_new_tokens: 1 }, cache_salt: long }, "cache_salt");
  await settled();
});

test("stop: at most 16 strings of at most 256 characters, 1,024 in all", T, async () => {
  const each = "z".repeat(MAX_STOP_STRING_LENGTH);
  await expect200("/v1/chat/completions", chat({ stop: Array.from({ length: 4 }, (_, i) => each.slice(i)) }));
  await expect200("/generate", { text: "x", sampling_params: { max_new_tokens: 1, stop: Array.from({ length: MAX_STOP_STRINGS }, (_, i) => `s${i}`) } });
  await expect400("/generate", { text: "x", sampling_params: { stop: Array.from({ length: MAX_STOP_STRINGS + 1 }, (_, i) => `s${i}`) } }, "stop", /at most 16/);
  await expect400("/v1/chat/completions", chat({ stop: Array.from({ length: MAX_STOP_STRINGS + 1 }, (_, i) => `s${i}`) }), "stop");
  await expect400("/v1/chat/completions", chat({ stop: each + "z" }), "stop", /at most 256 characters/);
  await expect400("/v1/completions", { prompt: "x", stop: [each + "z"] }, "stop");
  await expect400("/generate", { text: "x", sampling_params: { stop: each + "z" } }, "stop");
  const total = Array.from({ length: MAX_STOP_TOTAL_LENGTH / MAX_STOP_STRING_LENGTH + 1 }, (_, i) => each.slice(i));
  await expect400("/v1/chat/completions", chat({ stop: total }), "stop", /1024 characters in all/);
  await settled();
});

test("logit_bias: at most 1,024 entries; stop_token_ids: at most 1,024 ids; /detokenize: at most 262,144 tokens", T, async () => {
  const bias = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i % 1000), i >= 1000 ? 0 : -1]));
  await expect200("/v1/chat/completions", chat({ logit_bias: bias(1000) }));
  const over = { ...bias(1000), ...Object.fromEntries(Array.from({ length: MAX_LOGIT_BIAS + 1 - 1000 }, (_, i) => [String(100_000 + i), 1])) };
  await expect400("/v1/chat/completions", chat({ logit_bias: over }), "logit_bias", /at most 1024 entries/);
  await expect400("/v1/completions", { prompt: "x", max_tokens: 1, logit_bias: over }, "logit_bias");
  await expect400("/generate", { text: "x", sampling_params: { max_new_tokens: 1, logit_bias: over } }, "logit_bias");
  const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i % 1000);
  await expect200("/generate", { text: "x", sampling_params: { max_new_tokens: 1, stop_token_ids: ids(MAX_STOP_TOKEN_IDS) } });
  await expect400("/generate", { text: "x", sampling_params: { max_new_tokens: 1, stop_token_ids: ids(MAX_STOP_TOKEN_IDS + 1) } }, "stop_token_ids", /at most 1024 token ids/);
  await expect400("/v1/completions", { prompt: "x", max_tokens: 1, stop_token_ids: ids(MAX_STOP_TOKEN_IDS + 1) }, "stop_token_ids");
  await expect200("/detokenize", { tokens: ids(262_144) });
  await expect400("/detokenize", { tokens: ids(262_145) }, "tokens");
  await settled();
});

test("prompts × n: at most 1,024 sequences per request; 128 prompts × n 128 is refused at once", T, async () => {
  const prompts = Array.from({ length: MAX_PROMPTS }, (_, i) => `prompt ${i}`);
  const t0 = performance.now();
  await expect400("/generate", { text: prompts, sampling_params: { n: 128, max_new_tokens: 8 } }, "n", /16384 sequences.*\(1024\)/);
  await expect400("/v1/completions", { prompt: prompts, n: 128, max_tokens: 8 }, "n", /16384 sequences/);
  const over = Math.floor(MAX_SEQUENCES_PER_REQUEST / 128) + 1;
  await expect400("/generate", { input_ids: Array.from({ length: over }, (_, i) => [1, 2 + i]), sampling_params: { n: 128 } }, "n", new RegExp(`${over * 128} sequences`));
  assert.ok(performance.now() - t0 < 10_000, `refusals took ${performance.now() - t0} ms`);
  await settled();
  // more prompts than a list may hold
  await expect400("/v1/completions", { prompt: [...prompts, "one more"] }, "prompt");
  await expect400("/generate", { text: [...prompts, "one more"] }, "text");
  await expect400("/tokenize", { prompt: [...prompts, "one more"] }, "prompt");
});

test("rid: at most 256 characters", T, async () => {
  const rid = "r".repeat(MAX_RID_LENGTH);
  const r = await post(`${srv.url}/generate`, { text: "x", rid, sampling_params: { max_new_tokens: 1 } });
  assert.equal(r.status, 200);
  assert.equal(r.body.meta_info.id, rid);
  await expect400("/generate", { text: "x", rid: rid + "r" }, "rid", /at most 256 characters/);
  await expect400("/abort_request", { rid: rid + "r" }, "rid");
  await settled();
});

test("messages: at most 10,000; a 300,000-message array is refused without rendering it", T, async () => {
  const msgs = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "a" }));
  await expect400("/v1/chat/completions", chat({ messages: msgs(MAX_MESSAGES + 1) }), "messages", /at most 10000 messages.*got a list of 10001 items/);
  const t0 = performance.now();
  await expect400("/v1/chat/completions", chat({ messages: msgs(300_000) }), "messages");
  const huge = performance.now() - t0;
  await expect400("/tokenize", { messages: msgs(300_000) }, "messages");
  // 10,000 short messages fit neither this model's context nor a refusal by count
  const r = await post(`${srv.url}/v1/chat/completions`, chat({ messages: msgs(MAX_MESSAGES) }));
  assert.equal(r.status, 400);
  assert.equal(envelope(r.body).code, "context_length_exceeded");
  assert.ok(huge < 5000, `the 300,000-message body took ${huge} ms`);
  await settled();
});

test("tools: at most 512", T, async () => {
  const tools = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ type: "function", function: { name: `f${i}` } }));
  await expect400("/v1/chat/completions", chat({ tools: tools(MAX_TOOLS + 1) }), "tools", /at most 512 tools/);
  await expect400("/tokenize", { messages: [{ role: "user", content: "x" }], tools: tools(MAX_TOOLS + 1) }, "tools");
});

test("model: at most 4,096 characters (an unknown one gets the loaded model, or with --strict-model-name a 404 that echoes it)", T, async () => {
  await expect400("/v1/chat/completions", chat({ model: "m".repeat(MAX_MODEL_LENGTH + 1) }), "model");
  const r = await post(`${srv.url}/v1/chat/completions`, chat({ model: "m".repeat(MAX_MODEL_LENGTH) }));
  assert.equal(r.status, 200);
  const strict = await start({}, { strictModelName: true });
  try {
    const s = await post(`${strict.url}/v1/chat/completions`, chat({ model: "m".repeat(MAX_MODEL_LENGTH) }));
    assert.equal(s.status, 404);
    assert.ok(s.body.error.message.includes("m".repeat(MAX_MODEL_LENGTH)));
  } finally {
    await strict.close();
  }
});

test("roles: OpenAI's six are accepted, any other is a 400 naming messages[i].role", T, async () => {
  for (const role of CHAT_ROLES) {
    const messages = role === "user" ? [{ role, content: "x" }] : [{ role, content: "x", name: "n" }, { role: "user", content: "y" }];
    await expect200("/v1/chat/completions", chat({ messages }));
  }
  await expect400("/v1/chat/completions", chat({ messages: [{ role: "user", content: "x" }, { role: "wizard", content: "y" }] }), "messages[1].role", /one of system, developer/);
  await expect400("/tokenize", { messages: [{ role: "System", content: "x" }] }, "messages[0].role");
  await assert.rejects(
    srv.client.chat.completions.create(withExtra({ model: MODEL_NAME, messages: [{ role: "user", content: "x" }], max_tokens: 1 }, { messages: [{ role: "root", content: "x" }] })),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "messages[0].role");
});

/** Sends raw bytes and reads the whole answer (the server closes the connection). */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => sock.end(request));
    let data = "";
    sock.on("data", (d: Buffer) => (data += d.toString("utf8")));
    sock.on("close", () => resolve(data));
    sock.on("error", (err) => (data ? resolve(data) : reject(err)));
  });
}

function answerOf(text: string): { status: number; body: unknown } {
  const [head, body] = text.split("\r\n\r\n", 2) as [string, string];
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), body: JSON.parse(body) };
}

test("431: a URL or headers over the limit get the envelope; the server goes on", T, async () => {
  const long = await fetch(`${srv.url}/health?q=${"x".repeat(40_000)}`);
  assert.equal(long.status, 431);
  const e = envelope(await long.json());
  assert.equal(e.code, "request_header_fields_too_large");
  assert.equal(e.type, "invalid_request_error");
  const header = await fetch(`${srv.url}/v1/models`, { headers: { "x-junk": "y".repeat(40_000) } });
  assert.equal(header.status, 431);
  assert.equal(envelope(await header.json()).code, "request_header_fields_too_large");
  // a request line that is not HTTP: 400 in the envelope too
  const bad = answerOf(await raw(srv.url, "NOT HTTP AT ALL\r\n\r\n"));
  assert.equal(bad.status, 400);
  assert.equal(envelope(bad.body).code, "bad_request");
  assert.equal((await get(`${srv.url}/health`)).status, 200);
});
