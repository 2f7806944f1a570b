// A small OpenAI/SGLang-style server on 127.0.0.1 (node:http) whose timing is known: the
// first token after `ttftMs`, then one token every `itlMs`. It records what it was sent and
// reports cached tokens the way the real servers do (usage, native meta_info, llama.cpp's
// timings, Prometheus counters), with figures the tests can predict; and speculative decoding
// as radixlm does in usage and meta_info: of n output tokens, floor(n/2) drafts accepted and
// floor(n/4) rejected, in ceil(n/4) verifications.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeOptions {
  ttftMs: number;
  itlMs: number;
  /** "usage": OpenAI usage with cached_tokens; "timings": llama.cpp's timings, no usage. */
  report: "usage" | "timings";
  /** Never answer: the client's timeout has to end the request. */
  hang: boolean;
  /** Answer every request whose index is in here with HTTP 500. */
  failIndexes: readonly number[];
  /** The body of GET /get_server_info (404 when null). */
  serverInfo: Record<string, unknown> | null;
}

export interface Received {
  readonly path: string;
  readonly body: Record<string, unknown>;
}

export interface FakeServer {
  readonly url: string;
  readonly received: Received[];
  /** The most requests in flight at once. */
  readonly maxInFlight: () => number;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prompt length as this server counts it: ids, or words of text. */
function promptTokens(path: string, b: Record<string, unknown>): number {
  const words = (s: string): number => s.split(" ").filter((w) => w !== "").length;
  if (path === "/generate") return Array.isArray(b.input_ids) ? b.input_ids.length : words(String(b.text ?? ""));
  if (path === "/v1/chat/completions") return (b.messages as { content: string }[]).reduce((a, m) => a + words(m.content), 0);
  return Array.isArray(b.prompt) ? b.prompt.length : words(String(b.prompt));
}

export async function startFake(opts: Partial<FakeOptions> = {}): Promise<FakeServer> {
  const o: FakeOptions = { ttftMs: 100, itlMs: 20, report: "usage", hang: false, failIndexes: [], serverInfo: null, ...opts };
  const received: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  // Prometheus totals start from a non-zero baseline: the client must use the difference.
  let promptTotal = 1000;
  let cachedTotal = 100;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      void handle(req.method ?? "GET", req.url ?? "/", raw, res);
    });
  });
  server.keepAliveTimeout = 1;

  async function handle(method: string, path: string, raw: string, res: http.ServerResponse): Promise<void> {
    if (method === "GET" && path === "/v1/models") return json(res, { object: "list", data: [{ id: "fake-model", object: "model" }] });
    if (method === "GET" && path === "/get_server_info" && o.serverInfo !== null) return json(res, o.serverInfo);
    if (method === "GET" && path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`# HELP radixlm:prompt_tokens_total x\n# TYPE radixlm:prompt_tokens_total counter\nradixlm:prompt_tokens_total{model_name="fake"} ${promptTotal}\n` +
        `radixlm:cached_tokens_total{model_name="fake"} ${cachedTotal}\n`);
      return;
    }
    if (method !== "POST" || !["/v1/completions", "/v1/chat/completions", "/generate"].includes(path)) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(raw) as Record<string, unknown>;
    const index = received.length;
    received.push({ path, body });
    if (o.hang) return; // the socket stays open, nothing is sent
    if (o.failIndexes.includes(index)) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "fake failure", type: "server_error" } }));
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await stream(path, body, res);
    } finally {
      inFlight--;
    }
  }

  async function stream(path: string, b: Record<string, unknown>, res: http.ServerResponse): Promise<void> {
    const native = path === "/generate";
    const sp = (b.sampling_params ?? {}) as Record<string, number>;
    const n = native ? sp.max_new_tokens! : (b.max_tokens as number);
    const prompt = promptTokens(path, b);
    // Usage says half the prompt was cached; /metrics says a quarter.
    const cached = Math.floor(prompt / 2);
    promptTotal += prompt;
    cachedTotal += Math.floor(prompt / 4);
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (e: unknown): void => void res.write(`data: ${JSON.stringify(e)}\n\n`);
    if (path === "/v1/chat/completions") send({ choices: [{ index: 0, delta: { role: "assistant", content: "" } }] });
    await sleep(o.ttftMs);
    let text = "";
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i > 0) await sleep(o.itlMs);
      const piece = " ab";
      text += piece;
      ids.push(500 + i);
      const spec = i === n - 1 ? { spec_verify_ct: Math.ceil(n / 4), spec_draft_tokens: Math.floor(n / 2) + Math.floor(n / 4), spec_accepted_tokens: Math.floor(n / 2) } : {};
      if (native) send({ text, output_ids: ids, meta_info: { prompt_tokens: prompt, completion_tokens: i + 1, cached_tokens: cached, ...spec } });
      else if (path === "/v1/chat/completions") send({ choices: [{ index: 0, delta: { content: piece }, finish_reason: null }], usage: null });
      else send({ choices: [{ index: 0, text: piece, finish_reason: null }], usage: null });
    }
    if (!native) {
      const last: Record<string, unknown> = { choices: [] };
      if (o.report === "usage") {
        last.usage = { prompt_tokens: prompt, completion_tokens: n, total_tokens: prompt + n, prompt_tokens_details: { cached_tokens: cached },
          completion_tokens_details: { accepted_prediction_tokens: Math.floor(n / 2), rejected_prediction_tokens: Math.floor(n / 4) } };
      }
      else last.timings = { cache_n: cached, prompt_n: prompt - cached, predicted_n: n };
      send(last);
    }
    res.end("data: [DONE]\n\n");
  }

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    maxInFlight: () => maxInFlight,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

function json(res: http.ServerResponse, v: unknown): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(v));
}
