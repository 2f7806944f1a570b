import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { makeWorkload, makeWorkloadFrom, DEFAULT_WORKLOAD, type WorkloadOptions, type Workload } from "../../src/bench/workloads.js";
import { PromptText, wordAlphabet } from "../../src/bench/prompt-text.js";
import { loadTokenizerFile } from "../../src/tokenizer/load.js";
import { testModel, SHARED_TESTDATA } from "../helpers/models.js";

const opts = (o: Partial<WorkloadOptions>): WorkloadOptions => ({ ...DEFAULT_WORKLOAD, seed: 7, ...o });
const LO = 10, HI = 1000;

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Prompts grouped by their first `n` tokens: the sizes of the groups, largest first. */
function prefixGroups(prompts: readonly (readonly number[])[], n: number): number[] {
  const m = new Map<string, number>();
  for (const p of prompts) m.set(p.slice(0, n).join(","), (m.get(p.slice(0, n).join(",")) ?? 0) + 1);
  return [...m.values()].sort((a, b) => b - a);
}

const firsts = (w: Workload): number[][] => w.chains.map((c) => [...c[0]!.tokens]);

test("generated-shared-prefix: G groups of P prompts, L shared + Q own tokens, shuffled", () => {
  const o = opts({ groups: 3, promptsPerGroup: 4, systemPromptLen: 50, questionLen: 7, outputLen: 5 });
  const w = makeWorkload("generated-shared-prefix", o, LO, HI);
  assert.equal(w.chains.length, 12);
  for (const c of w.chains) {
    assert.equal(c.length, 1);
    assert.equal(c[0]!.tokens.length, 57);
    assert.equal(c[0]!.outputLen, 5);
    assert.ok(c[0]!.tokens.every((t) => t >= LO && t < HI));
  }
  const prompts = firsts(w);
  assert.deepEqual(prefixGroups(prompts, 50), [4, 4, 4]);
  // Different groups share (next to) nothing; the same group shares exactly its system prompt.
  for (let i = 0; i < prompts.length; i++) {
    for (let j = i + 1; j < prompts.length; j++) {
      const cp = commonPrefix(prompts[i]!, prompts[j]!);
      const same = prompts[i]!.slice(0, 50).join() === prompts[j]!.slice(0, 50).join();
      if (same) assert.ok(cp >= 50 && cp < 57, `pair ${i},${j} shares ${cp}`);
      else assert.ok(cp < 3, `pair ${i},${j} shares ${cp}`);
    }
  }
  // Shuffled: the groups are not sent one after the other.
  const order = prompts.map((p) => p.slice(0, 50).join());
  const runs = order.filter((k, i) => i === 0 || k !== order[i - 1]).length;
  assert.ok(runs > 3, `prompts come in ${runs} runs of one group`);
  // Deterministic by seed.
  assert.deepEqual(makeWorkload("generated-shared-prefix", o, LO, HI), w);
  assert.notDeepEqual(makeWorkload("generated-shared-prefix", { ...o, seed: 8 }, LO, HI), w);
});

test("few-shot: one shared block of examples, G*P different questions", () => {
  const w = makeWorkload("few-shot", opts({ groups: 2, promptsPerGroup: 5, systemPromptLen: 40, questionLen: 9, outputLen: 3 }), LO, HI);
  assert.equal(w.chains.length, 10);
  const prompts = firsts(w);
  assert.ok(prompts.every((p) => p.length === 49));
  assert.deepEqual(prefixGroups(prompts, 40), [10]);
  assert.equal(new Set(prompts.map((p) => p.slice(40).join())).size, 10);
});

test("multi-turn: C conversations of T turns, each turn Q new tokens after the history", () => {
  const w = makeWorkload("multi-turn", opts({ conversations: 3, turns: 4, systemPromptLen: 30, questionLen: 6, outputLen: 4 }), LO, HI);
  assert.equal(w.chains.length, 3);
  for (const c of w.chains) {
    assert.deepEqual(c.map((s) => s.tokens.length), [36, 6, 6, 6]);
    assert.ok(c.every((s) => s.outputLen === 4));
  }
  // Conversations are independent: their openings share nothing.
  const prompts = firsts(w);
  assert.deepEqual(prefixGroups(prompts, 3), [1, 1, 1]);
});

test("agent-loop: each run starts with a task, then a tool result per step", () => {
  const w = makeWorkload("agent-loop", opts({ conversations: 2, turns: 5, systemPromptLen: 20, questionLen: 4, outputLen: 2 }), LO, HI);
  assert.equal(w.chains.length, 2);
  for (const c of w.chains) assert.deepEqual(c.map((s) => s.tokens.length), [24, 8, 8, 8, 8]);
  assert.deepEqual(prefixGroups(firsts(w), 3), [1, 1]);
});

test("random: G*P prompts of L+Q tokens, no shared prefixes", () => {
  const w = makeWorkload("random", opts({ groups: 4, promptsPerGroup: 3, systemPromptLen: 25, questionLen: 5, outputLen: 2 }), LO, HI);
  assert.equal(w.chains.length, 12);
  const prompts = firsts(w);
  assert.ok(prompts.every((p) => p.length === 30));
  for (let i = 0; i < prompts.length; i++) for (let j = i + 1; j < prompts.length; j++) assert.ok(commonPrefix(prompts[i]!, prompts[j]!) < 3);
});

test("an alphabet workload has the same shape, drawn from the alphabet", () => {
  const alphabet = [101, 205, 333, 470, 512, 640, 777, 901];
  const o = opts({ groups: 2, promptsPerGroup: 3, systemPromptLen: 12, questionLen: 4 });
  const w = makeWorkloadFrom("generated-shared-prefix", o, alphabet);
  assert.equal(w.chains.length, 6);
  assert.ok(w.chains.every((c) => c[0]!.tokens.length === 16 && c[0]!.tokens.every((t) => alphabet.includes(t))));
  assert.deepEqual(prefixGroups(firsts(w), 12), [3, 3]);
});

/** Text built from the word alphabet tokenizes back to exactly the ids, alone and continued. */
async function checkRoundTrip(file: string): Promise<void> {
  const tok = await loadTokenizerFile(file);
  const alphabet = wordAlphabet(tok);
  assert.ok(alphabet.length >= 32, `${file}: ${alphabet.length} word tokens`);
  const text = new PromptText(tok, alphabet);
  const w = makeWorkloadFrom("multi-turn", opts({ conversations: 2, turns: 3, systemPromptLen: 200, questionLen: 30 }), alphabet);
  for (const chain of w.chains) {
    let sofar = "";
    const ids: number[] = [];
    for (const step of chain) {
      sofar = sofar === "" ? text.first(step.tokens) : sofar + text.continuation(step.tokens);
      ids.push(...step.tokens);
      assert.deepEqual(tok.encode(sofar), ids, `${path.basename(file)}: text does not tokenize back`);
      assert.equal(text.count(sofar), ids.length);
    }
  }
}

test("prompt text tokenizes to the exact ids (test tokenizer)", async () => {
  await checkRoundTrip(await testModel("bench-tok", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 }));
});

test("prompt text tokenizes to the exact ids (real vocabularies)", async (t) => {
  for (const name of ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"]) {
    const file = path.join(SHARED_TESTDATA, "vocab", name);
    if (!fs.existsSync(file)) {
      t.diagnostic(`${file} absent: shared test data not available`);
      continue;
    }
    await checkRoundTrip(file);
  }
});
