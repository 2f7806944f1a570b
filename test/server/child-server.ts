// A radixlm server in a process of its own, for tests that measure it from outside: how long
// its event loop keeps /health waiting, and its memory, undisturbed by the test's own work.
// argv[2] is a ChildServerOptions JSON. It prints its URL, answers "stats" over IPC with its
// RSS now and at its peak, and drains on SIGTERM.
import { Engine } from "../../src/engine/engine.js";
import { loadModel } from "../../src/model/load.js";
import { RadixServer } from "../../src/server/http.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { MODEL_NAME } from "./harness.js";

export interface ChildServerOptions {
  readonly model: string;
  readonly maxTotalTokens?: number;
  readonly maxBodyBytes?: number;
}

// One compute thread: on a machine of two cores, the event loop keeps one (README, Serving).
const backend = (): ReturnType<typeof nativeBackend> => {
  const addon = runnerAddon();
  return addon ? nativeBackend(addon, 1) : referenceBackend;
};

export interface ChildStats {
  /** Bytes resident now. */
  readonly rss: number;
  /** Most bytes ever resident. */
  readonly maxRss: number;
}

// Only as a child with an IPC channel: run as a file of the test suite, it does nothing.
if (process.send && process.argv[2]) await serve(JSON.parse(process.argv[2]) as ChildServerOptions);

async function serve(opts: ChildServerOptions): Promise<void> {
  const engine = await Engine.create({ model: await loadModel(opts.model), backend: backend(), maxTotalTokens: opts.maxTotalTokens ?? 8192, maxRunningRequests: 64 });
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: (l) => process.stderr.write(l + "\n"), maxBodyBytes: opts.maxBodyBytes });
  const url = await server.listen("127.0.0.1", 0);
  server.attach(engine);
  process.on("message", (m: unknown) => {
    if (m === "stats") process.send!({ rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 } satisfies ChildStats);
  });
  process.on("SIGTERM", () => {
    void server.drain(0).then(() => process.exit(0));
  });
  process.stdout.write(url + "\n");
}
