// bench serve with the edit workload: chat requests answered greedily to EOS (no fixed length),
// sent as each API takes them, and the server's speculative decoding in the report: from usage
// and meta_info against a fake server, from /metrics against a real `radixlm serve` of the demo model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { benchServe } from "../../src/bench/serve.js";
import { makeEditWorkload, templateRenderer } from "../../src/bench/edit-workload.js";
import type { ApiKind } from "../../src/bench/serve-client.js";
import type { ServeReport } from "../../src/bench/serve-report.js";
import type { Workload } from "../../src/bench/workloads.js";
import { defaultModelPath } from "../../src/cli/default-model.js";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { tempDir, testModel } from "../helpers/models.js";
import { startServe } from "../helpers/serve-process.js";
import { cliAsync } from "./cli-async.js";
import { startFake, type FakeServer } from "./fake-server.js";

let tok: Tokenizer;
let w: Workload;
let fake: FakeServer;

before(async () => {
  tok = await loadTokenizerFile(await testModel("bench-edit-tok", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 }));
  w = makeEditWorkload({ requests: 3, seed: 1, textTokens: null }, tok, templateRenderer(null, tok), Infinity);
  fake = await startFake({ ttftMs: 0, itlMs: 0 });
});
after(() => fake.close());

function run(api: ApiKind, promptFormat: "ids" | "text" = "ids"): Promise<ServeReport> {
  return benchServe({
    client: { root: fake.url, api, model: "fake-model", apiKey: null, extraBody: {} },
    workload: w, promptFormat, tokenizer: tok, text: null,
    requestRate: Infinity, maxConcurrency: 1, seed: 1, timeoutMs: 30_000, maxDurationMs: 60_000,
    info: {
      label: "t", base_url: fake.url, api, model: "fake-model", workload: "edit", workload_options: {},
      request_rate: "inf", max_concurrency: 1, tokenizer: null,
    },
    progress: { isTTY: false, write: () => true },
  });
}

/** What the fake server reports for a request of n output tokens. */
const accepted = (n: number): number => Math.floor(n / 2);
const drafted = (n: number): number => Math.floor(n / 2) + Math.floor(n / 4);
const sum = (f: (n: number) => number): number => w.chains.reduce((a, [s]) => a + f(s!.outputLen), 0);

test("edit over chat: the user message as is, at most the expected reply + margin, greedy, to EOS; acceptance from usage", async () => {
  const from = fake.received.length;
  const r = await run("openai-chat");
  assert.equal(r.requests.completed, 3);
  const sent = fake.received.slice(from);
  assert.equal(sent.length, 3);
  for (const [i, { path: p, body }] of sent.entries()) {
    const step = w.chains[i]![0]!;
    assert.equal(p, "/v1/chat/completions");
    assert.deepEqual(body.messages, [{ role: "user", content: step.chat!.user }]);
    assert.equal(body.max_tokens, step.outputLen);
    assert.equal(body.temperature, 0);
    assert.equal(body.min_tokens, undefined);
    assert.equal(body.ignore_eos, undefined);
  }
  assert.deepEqual(r.speculative, {
    source: "usage", draft_tokens: sum(drafted), accepted_tokens: sum(accepted), verify_steps: null,
    accept_rate: sum(accepted) / sum(drafted), accept_length: null,
  });
  // The fake answers " ab ab ...", never the edited text.
  assert.deepEqual(r.expected_replies, { matched: 0, of: 3 });
});

test("edit over /generate: the rendered prompt's ids, no fixed length; acceptance and verifications from meta_info", async () => {
  const from = fake.received.length;
  const r = await run("native");
  const sent = fake.received.slice(from);
  for (const [i, { body }] of sent.entries()) {
    const step = w.chains[i]![0]!;
    assert.deepEqual(body.input_ids, step.tokens);
    assert.deepEqual(body.sampling_params, { max_new_tokens: step.outputLen, temperature: 0 });
  }
  const verifies = sum((n) => Math.ceil(n / 4));
  assert.equal(r.speculative?.source, "usage");
  assert.equal(r.speculative?.verify_steps, verifies);
  assert.equal(r.speculative?.accept_length, 1 + sum(accepted) / verifies);
});

test("edit over completions as text: the chat template's rendering as the prompt", async () => {
  const from = fake.received.length;
  await run("openai-completions", "text");
  for (const [i, { body }] of fake.received.slice(from).entries()) {
    const c = w.chains[i]![0]!.chat!;
    // The server adds BOS to a text prompt itself, where its tokenizer adds one.
    const bos = tok.bosId !== undefined && tok.addBos ? tok.idToToken(tok.bosId)! : "";
    assert.equal(body.prompt, bos !== "" && c.prompt.startsWith(bos) ? c.prompt.slice(bos.length) : c.prompt);
    assert.ok((body.prompt as string).includes(c.user) && (body.prompt as string).endsWith("<|im_start|>assistant\n"));
  }
});

test("bench serve --workload edit against `radixlm serve` of the demo model: completes, reports speculative decoding from /metrics", async () => {
  const s = startServe(defaultModelPath(), ["--threads", "2", "--speculative", "ngram"]);
  try {
    const url = await s.ready;
    for (const api of ["openai-chat", "native"] as const) {
      const json = path.join(tempDir(), `serve-edit-${api}.json`);
      const r = await cliAsync(["bench", "serve", "--base-url", url, "--api", api, "--workload", "edit", "--groups", "1", "--prompts-per-group", "3",
        "--max-concurrency", "2", "--no-bound", "--json", json]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(fs.readFileSync(json, "utf8")) as ServeReport;
      assert.deepEqual(j.requests, { total: 3, completed: 3, failed: 0, not_sent: 0 }, api);
      assert.equal(j.tokenizer, defaultModelPath());
      assert.equal(j.expected_replies?.of, 3);
      const sp = j.speculative!;
      assert.equal(sp.source, "metrics", api);
      assert.ok(sp.draft_tokens > 0 && sp.accepted_tokens <= sp.draft_tokens && sp.verify_steps! > 0, JSON.stringify(sp));
      assert.equal(sp.accept_length, 1 + sp.accepted_tokens / sp.verify_steps!);
      assert.match(r.stdout, /^speculative decoding\s+\d+ of \d+ draft tokens accepted \([\d.]+%\), [\d.]+ tokens per verification \(from \/metrics\)$/m);
      assert.match(r.stdout, /^replies as expected\s+\d of 3$/m);
    }
  } finally {
    await s.stop();
  }
});
