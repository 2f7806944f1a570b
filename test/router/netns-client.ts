// The client side of the multi-host router test, run inside the client's network namespace
// (`ip netns exec NS node netns-client.js COMMAND JSON`): it prints one JSON line of results.
//   load {router, n, kill?: {afterMs}}: n concurrent streamed completions; each ends "ok", or
//     "error" with a clean error (an HTTP error envelope, or an error event in the stream)
//   get {url}: GET, the JSON body
//   post {url, body}: POST, status and JSON body
//   disconnect {router}: a long stream, cut after its first chunk
const [command, raw] = process.argv.slice(2);
const args = JSON.parse(raw ?? "{}") as Record<string, unknown>;

async function streamOne(router: string, i: number): Promise<{ outcome: "ok" | "error" | "lost"; detail?: string }> {
  try {
    const r = await fetch(`${router}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: `Story ${i % 4}: once upon a time there was a cat`, max_tokens: 48, ignore_eos: true, stream: true }),
    });
    const text = await r.text();
    if (r.status !== 200) return JSON.parse(text).error ? { outcome: "error", detail: `status ${r.status}` } : { outcome: "lost", detail: text.slice(0, 200) };
    if (text.includes('"error"')) return { outcome: "error", detail: "error event" };
    return text.trimEnd().endsWith("data: [DONE]") ? { outcome: "ok" } : { outcome: "lost", detail: "stream ended without [DONE]" };
  } catch (err) {
    return { outcome: "lost", detail: err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : String(err) };
  }
}

async function main(): Promise<unknown> {
  switch (command) {
    case "load": {
      const n = Number(args.n);
      return Promise.all(Array.from({ length: n }, (_, i) => streamOne(String(args.router), i)));
    }
    case "get": {
      const r = await fetch(String(args.url));
      return { status: r.status, body: await r.json().catch(() => null) };
    }
    case "post": {
      const r = await fetch(String(args.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(args.body ?? {}) });
      return { status: r.status, body: await r.json().catch(() => null) };
    }
    case "disconnect": {
      const ac = new AbortController();
      const r = await fetch(`${String(args.router)}/v1/completions`, {
        method: "POST", headers: { "content-type": "application/json" }, signal: ac.signal,
        body: JSON.stringify({ prompt: "A very long story", max_tokens: 1500, ignore_eos: true, stream: true }),
      });
      const reader = r.body!.getReader();
      await reader.read();
      ac.abort();
      return { status: r.status };
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

// The test runner loads every file under test/: without a command this is not a run.
if (command !== undefined) main().then((out) => process.stdout.write(JSON.stringify(out) + "\n"), (err: unknown) => {
  process.stderr.write(String(err) + "\n");
  process.exit(1);
});
