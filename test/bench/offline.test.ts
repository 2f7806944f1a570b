import { test } from "node:test";
import assert from "node:assert/strict";
import { bestOrderMeanTtft, idealRatios, shortestFirstMeanTtft } from "../../src/bench/ideal-schedule.js";
import { makeWorkload, DEFAULT_WORKLOAD } from "../../src/bench/workloads.js";
import { cliAsync } from "./cli-async.js";
import { testModel } from "../helpers/models.js";

/** G groups of P prompts: a shared prefix of L tokens (group-specific), then Q tokens of each prompt's own. */
function groups(g: number, p: number, l: number, q: number): number[][] {
  const out: number[][] = [];
  let next = 1000;
  for (let i = 0; i < g; i++) {
    const prefix = Array.from({ length: l }, () => next++);
    for (let j = 0; j < p; j++) out.push([...prefix, ...Array.from({ length: q }, () => next++)]);
  }
  return out;
}

test("ideal schedule: the issue's 8 x 8 shared-prefix workload allows about 5.3x in mean TTFT", () => {
  const prompts = groups(8, 8, 1024, 64);
  // No cache: 64 prompts of 1088 tokens one after another, mean finish 32.5 * 1088.
  assert.equal(shortestFirstMeanTtft(prompts), 32.5 * 1088);
  // Cache: group after group of 1024 + 8 * 64 tokens; inside one, finishes at 1088, 1152, ..., 1536.
  assert.equal(bestOrderMeanTtft(prompts), 3.5 * 1536 + (1088 + 1536) / 2);
  const ratio = shortestFirstMeanTtft(prompts) / bestOrderMeanTtft(prompts);
  assert.ok(Math.abs(ratio - 5.287) < 1e-3, `ratio ${ratio}`);
});

test("ideal schedule: the best order groups prompts by prefix whatever the arrival order", () => {
  const prompts = groups(3, 4, 100, 10);
  const shuffled = [prompts[5]!, prompts[0]!, prompts[11]!, prompts[1]!, prompts[6]!, prompts[10]!, prompts[2]!, prompts[7]!, prompts[9]!, prompts[3]!, prompts[4]!, prompts[8]!];
  assert.equal(bestOrderMeanTtft(shuffled), bestOrderMeanTtft(prompts));
  // A prompt that is all prefix still computes its last token.
  assert.equal(bestOrderMeanTtft([[1, 2, 3], [1, 2, 3]]), (3 + 4) / 2);
});

test("ideal ratios: computed tokens with and without the cache; TTFT only for one-step chains", () => {
  const gsp = makeWorkload("generated-shared-prefix", { ...DEFAULT_WORKLOAD, groups: 2, promptsPerGroup: 3, systemPromptLen: 40, questionLen: 5, outputLen: 4 }, 10, 500);
  // 6 prompts of 45 tokens, 4 of them hit 40 cached tokens; 24 output tokens.
  const r = idealRatios(gsp, 270, 160, 24);
  assert.equal(r.throughput, (270 + 24) / (270 - 160 + 24));
  assert.ok(r.ttft !== null && r.ttft > 1);
  const turns = makeWorkload("multi-turn", { ...DEFAULT_WORKLOAD, conversations: 2, turns: 3 }, 10, 500);
  assert.equal(idealRatios(turns, 100, 50, 10).ttft, null);
});

test("bench offline --json: both runs, the ratios, the hit rate next to the ideal and the CPU bounds", async () => {
  const model = await testModel("bench-offline-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 3 });
  const r = await cliAsync(["bench", "offline", "--model", model, "--workload", "generated-shared-prefix", "--groups", "2", "--prompts-per-group", "3",
    "--system-prompt-len", "96", "--question-len", "8", "--output-len", "4", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown> & { cache: Record<string, number>; nocache: Record<string, number> };
  for (const run of [j.cache, j.nocache]) {
    assert.equal(run.requests, 6);
    assert.equal(run.promptTokens, 6 * 104);
    assert.equal(run.outputTokens, 6 * 4);
  }
  assert.equal(j.nocache.hitRate, 0);
  // The first prompt of each group misses; the others hit the 96-token prefix.
  assert.equal(j.ideal_hit_rate, (4 * 96) / (6 * 104));
  assert.ok((j.hit_rate as number) <= (j.ideal_hit_rate as number) + 1e-9);
  assert.ok((j.hit_rate as number) >= 0.95 * (j.ideal_hit_rate as number), `hit rate ${j.hit_rate}`);
  assert.equal(j.ideal_throughput_ratio, (6 * 104 + 24) / (6 * 104 - 4 * 96 + 24));
  assert.equal(typeof j.ideal_ttft_ratio, "number");
  assert.equal(typeof j.throughput_ratio, "number");
  assert.equal(typeof j.ttft_ratio, "number");
});

test("bench offline prints a table with the ratios and the bounds", async () => {
  const model = await testModel("bench-offline-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 3 });
  const r = await cliAsync(["bench", "offline", "--model", model, "--workload", "few-shot", "--groups", "1", "--prompts-per-group", "3",
    "--system-prompt-len", "64", "--question-len", "4", "--output-len", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^run\s+reqs/m);
  assert.match(r.stdout, /throughput ratio [\d.]+x, mean TTFT ratio [\d.]+x, hit rate [\d.]+% of an ideal [\d.]+%/);
  assert.match(r.stdout, /if every computed token cost the same \(as on a CPU\): throughput ratio at most [\d.]+x, mean TTFT ratio about [\d.]+x/);
});
