// Big bodies do not hold up the server: while 30 MB and 10 MB prompts arrive, a bystander
// /health answers within 200 ms (beyond what it takes without them; on a loaded machine,
// scaled by its load) and a bystander stream keeps streaming, and the server's memory stays
// bounded. A prompt that cannot fit is refused by its size at once (a tokenizer
// with a bound: text-bound.ts), or tokenized on the tokenizer thread and then refused (one
// without); a body over --max-body-bytes is a 413. The server runs in a process of its own,
// so that the test's own work (building and sending the bodies) is not measured.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { buildTestTokenizer } from "../../src/model/test-tokenizer.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chat-template.js";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";
import { variedText } from "../../src/tokenizer/vocab-testdata.js";
import { tempDir, testModel } from "../helpers/models.js";
import type { SendJob, SentAnswer } from "./body-sender.js";
import type { ChildServerOptions, ChildStats } from "./child-server.js";
import { envelope, modelPath } from "./harness.js";

const T = { timeout: 300_000 };
const HEALTH_MS = 200;
const MiB = 2 ** 20;

interface Child {
  readonly url: string;
  stats(): Promise<ChildStats>;
  close(): Promise<void>;
}

async function spawnServer(opts: ChildServerOptions): Promise<Child> {
  const file = fileURLToPath(new URL("./child-server.js", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [file, JSON.stringify(opts)], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    child.once("exit", (code) => reject(new Error(`the server process exited (${code}) before listening`)));
  });
  return {
    url,
    stats: () => new Promise((resolve) => {
      child.once("message", (m) => resolve(m as ChildStats));
      child.send("stats");
    }),
    close: () => new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}

/** A body of about `mib` MiB whose prompt is plain words. */
function words(mib: number): string {
  return "word ".repeat(Math.floor((mib * MiB) / 5));
}

interface Answer {
  readonly status: number;
  readonly body: any;
}

async function send(url: string, body: string | Uint8Array<ArrayBuffer>): Promise<Answer> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body }).catch((e: Error) => {
    throw new Error(`${url}: ${e.message} (${String((e.cause as Error | undefined)?.message)})`);
  });
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text) };
}

/** POSTs the bodies at once from a worker thread; their answers, unparsed (parsing a big one here would hold up this thread's probes). */
function sendFromThread(bodies: SendJob["bodies"]): Promise<SentAnswer[]> {
  const file = fileURLToPath(new URL("./body-sender.js", import.meta.url));
  const worker = new Worker(file, { workerData: { bodies } satisfies SendJob, transferList: bodies.map((b) => b.body.buffer) });
  return new Promise((resolve, reject) => {
    worker.once("message", (answers: SentAnswer[]) => resolve(answers));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the body sender exited (${code}) without answers`)));
  });
}

/** Times /health, one request after another, until `done` settles; returns every latency (ms). */
async function probeHealth(url: string, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const latencies: number[] = [];
  while (!finished) {
    const t = performance.now();
    const r = await fetch(`${url}/health`);
    await r.text();
    assert.equal(r.status, 200);
    latencies.push(performance.now() - t);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return latencies;
}

interface Stream {
  /** When each chunk came (performance.now()). */
  readonly times: number[];
  /** Aborts the stream under way and sends no more; its finish reason. */
  stop(): Promise<string>;
}

/**
 * A bystander: streams of `tokens` tokens (/v1/completions), one after another until
 * stopped (one alone ends within seconds on a quiet machine), every chunk's time recorded.
 */
async function bystander(url: string, tokens: number): Promise<Stream> {
  const times: number[] = [];
  let stopped = false;
  const one = async (): Promise<string> => {
    const r = await fetch(`${url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a bystander", max_tokens: tokens, ignore_eos: true, temperature: 0, stream: true }),
    });
    assert.equal(r.status, 200);
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      times.push(performance.now());
      text += decoder.decode(value, { stream: true });
    }
    const reasons = [...text.matchAll(/"finish_reason":"(\w+)"/g)].map((m) => m[1]!);
    return reasons[reasons.length - 1] ?? "none";
  };
  const loop = (async () => {
    for (;;) {
      const reason = await one();
      if (stopped || reason !== "length") return reason;
    }
  })();
  return {
    times,
    stop: async () => {
      stopped = true;
      await fetch(`${url}/abort_request`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ abort_all: true }) });
      return loop;
    },
  };
}

/** The longest wait between chunks from `from` to `to`. */
function longestGap(times: readonly number[], from: number, to: number): number {
  const within = times.filter((t) => t >= from && t <= to);
  let gap = 0;
  for (let i = 1; i < within.length; i++) gap = Math.max(gap, within[i]! - within[i - 1]!);
  return gap;
}

interface Round {
  readonly answers: Answer[];
  readonly health: number[];
  /** The worst /health latency beside the same stream before the bodies came (the machine's own noise). */
  readonly idleHealth: number;
  /**
   * Runnable threads per core (1-minute load average, at least 1): on a shared machine every
   * piece of work the server does takes that many times longer, however short it is.
   */
  readonly contention: number;
  readonly streamGap: number;
  readonly rssGrowth: number;
}

