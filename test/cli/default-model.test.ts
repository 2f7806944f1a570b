// Commands that run a model default to the bundled demo model, as generate and serve do, and
// their defaults fit it (context 512); the demo's own sampling defaults show in `info`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli } from "../helpers/cli.js";
import { defaultModelPath } from "../../src/cli/default-model.js";

const T = { timeout: 120_000 };

test("radixlm info without --model describes the demo model and its sampling defaults", T, () => {
  const r = cli(["info", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(j.path, defaultModelPath());
  assert.equal(j.context_length, 512);
  // The demo's generation_config.json says do_sample false: greedy, carried into its GGUF.
  assert.deepEqual(j.generation_defaults, { temperature: 0 });
  const text = cli(["info"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /sampling\s+temperature 0/);
});

test("radixlm bench model without --model measures the demo model (pp512 fits its context)", T, () => {
  const r = cli(["bench", "model", "--tg", "16", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, number>;
  assert.ok(j.pp512! > 0 && j.tg16! > 0, r.stdout);
  const over = cli(["bench", "model", "--pp", "600"]);
  assert.equal(over.code, 2);
  assert.match(over.stderr, /^radixlm: error: --pp 600 and 8 \+ --tg 128 must each fit the model's context of 512 tokens/);
});

test("radixlm bench offline without --model runs every workload with its default lengths fitted to the demo's context", T, () => {
  for (const workload of ["generated-shared-prefix", "multi-turn", "agent-loop"]) {
    const r = cli(["bench", "offline", "--workload", workload, "--groups", "2", "--prompts-per-group", "2", "--conversations", "2", "--json"]);
    assert.equal(r.code, 0, `${workload}: ${r.stderr}`);
    assert.match(r.stderr, /default lengths scaled to fit the model's context of 512 tokens/);
    const j = JSON.parse(r.stdout) as { cache: { requests: number }; nocache: { requests: number } };
    assert.ok(j.cache.requests > 0 && j.cache.requests === j.nocache.requests, r.stdout);
  }
  // Lengths given as flags are kept: one that cannot fit is a clear usage error.
  const over = cli(["bench", "offline", "--system-prompt-len", "600"]);
  assert.equal(over.code, 2);
  assert.match(over.stderr, /^radixlm: error: the workload's longest chain needs 696 tokens \(--system-prompt-len 600, --question-len 64, --output-len 32\), more than the model's context of 512/);
});

test("radixlm generate takes the model's defaults (the demo's are greedy) and checks --generation-config", T, () => {
  const greedy = cli(["generate", "--chat", "Hi", "--max-tokens", "24", "--temperature", "0"]);
  assert.equal(greedy.code, 0, greedy.stderr);
  // The demo model is greedy by default: the same answer without --temperature.
  assert.equal(cli(["generate", "--chat", "Hi", "--max-tokens", "24"]).stdout, greedy.stdout);
  assert.doesNotMatch(greedy.stdout, /assistant|<\|im_/);
  const bad = cli(["generate", "--chat", "Hi", "--generation-config", "vllm"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--generation-config must be auto or none, got "vllm"/);
});
