// bench serve with Poisson arrivals adds no abort listener per waiting chain (no
// MaxListenersExceededWarning), and flags a hit rate above what the workload can reach from an
// empty cache (a warm server).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { testModel } from "../helpers/models.js";
import { cliAsync } from "./cli-async.js";
import { startFake, type FakeServer } from "./fake-server.js";

let server: FakeServer;
let tokPath: string;

before(async () => {
  server = await startFake({ ttftMs: 5, itlMs: 1 });
  tokPath = await testModel("bench-tok", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 });
});
after(() => server.close());

test("--request-rate with many chains waiting: no warnings on stderr", async () => {
  // 24 chains arriving at 200/s: most wait at once (the old code added one listener each).
  const r = await cliAsync(["bench", "serve", "--base-url", server.url, "--tokenizer", tokPath, "--request-rate", "200", "--seed", "3",
    "--groups", "4", "--prompts-per-group", "6", "--system-prompt-len", "200", "--question-len", "4", "--output-len", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /MaxListenersExceededWarning|Warning/);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /requests\s+24 completed, 0 failed/);
});

test("a hit rate above the workload's ideal is flagged in the table", async () => {
  // No shared prefix: the ideal is near 0, but this server says half of every prompt was cached.
  const r = await cliAsync(["bench", "serve", "--base-url", server.url, "--tokenizer", tokPath,
    "--groups", "2", "--prompts-per-group", "2", "--system-prompt-len", "0", "--question-len", "40", "--output-len", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ +above the ideal: the server's cache held these prompts from earlier requests \(--flush-cache starts from an empty one\)$/m);
  assert.match(r.stdout, /^cache hit rate +50\.0% \(.*; ideal \d+\.\d%\)\n +above the ideal/m);
});
