// bench serve against a real radixlm server (in this process, on 127.0.0.1) over a tiny model,
// with the radix cache on and off.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { modelPath, spawnServe, start } from "../server/harness.js";
import { tempDir } from "../helpers/models.js";
import { cliAsync } from "./cli-async.js";
import { startFake } from "./fake-server.js";

const FLAGS = ["--groups", "2", "--prompts-per-group", "3", "--system-prompt-len", "64", "--question-len", "8", "--output-len", "4", "--max-concurrency", "2"];

test("bench serve measures a real radixlm server, cache on and off; the tokenizer comes from the server", async () => {
  const results: Record<string, any>[] = [];
  for (const disableRadixCache of [false, true]) {
    const s = await start({ disableRadixCache });
    try {
      const json = path.join(tempDir(), `e2e-${disableRadixCache ? "off" : "on"}.json`);
      const r = await cliAsync(["bench", "serve", "--base-url", s.url, ...FLAGS, "--json", json, "--label", disableRadixCache ? "no cache" : "radix"]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(fs.readFileSync(json, "utf8")) as Record<string, any>;
      assert.equal(j.tokenizer, await modelPath());
      assert.deepEqual(j.requests, { total: 6, completed: 6, failed: 0, not_sent: 0 });
      assert.equal(j.output_tokens, 24, "ignore_eos + min_tokens give the fixed output length");
      assert.equal(j.input_tokens, 6 * 72);
      assert.ok(j.ttft_ms.mean > 0 && j.e2e_ms.mean >= j.ttft_ms.mean);
      results.push(j);
    } finally {
      await s.close();
    }
  }
  const [on, off] = results;
  // Two groups of three sharing 64 tokens: the radix cache reuses some of it, and the server
  // reports the same figure in usage and in /metrics; without the cache nothing is reused.
  assert.ok(on!.cache_hit_rates.usage > 0.2, `hit rate ${on!.cache_hit_rates.usage}`);
  assert.ok(on!.cache_hit_rates.usage <= on!.ideal_hit_rate + 1e-9);
  assert.ok(Math.abs(on!.cache_hit_rates.metrics - on!.cache_hit_rates.usage) < 1e-9);
  assert.equal(off!.cache_hit_rate, 0);
  const c = await cliAsync(["bench", "compare", path.join(tempDir(), "e2e-on.json"), path.join(tempDir(), "e2e-off.json")]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /cache hit rate\s+\d+\.\d% +0\.0% \(-\d+\.\d\)/);
});

test("bench serve: chat multi-turn and native agent-loop against a real server", async () => {
  const s = await start();
  try {
    for (const [api, workload] of [["openai-chat", "multi-turn"], ["native", "agent-loop"]] as const) {
      const json = path.join(tempDir(), `e2e-${api}.json`);
      const r = await cliAsync(["bench", "serve", "--base-url", `${s.url}/v1`, "--api", api, "--workload", workload,
        "--conversations", "2", "--turns", "3", "--system-prompt-len", "32", "--question-len", "6", "--output-len", "3", "--json", json]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(fs.readFileSync(json, "utf8")) as Record<string, any>;
      assert.deepEqual(j.requests, { total: 6, completed: 6, failed: 0, not_sent: 0 }, api);
      assert.equal(j.output_tokens, 18, api);
      // later turns re-send the history, which the radix cache still holds
      assert.ok(j.cache_hit_rate > 0.3, `${api} hit rate ${j.cache_hit_rate}`);
    }
  } finally {
    await s.close();
  }
});

test("bench serve against `radixlm serve` on this machine prints the run's bound, measured with the server's own settings", async () => {
  const s = await spawnServe(["--threads", "1", "--max-running-requests", "2", "--chunked-prefill-size", "64"]);
  try {
    const info = (await (await fetch(`${s.url}/get_server_info`)).json()) as Record<string, any>;
    assert.equal(info.model_path, await modelPath());
    assert.equal(info.engine.threads, 1);
    assert.equal(info.engine.max_running_requests, 2);
    assert.equal(info.engine.chunked_prefill_size, 64);
    assert.equal(info.engine.kv_cache_dtype, "f16");
    const json = path.join(tempDir(), "e2e-bound.json");
    const r = await cliAsync(["bench", "serve", "--base-url", s.url, ...FLAGS, "--json", json]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^bound at this machine's kernel speed: (\d+\.\d\d) s = (\d+) computed prompt tokens .* \+ (\d+) decode steps of 2 at .*; the run took (\d+\.\d\d) s, (\d+)% of the bound's speed$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    const j = JSON.parse(fs.readFileSync(json, "utf8")) as Record<string, any>;
    // The computed tokens are those the server did not serve from its cache; 24 outputs in steps of 2.
    assert.equal(Number(m[2]), j.input_tokens - j.cached_tokens);
    assert.equal(Number(m[3]), 12);
    assert.equal(j.bound.computedPromptTokens, j.input_tokens - j.cached_tokens);
    assert.ok(j.bound.attendedPositions > 0 && j.bound.seconds > 0);
    assert.ok(Math.abs(j.bound_fraction - j.bound.seconds / j.duration_s) < 1e-9);
    assert.equal(j.bound.costs.shape.batch, 2);
    assert.equal(j.bound.costs.shape.chunk, 64);
    // --no-bound skips it.
    const n = await cliAsync(["bench", "serve", "--base-url", s.url, ...FLAGS, "--no-bound"]);
    assert.equal(n.code, 0, n.stderr);
    assert.doesNotMatch(n.stdout, /^bound at/m);
  } finally {
    s.kill("SIGKILL");
    await s.exit;
  }
});

test("a bound that cannot be measured costs bench serve only its line: a server naming a file that is no model", async () => {
  const notModel = path.join(tempDir(), "not-a-model.gguf");
  fs.writeFileSync(notModel, "this is not a GGUF file");
  const engine = { backend: "native", threads: 1, kv_cache_dtype: "f16", chunked_prefill_size: 64, max_running_requests: 2 };
  const s = await startFake({ ttftMs: 5, itlMs: 1, serverInfo: { model_path: notModel, engine } });
  try {
    const r = await cliAsync(["bench", "serve", "--base-url", s.url, "--tokenizer", await modelPath(), ...FLAGS]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^cache hit rate/m);
    assert.doesNotMatch(r.stdout, /^bound at/m);
    assert.match(r.stderr, new RegExp(`^radixlm: bound not measured: ${notModel.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `, "m"));
  } finally {
    await s.close();
  }
});
