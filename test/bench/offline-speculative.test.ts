// `bench offline --compare speculative`: the same workload with n-gram speculative decoding and
// without, on the bundled demo model (the edit workload, in its chat format) and on a random-
// weight test model (random and multi-turn ids, the controls). Both runs, and the bound's run
// (every draft right: each request's prediction is the reply it gets), must generate the same
// ids for every request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cliAsync } from "./cli-async.js";
import { testModel } from "../helpers/models.js";
import { defaultModelPath } from "../../src/cli/default-model.js";
import { makeEditWorkload, templateRenderer } from "../../src/bench/edit-workload.js";
import { loadModel } from "../../src/model/load.js";

interface Run {
  requests: number;
  promptTokens: number;
  outputTokens: number;
  throughput: number;
  ttft: { mean: number };
  tpot: { mean: number; p50: number; p90: number; p99: number };
  speculative: { draftTokens: number; acceptedTokens: number; verifySteps: number };
  expectedReplies?: { matched: number; of: number };
}

interface Report {
  compare: string;
  workload: string;
  on: Run;
  off: Run;
  bound: Run;
  max_concurrency: number | null;
  throughput_ratio: number;
  tpot_ratio: number;
  bound_throughput_ratio: number;
  bound_tpot_ratio: number;
  ttft_ratio: number;
  draft_tokens: number;
  accepted_tokens: number;
  verify_steps: number;
  accept_rate: number;
  accept_length: number | null;
  identical_outputs: boolean;
  differing_requests: number;
}

/** What every report must say, whatever the workload. */
function checkReport(j: Report, requests: number): void {
  assert.equal(j.compare, "speculative");
  assert.equal(j.identical_outputs, true, `${j.differing_requests} requests differ`);
  assert.equal(j.differing_requests, 0);
  for (const run of [j.on, j.off, j.bound]) {
    assert.equal(run.requests, requests);
    assert.equal(run.promptTokens, j.off.promptTokens);
    assert.equal(run.outputTokens, j.off.outputTokens);
    assert.ok(run.tpot.mean > 0 && run.tpot.p50 <= run.tpot.p99, JSON.stringify(run.tpot));
  }
  assert.deepEqual(j.off.speculative, { draftTokens: 0, acceptedTokens: 0, verifySteps: 0 });
  assert.deepEqual(j.on.speculative, { draftTokens: j.draft_tokens, acceptedTokens: j.accepted_tokens, verifySteps: j.verify_steps });
  assert.ok(j.accepted_tokens <= j.draft_tokens);
  assert.equal(j.accept_rate, j.draft_tokens > 0 ? j.accepted_tokens / j.draft_tokens : 0);
  assert.equal(j.accept_length, j.verify_steps > 0 ? 1 + j.accepted_tokens / j.verify_steps : null);
  assert.equal(j.throughput_ratio, j.on.throughput / j.off.throughput);
  assert.equal(j.tpot_ratio, j.off.tpot.mean / j.on.tpot.mean);
  assert.equal(j.bound_throughput_ratio, j.bound.throughput / j.off.throughput);
  assert.equal(j.bound_tpot_ratio, j.off.tpot.mean / j.bound.tpot.mean);
  assert.ok(Number.isFinite(j.ttft_ratio) && j.ttft_ratio > 0);
}

