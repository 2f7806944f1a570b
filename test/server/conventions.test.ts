// The conventions OpenAI-compatible servers share: CORS for browser pages (off by default),
// OpenAI's parameter ranges, GET / describing the server, and the process's own metrics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { envelope, get, MODEL_NAME, post, start, type Running } from "./harness.js";
import { parseOrigins } from "../../src/cli/serve.js";
import { cli } from "../helpers/cli.js";

let plain: Running;
let cors: Running;
before(async () => {
  plain = await start();
  cors = await start({}, { corsAllowOrigins: ["http://app.example", "http://localhost:5173"], apiKey: "k" });
});
after(async () => {
  await plain?.close();
  await cors?.close();
});

const T = { timeout: 60_000 };
const preflight = (url: string, origin: string): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });

test("CORS off by default: a preflight gets no allow-origin, so a page on another origin is refused by its browser", T, async () => {
  const r = await preflight(plain.url, "http://app.example");
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  const p = await post(`${plain.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 1 }, { origin: "http://app.example" });
  assert.equal(p.status, 200);
  assert.equal(p.headers.get("access-control-allow-origin"), null);
});

test("CORS on: listed origins get their preflight answered (without the key) and the headers on answers and errors; others get none", T, async () => {
  const ok = await preflight(cors.url, "http://app.example");
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("access-control-allow-origin"), "http://app.example");
  assert.match(ok.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match(ok.headers.get("access-control-allow-headers") ?? "", /authorization/);
  const body = { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 1 };
  const answered = await post(`${cors.url}/v1/chat/completions`, body, { origin: "http://localhost:5173", authorization: "Bearer k" });
  assert.equal(answered.status, 200);
  assert.equal(answered.headers.get("access-control-allow-origin"), "http://localhost:5173");
  // A page can read the 401 that tells it the key is missing.
  const denied = await post(`${cors.url}/v1/chat/completions`, body, { origin: "http://app.example" });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get("access-control-allow-origin"), "http://app.example");
  const stranger = await preflight(cors.url, "http://evil.example");
  assert.equal(stranger.headers.get("access-control-allow-origin"), null);
});

test("--cors-allow-origin takes origins or *; a path, a bare host or an empty list is a usage error", () => {
  assert.deepEqual(parseOrigins("http://a.example, https://b.example:8443"), ["http://a.example", "https://b.example:8443"]);
  assert.deepEqual(parseOrigins("*"), ["*"]);
  assert.equal(parseOrigins(undefined), undefined);
  for (const bad of ["", "http://a.example/app", "a.example", "ftp://a.example"]) assert.throws(() => parseOrigins(bad), /--cors-allow-origin/);
  const r = cli(["serve", "--cors-allow-origin", "a.example", "--port", "0"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--cors-allow-origin: "a.example" is not an origin/);
});

test("OpenAI's ranges: temperature 0-2, top_p (0, 1], presence and frequency penalties -2..2; an unknown role: 400 naming the parameter", T, async () => {
  const base = { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 1 };
  for (const [extra, param] of [
    [{ temperature: 3 }, "temperature"], [{ temperature: -0.1 }, "temperature"], [{ top_p: 1.5 }, "top_p"], [{ top_p: 0 }, "top_p"],
    [{ presence_penalty: 2.5 }, "presence_penalty"], [{ frequency_penalty: -3 }, "frequency_penalty"],
  ] as const) {
    const r = await post(`${plain.url}/v1/chat/completions`, { ...base, ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal(envelope(r.body).param, param);
  }
  const c = await post(`${plain.url}/v1/completions`, { model: MODEL_NAME, prompt: "x", temperature: 2.01 });
  assert.equal(c.status, 400);
  assert.equal(envelope(c.body).param, "temperature");
  assert.equal((await post(`${plain.url}/v1/chat/completions`, { ...base, temperature: 2 })).status, 200);
  const role = await post(`${plain.url}/v1/chat/completions`, { ...base, messages: [{ role: "wizard", content: "hi" }] });
  assert.equal(role.status, 400);
  assert.match(envelope(role.body).param ?? "", /role/);
});

test("GET / names the server, its version, the model and its routes", T, async () => {
  const r = await get(`${plain.url}/`);
  assert.equal(r.status, 200);
  assert.equal(r.body.name, "radixlm");
  assert.match(r.body.version, /^\d+\.\d+\.\d+$/);
  assert.equal(r.body.model, MODEL_NAME);
  for (const route of ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/generate"]) {
    assert.ok((r.body.routes as string[]).includes(route), route);
  }
});

test("/metrics carries the process's and Node.js runtime's metrics beside the engine's", T, async () => {
  const text = await (await fetch(`${plain.url}/metrics`)).text();
  for (const name of ["process_cpu_user_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"]) {
    assert.match(text, new RegExp(`^${name}`, "m"), name);
  }
  assert.match(text, /^sglang:|^radixlm:/m);
});

test("SGLang's regex and ebnf extras constrain a chat or completion; with response_format too, a 400 naming the second", T, async () => {
  const chat = await post(`${plain.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 8, regex: "(yes|no)" });
  assert.equal(chat.status, 200);
  assert.match(chat.body.choices[0].message.content, /^(yes|no)$/);
  const comp = await post(`${plain.url}/v1/completions`, { model: MODEL_NAME, prompt: "x", max_tokens: 8, ebnf: 'root ::= "ab" | "cd"' });
  assert.equal(comp.status, 200);
  assert.match(comp.body.choices[0].text, /^(ab|cd)$/);
  const both = await post(`${plain.url}/v1/chat/completions`, {
    model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], regex: "a", response_format: { type: "json_object" },
  });
  assert.equal(both.status, 400);
  assert.equal(envelope(both.body).param, "regex");
});
