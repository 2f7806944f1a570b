// Time per sample() at a Qwen-sized vocabulary (151,936). The floor is loose (other test
// files run beside this one); the diagnostics print the figures.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SAMPLING, type SamplingParams } from "../../src/sampling/params.js";
import { Sampler } from "../../src/sampling/sampler.js";
import { mulberry32 } from "../../src/util/random.js";

const VOCAB = 151936;
const MAX_MS = 25;

/** LLM-like rows: a Gaussian body with a few dozen strong candidates on top. */
function rows(count: number, peaked: boolean): Float32Array[] {
  const rand = mulberry32(1);
  return Array.from({ length: count }, () => {
    const x = new Float32Array(VOCAB);
    for (let i = 0; i < VOCAB; i++) x[i] = 2 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    if (peaked) for (let j = 0; j < 30; j++) x[Math.floor(rand() * VOCAB)] = 8 + rand() * 8;
    return x;
  });
}

const cases: [string, Partial<SamplingParams>, boolean][] = [
  ["greedy", { temperature: 0 }, true],
  ["greedy + logprobs(5)", { temperature: 0, logprobs: true, topLogprobs: 5 }, true],
  ["temperature 0.7", { temperature: 0.7 }, true],
  ["temperature 0.7 + top_p 0.9", { temperature: 0.7, topP: 0.9 }, true],
  ["temperature 0.7 + top_k 50 + top_p 0.9", { temperature: 0.7, topK: 50, topP: 0.9 }, true],
  ["temperature 1 + top_p 0.95, flat logits", { temperature: 1, topP: 0.95 }, false],
  ["temperature 1 + top_k 1000, flat logits", { temperature: 1, topK: 1000 }, false],
  ["penalties + bias + min_p", { temperature: 0.7, repetitionPenalty: 1.1, frequencyPenalty: 0.5, presencePenalty: 0.5, minP: 0.05, logitBias: { "5": 3 } }, true],
];

test(`sample() at vocabulary ${VOCAB} takes < ${MAX_MS} ms per token`, (t) => {
  const peaked = rows(8, true);
  const flat = rows(8, false);
  const prompt = Array.from({ length: 2000 }, (_, i) => (i * 7919) % VOCAB);
  for (const [name, fields, isPeaked] of cases) {
    const s = new Sampler({ ...DEFAULT_SAMPLING, seed: 1, ...fields }, { vocabSize: VOCAB, promptTokens: prompt });
    const data = isPeaked ? peaked : flat;
    for (let i = 0; i < 20; i++) s.sampleToken(data[i % data.length]!); // warm up
    const iters = 200;
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) s.sampleToken(data[i % data.length]!);
    const ms = (performance.now() - t0) / iters;
    t.diagnostic(`${name}: ${ms.toFixed(3)} ms/token`);
    assert.ok(ms < MAX_MS, `${name}: ${ms.toFixed(2)} ms per token`);
  }
});
