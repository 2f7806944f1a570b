// CORS in a real browser: a page served from another origin (another port on 127.0.0.1) calls
// /v1/chat/completions with fetch, as a browser app would, in headless Chromium. Its JSON body
// and Authorization header make Chromium send a preflight first. With --cors-allow-origin
// naming the page's origin the page reads the completion, the streamed chunks and a 401's
// body; without CORS, or from an origin not on the list, Chromium stops at the preflight and
// fetch rejects with a TypeError, the POST never reaching the server. Skipped, with one
// message, where there is no Chromium (see test/helpers/browser.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { chromiumSkip, launchChromium, type BrowserPage, type HeadlessBrowser } from "../helpers/browser.js";
import { envelope, MODEL_NAME, post, start, type Running } from "./harness.js";

const KEY = "page-key";
const T = { timeout: 120_000 };

/** What the page's script hands back: the response as read, or the error fetch rejected with. */
type PageResult =
  | { readonly ok: true; readonly status: number; readonly contentType: string | null; readonly text: string; readonly reads: number }
  | { readonly ok: false; readonly name: string; readonly message: string };

interface PageWindow {
  chat(apiUrl: string, key: string, body: unknown): Promise<PageResult>;
}

// The browser app: a page whose script calls the API on another origin.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>radixlm from another origin</title></head>
<body><p>radixlm CORS test page</p>
<script>
window.chat = async (apiUrl, key, body) => {
  try {
    const r = await fetch(apiUrl + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + key },
      body: JSON.stringify(body),
    });
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let reads = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      text += decoder.decode(value, { stream: true });
    }
    text += decoder.decode();
    return { ok: true, status: r.status, contentType: r.headers.get("content-type"), text, reads };
  } catch (e) {
    return { ok: false, name: e.name, message: String(e.message) };
  }
};
</script></body></html>`;

interface PageServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** A plain HTTP server on 127.0.0.1 serving PAGE at /: its own origin, by its port. */
async function servePage(): Promise<PageServer> {
  const server = http.createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Every request the API server takes, as "METHOD path origin", from its HTTP server's own event. */
function watch(r: Running): string[] {
  const seen: string[] = [];
  r.server.app.server.on("request", (req: http.IncomingMessage) => seen.push(`${req.method} ${req.url} ${req.headers.origin ?? "-"}`));
  return seen;
}

/** The SSE events of a streamed body: JSON objects, and "[DONE]". */
function sse(text: string): unknown[] {
  return text.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => (b.slice(6) === "[DONE]" ? "[DONE]" : JSON.parse(b.slice(6)) as unknown));
}

const chatBody = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ model: MODEL_NAME, messages: [{ role: "user", content: "What color is the sky?" }], max_tokens: 8, temperature: 0, ...extra });

describe("a page on another origin calls /v1/chat/completions from headless Chromium", { skip: chromiumSkip() }, () => {
  let browser: HeadlessBrowser;
  let allowed: PageServer;
  let stranger: PageServer;
  let on: Running;
  let off: Running;
  let onSeen: string[];
  let offSeen: string[];
  const pages: BrowserPage[] = [];

  before(async () => {
    const b = await launchChromium();
    assert.ok(b, "chromium was found but did not launch");
    browser = b;
    allowed = await servePage();
    stranger = await servePage();
    on = await start({}, { corsAllowOrigins: [allowed.origin], apiKey: KEY });
    off = await start();
    onSeen = watch(on);
    offSeen = watch(off);
  });

  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
    await on?.close();
    await off?.close();
    await allowed?.close();
    await stranger?.close();
  });

  /** Opens the page at `origin` in a fresh context and runs its fetch against `apiUrl`. */
  async function fromPage(origin: string, apiUrl: string, key: string, body: unknown): Promise<{ result: PageResult; console: string[] }> {
    const p = await browser.newPage();
    pages.push(p);
    await p.page.goto(`${origin}/`);
    const result = await p.page.evaluate(({ apiUrl, key, body }) => (window as unknown as PageWindow).chat(apiUrl, key, body), { apiUrl, key, body });
    return { result, console: p.console };
  }

  test("Chromium runs, and the pages' origins differ from the API's", T, (t) => {
    t.diagnostic(`${browser.executablePath}: Chromium ${browser.version}; page ${allowed.origin}, API ${on.url}`);
    assert.notEqual(new URL(allowed.origin).origin, new URL(on.url).origin);
    assert.notEqual(new URL(stranger.origin).origin, new URL(on.url).origin);
  });

  test("CORS on: the preflight passes and the page reads the 200 and the completion JSON", T, async () => {
    const before = onSeen.length;
    const { result } = await fromPage(allowed.origin, on.url, KEY, chatBody());
    assert.ok(result.ok, `fetch rejected: ${JSON.stringify(result)}`);
    assert.equal(result.status, 200, result.text);
    assert.match(result.contentType ?? "", /^application\/json/);
    const body = JSON.parse(result.text) as { object: string; choices: { message: { role: string; content: unknown }; finish_reason: string }[]; usage: { completion_tokens: number } };
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0]!.message.role, "assistant");
    assert.equal(typeof body.choices[0]!.message.content, "string");
    assert.ok(body.usage.completion_tokens > 0 && body.usage.completion_tokens <= 8);
    // Chromium asked first (OPTIONS, without the key), then sent the POST
    assert.deepEqual(onSeen.slice(before), [`OPTIONS /v1/chat/completions ${allowed.origin}`, `POST /v1/chat/completions ${allowed.origin}`]);
  });

  // The SSE stream writes its own head (sse.ts): it must carry the CORS headers, or Chromium refuses every streamed answer.
  test("CORS on: a streamed request's SSE chunks reach the page through the ReadableStream reader", T, async () => {
    const { result, console } = await fromPage(allowed.origin, on.url, KEY, chatBody({ stream: true }));
    assert.ok(result.ok, `fetch rejected: ${JSON.stringify(result)}; Chromium said:\n${console.join("\n")}`);
    assert.equal(result.status, 200, result.text);
    assert.match(result.contentType ?? "", /^text\/event-stream/);
    assert.ok(result.reads >= 1);
    const events = sse(result.text);
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1) as { object: string; choices: { delta: { content?: unknown }; finish_reason: string | null }[] }[];
    assert.ok(chunks.length >= 2, `only ${chunks.length} chunks: ${result.text}`);
    for (const c of chunks) assert.equal(c.object, "chat.completion.chunk");
    assert.ok(chunks.some((c) => typeof c.choices[0]?.delta.content === "string" && c.choices[0].delta.content !== ""), "no content delta");
    assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === "length" || c.choices[0]?.finish_reason === "stop"), "no finish_reason");
  });

  test("CORS on, wrong key: the page reads the 401 and its error envelope (CORS headers on errors)", T, async () => {
    const { result } = await fromPage(allowed.origin, on.url, "wrong-key", chatBody());
    assert.ok(result.ok, `fetch rejected: ${JSON.stringify(result)}`);
    assert.equal(result.status, 401, result.text);
    assert.match(result.contentType ?? "", /^application\/json/);
    const e = envelope(JSON.parse(result.text));
    assert.equal(e.code, "invalid_api_key");
    assert.equal(e.type, "invalid_request_error");
  });

  test("CORS on: a page on an origin not in the list is refused at the preflight", T, async () => {
    const before = onSeen.length;
    const { result, console } = await fromPage(stranger.origin, on.url, KEY, chatBody());
    assert.ok(!result.ok, `the stranger's fetch got through: ${JSON.stringify(result)}`);
    assert.equal(result.name, "TypeError");
    assert.deepEqual(onSeen.slice(before), [`OPTIONS /v1/chat/completions ${stranger.origin}`]);
    assert.ok(console.some((l) => /blocked by CORS policy/.test(l) && /preflight/.test(l)), `Chromium said:\n${console.join("\n")}`);
  });

  test("CORS off: fetch rejects with a TypeError at the preflight; the server still serves a same-origin request", T, async () => {
    const before = offSeen.length;
    const { result, console } = await fromPage(allowed.origin, off.url, KEY, chatBody());
    assert.ok(!result.ok, `fetch got through with CORS off: ${JSON.stringify(result)}`);
    assert.equal(result.name, "TypeError");
    // Chromium stopped at the preflight: the POST never left the browser
    assert.deepEqual(offSeen.slice(before), [`OPTIONS /v1/chat/completions ${allowed.origin}`]);
    assert.ok(console.some((l) => /blocked by CORS policy/.test(l) && /preflight/.test(l)), `Chromium said:\n${console.join("\n")}`);
    const r = await post(`${off.url}/v1/chat/completions`, chatBody());
    assert.equal(r.status, 200);
    assert.equal(typeof r.body.choices[0].message.content, "string");
  });
});