/** Sends the bodies at once beside a bystander /health loop and stream; what each saw. */
async function round(srv: Child, bodies: { route: string; body: string }[]): Promise<Round> {
  // encoded before anything is timed, and sent from a thread of their own: fetch encoding and
  // writing 240 MB held up this thread's probes
  const encoded = bodies.map((b) => ({ url: `${srv.url}${b.route}`, body: new Uint8Array(Buffer.from(b.body)) }));
  const before = await srv.stats();
  const stream = await bystander(srv.url, 2000);
  // the stream is under way before the bodies come
  for (let i = 0; i < 500 && stream.times.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  // what /health costs on this machine now, with the stream running and no big body
  const idleHealth = Math.max(...(await probeHealth(srv.url, new Promise((r) => setTimeout(r, 1000)))));
  const start = performance.now();
  const sends = sendFromThread(encoded);
  const health = await probeHealth(srv.url, sends);
  // parsed once the probes are done
  const answers: Answer[] = (await sends).map((a) => ({ status: a.status, body: JSON.parse(a.text) }));
  const end = performance.now();
  const streamGap = longestGap(stream.times, start, end);
  const chunks = stream.times.filter((t) => t >= start && t <= end).length;
  assert.ok(chunks >= 2, `the bystander stream sent ${chunks} chunks meanwhile (${stream.times.length} in all, the last ${(stream.times[stream.times.length - 1]! - start).toFixed(0)} ms after the bodies went, which took ${(end - start).toFixed(0)} ms)`);
  // it has done its part
  const reason = await stream.stop();
  assert.ok(reason === "abort" || reason === "length", `the bystander stream ended with ${reason}`);
  const after = await srv.stats();
  const contention = Math.max(1, os.loadavg()[0]! / os.availableParallelism());
  return { answers, health, idleHealth, contention, streamGap, rssGrowth: after.maxRss - before.rss };
}

/**
 * /health and the stream waited at most `waitMs` (times the machine's contention) more than
 * they do without big bodies, and RSS grew by less than `rss`.
 */
function assertResponsive(r: Round, label: string, limits: { waitMs: number; rss: number }): void {
  const worst = Math.max(...r.health);
  const allowed = limits.waitMs * r.contention + r.idleHealth;
  assert.ok(r.health.length >= 2, `${label}: /health was probed ${r.health.length} times`);
  assert.ok(worst < allowed, `${label}: /health took ${worst.toFixed(0)} ms, more than ${allowed.toFixed(0)} (${report(r)})`);
  assert.ok(r.streamGap < 2 * allowed, `${label}: the bystander stream stalled ${r.streamGap.toFixed(0)} ms (${report(r)})`);
  assert.ok(r.rssGrowth < limits.rss, `${label}: RSS grew ${(r.rssGrowth / MiB).toFixed(0)} MiB`);
}

function report(r: Round): string {
  return `/health worst ${Math.max(...r.health).toFixed(0)} ms over ${r.health.length} probes (${r.idleHealth.toFixed(0)} ms without big bodies, contention ${r.contention.toFixed(1)}); stream gap ${r.streamGap.toFixed(0)} ms; RSS +${(r.rssGrowth / MiB).toFixed(0)} MiB`;
}

describe("a tokenizer with a byte bound: a prompt too big to fit is refused by its size", () => {
  let srv: Child;
  before(async () => {
    srv = await spawnServer({ model: await modelPath() });
  });
  after(async () => {
    await srv?.close();
  });

  test("30 MB and 10 MB prompts on every route: 400 at once, /health and a stream unhindered", T, async (t) => {
    const big = words(30);
    const mid = words(10);
    const r = await round(srv, [
      { route: "/v1/completions", body: JSON.stringify({ prompt: big, max_tokens: 1 }) },
      { route: "/v1/chat/completions", body: JSON.stringify({ messages: [{ role: "user", content: mid }] }) },
      { route: "/generate", body: JSON.stringify({ text: ["short", mid] }) },
    ]);
    t.diagnostic(report(r));
    const [completion, chat, generate] = r.answers.map((a) => ({ status: a.status, error: envelope(a.body) }));
    for (const a of [completion!, chat!, generate!]) {
      assert.equal(a.status, 400);
      assert.equal(a.error.code, "context_length_exceeded");
      assert.match(a.error.message, /maximum context length is \d+ tokens\. However, your \S+ resulted in at least \d+ tokens/);
    }
    assert.equal(completion!.error.param, "prompt");
    assert.equal(chat!.error.param, "messages");
    assert.equal(generate!.error.param, "text[1]");
    // Each body is held a couple of times over (raw, parsed), briefly.
    assertResponsive(r, "bounded", { waitMs: HEALTH_MS, rss: 512 * MiB });
  });

  test("eight 30 MB prompts at once: all refused within seconds, memory bounded", T, async (t) => {
    const body = JSON.stringify({ prompt: words(30), max_tokens: 1 });
    const t0 = performance.now();
    const r = await round(srv, Array.from({ length: 8 }, () => ({ route: "/v1/completions", body })));
    t.diagnostic(`${report(r)}; all answered in ${(performance.now() - t0).toFixed(0)} ms`);
    for (const a of r.answers) assert.equal(envelope(a.body).code, "context_length_exceeded");
    // Once 16.9 s and 2.0 GB. The bodies are parsed on the JSON thread; what is left on the
    // event loop is taking each parsed body back (a copy of its prompt).
    assertResponsive(r, "eight bodies", { waitMs: 1000, rss: 1536 * MiB });
  });

  test("a body over --max-body-bytes is a 413 in the envelope, before the body is read", T, async () => {
    // The server answers and closes at once, without reading 33 MB: a raw socket reads that
    // answer (fetch gives up when the server stops reading what it sends).
    const { hostname, port } = new URL(srv.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), hostname, () => {
        sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${33 * MiB}\r\n\r\n{"prompt": "`);
      });
      let data = "";
      sock.on("data", (d: Buffer) => (data += d.toString("utf8")));
      sock.on("close", () => resolve(data));
      sock.on("error", (err) => (data ? resolve(data) : reject(err)));
    });
    const [head, body] = answer.split("\r\n\r\n", 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 413 /);
    assert.equal(envelope(JSON.parse(body)).code, "request_too_large");
    assert.equal((await fetch(`${srv.url}/health`)).status, 200);
  });
});