test("bench offline --workload edit --compare speculative on the demo model: identical outputs, the acceptance, replies to EOS", async () => {
  const demo = defaultModelPath();
  const r = await cliAsync(["bench", "offline", "--model", demo, "--workload", "edit", "--groups", "1", "--prompts-per-group", "4",
    "--seed", "2", "--compare", "speculative", "--threads", "2", "--max-concurrency", "1", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Report;
  checkReport(j, 4);
  assert.equal(j.workload, "edit");
  assert.equal(j.max_concurrency, 1);
  // Speculation drafted from the prompt's text.
  assert.ok(j.verify_steps > 0 && j.draft_tokens > 0, JSON.stringify(j.on.speculative));
  // The bound's drafts are the replies themselves: all of them are accepted.
  assert.ok(j.bound.speculative.draftTokens > 0, JSON.stringify(j.bound.speculative));
  assert.equal(j.bound.speculative.acceptedTokens, j.bound.speculative.draftTokens);
  for (const run of [j.on, j.off, j.bound]) assert.equal(run.expectedReplies?.of, 4);
  assert.equal(j.on.expectedReplies!.matched, j.off.expectedReplies!.matched);
  // The prompts are the chat-template renderings the workload module makes; the replies stop
  // at EOS within each request's room (expected reply + margin).
  const model = await loadModel(demo);
  try {
    const w = makeEditWorkload({ requests: 4, seed: 2, textTokens: null }, model.tokenizer, templateRenderer(model.chatTemplate, model.tokenizer), 512);
    assert.equal(j.on.promptTokens, w.chains.reduce((a, [s]) => a + s!.tokens.length, 0));
    assert.ok(j.on.outputTokens <= w.chains.reduce((a, [s]) => a + s!.outputLen, 0));
  } finally {
    model.close();
  }
});

test("bench offline --compare speculative on the controls (random, multi-turn): identical outputs, fixed lengths", async () => {
  const model = await testModel("bench-spec-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 5 });
  const random = await cliAsync(["bench", "offline", "--model", model, "--workload", "random", "--groups", "2", "--prompts-per-group", "3",
    "--system-prompt-len", "24", "--question-len", "8", "--output-len", "12", "--compare", "speculative", "--json"]);
  assert.equal(random.code, 0, random.stderr);
  const rj = JSON.parse(random.stdout) as Report;
  checkReport(rj, 6);
  assert.equal(rj.on.outputTokens, 6 * 12);
  assert.equal(rj.on.expectedReplies, undefined);
  const turns = await cliAsync(["bench", "offline", "--model", model, "--workload", "multi-turn", "--conversations", "2", "--turns", "3",
    "--system-prompt-len", "24", "--question-len", "8", "--output-len", "12", "--compare", "speculative"]);
  assert.equal(turns.code, 0, turns.stderr);
  assert.match(turns.stdout, /^ngram\s+6\s/m);
  assert.match(turns.stdout, /^off\s+6\s/m);
  assert.match(turns.stdout, /^bound\s+6\s/m);
  assert.match(turns.stdout, /^speculative decoding \(ngram over off, the fastest of \d+ alternating runs each, all requests at once\): output throughput [\d.]+x, decode speed \(mean time per output token after the first\) [\d.]+x, mean TTFT ratio [\d.]+x \(off \/ ngram\)$/m);
  assert.match(turns.stdout, /^bound \(every draft right: each request predicts the reply it gets\): output throughput [\d.]+x, decode speed [\d.]+x$/m);
  assert.match(turns.stdout, /^drafted \d+ tokens in \d+ verifications, accepted \d+ \([\d.]+%\), ([\d.]+|n\/a) tokens per verification$/m);
  assert.match(turns.stdout, /^identical outputs: yes \(all 6 requests\)$/m);
});

test("bench offline --compare takes cache or speculative; the disk tier goes with cache", async () => {
  const model = await testModel("bench-spec-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 5 });
  const bad = await cliAsync(["bench", "offline", "--model", model, "--compare", "tiers"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--compare must be cache or speculative, got "tiers"/);
  const disk = await cliAsync(["bench", "offline", "--model", model, "--compare", "speculative", "--cache-dir", "/tmp/nowhere"]);
  assert.equal(disk.code, 2);
  assert.match(disk.stderr, /--cache-dir goes with --compare cache/);
  const conc = await cliAsync(["bench", "offline", "--model", model, "--compare", "speculative", "--max-concurrency", "0"]);
  assert.equal(conc.code, 2);
  assert.match(conc.stderr, /--max-concurrency/);
});