/** A model whose tokenizer has no byte bound (an added token that swallows whitespace). */
async function unboundedModel(): Promise<string> {
  const file = path.join(tempDir(), "unbounded-tokenizer.json");
  if (!fs.existsSync(file)) {
    const files = buildTestTokenizer(512, CHATML_TEMPLATE);
    (files.tokenizer.added_tokens as Record<string, unknown>[])[0]!.lstrip = true;
    fs.writeFileSync(file, JSON.stringify(files.tokenizer));
  }
  return testModel("server-unbounded", { arch: "llama", format: "hf", dtype: "f32", seed: 5, tokenizer: file });
}

describe("a tokenizer without a byte bound: big prompts are tokenized off the event loop", () => {
  let srv: Child;
  let model: string;
  before(async () => {
    model = await unboundedModel();
    assert.equal((await loadTokenizerFile(model)).maxTextBytesPerToken(), Infinity);
    srv = await spawnServer({ model });
  });
  after(async () => {
    await srv?.close();
  });

  test("30 MB and 10 MB prompts: tokenized on the tokenizer thread, then 400; /health and a stream unhindered", T, async (t) => {
    const r = await round(srv, [
      { route: "/v1/completions", body: JSON.stringify({ prompt: words(30), max_tokens: 1 }) },
      { route: "/generate", body: JSON.stringify({ text: words(10) }) },
    ]);
    t.diagnostic(report(r));
    for (const a of r.answers) {
      assert.equal(a.status, 400);
      const e = envelope(a.body);
      assert.equal(e.code, "context_length_exceeded");
      // counted exactly this time
      assert.match(e.message, /your \S+ resulted in \d+ tokens/);
    }
    // The tokenizer thread takes one text at a time; tokenizing 30 MB takes some 30 times
    // that while it runs (the words and ids of a 30 MB text), and gives it back after.
    assertResponsive(r, "unbounded", { waitMs: HEALTH_MS, rss: 1536 * MiB });
  });

  test("/tokenize of a 30 MB text: millions of ids, made and written as JSON off the event loop", T, async (t) => {
    const r = await round(srv, [{ route: "/tokenize", body: JSON.stringify({ prompt: words(30) }) }]);
    t.diagnostic(report(r));
    const a = r.answers[0]!;
    assert.equal(a.status, 200);
    assert.ok(a.body.count > 6_000_000, `count ${a.body.count}`);
    assert.equal(a.body.tokens.length, a.body.count);
    // JSON.stringify of its 6 M ids alone took some 0.5 s on the event loop
    assertResponsive(r, "tokenize", { waitMs: HEALTH_MS, rss: 1536 * MiB });
  });

  test("a long prompt that fits, and /tokenize of a long text, get the ids of the main thread's tokenizer", T, async () => {
    const tok = await loadTokenizerFile(model);
    const text = variedText(1 * MiB, ["<|im_start|>", "<|endoftext|>"]);
    const r = await send(`${srv.url}/tokenize`, JSON.stringify({ prompt: text }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.tokens, tok.encode(text, { addSpecial: true, parseSpecial: true }));
    // 64 Ki characters and more go to the thread; this one fits the context
    const spaces = " ".repeat(70_000) + "<|endoftext|> tail";
    const g = await send(`${srv.url}/generate`, JSON.stringify({ text: spaces, sampling_params: { max_new_tokens: 1 } }));
    assert.equal(g.status, 200, JSON.stringify(g.body));
    assert.equal(g.body.meta_info.prompt_tokens, tok.encode(spaces, { addSpecial: true, parseSpecial: true }).length);
  });
});
