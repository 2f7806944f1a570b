// Speculative decoding (src/speculative, engine/verify-step.ts) on real models and kernels:
// outputs bitwise those of plain decoding, pool accounting exact through rollbacks, and
// aborts in the middle of a speculative step (verify-step.test.ts checks the distribution).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import type { GenerateInput } from "../../src/engine/input.js";
import type { GenerateResult } from "../../src/engine/stream.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { mulberry32 } from "../../src/util/random.js";
import { testModel } from "../helpers/models.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend, StepPlan } from "../../src/kernels/backend.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";

const native = runnerAddon();
const NATIVE_SKIP = native ? false : "native addon not built";

let modelPromise: Promise<LoadedModel> | null = null;
function model(): Promise<LoadedModel> {
  modelPromise ??= testModel("spec-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 23,
    sizes: { numLayers: 2, hiddenSize: 128, numHeads: 4, numKvHeads: 2, headDim: 32, intermediateSize: 256 } }).then(loadModel);
  return modelPromise;
}

async function withEngine<T>(opts: Omit<EngineOptions, "model">, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await Engine.create({ model: await model(), checkInvariants: true, maxTotalTokens: 4096, speculative: "ngram", ...opts });
  try {
    return await fn(e);
  } finally {
    await e.close();
  }
}

/**
 * Prompts that give drafts something to find: a block written twice, a block and its start,
 * a short alphabet, and plain random ones; greedy and seeded sampling with logprobs,
 * penalties, stop strings, n = 2, and max_new_tokens that ends inside a draft.
 */
function workload(seed: number, count: number): GenerateInput[] {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const toks = (n: number, alphabet = 600): number[] => Array.from({ length: n }, () => 5 + int(alphabet));
  const out: GenerateInput[] = [];
  for (let i = 0; i < count; i++) {
    const block = toks(8 + int(24));
    const kind = int(4);
    const ids = kind === 0 ? [...block, ...block] : kind === 1 ? [...block, ...toks(5), ...block.slice(0, 4)] : kind === 2 ? toks(30, 6) : toks(6 + int(20));
    const style = int(5);
    const max = 4 + int(28);
    const params =
      style === 0 ? { temperature: 0, maxNewTokens: max, ignoreEos: true, logprobs: true, topLogprobs: 3 }
      : style === 1 ? { temperature: 0.8, topP: 0.9, seed: 7 + i, maxNewTokens: max, ignoreEos: true, logprobs: true, topLogprobs: 2 }
      : style === 2 ? { temperature: 0, maxNewTokens: max, ignoreEos: true, repetitionPenalty: 1.3, frequencyPenalty: 0.4, logprobs: true }
      : style === 3 ? { temperature: 1.1, topK: 20, minP: 0.01, seed: 99 + i, maxNewTokens: max, presencePenalty: 0.5, logprobs: true }
      : { temperature: 0, maxNewTokens: max, stop: ["ab", "x y"], logprobs: true };
    out.push({ inputIds: ids, n: int(6) === 0 ? 2 : 1, params });
  }
  return out;
}

function strip(r: GenerateResult): unknown {
  return r.samples.map((s) => ({ tokens: s.tokenIds, logprobs: s.logprobs, reason: s.finishReason, text: s.text }));
}

/** The workload twice (the second pass finds the first's outputs in the radix tree), staggered arrivals. */
async function runTwice(e: Engine, inputs: readonly GenerateInput[]): Promise<unknown[]> {
  const all: unknown[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const results: unknown[] = new Array(inputs.length);
    await Promise.all(inputs.map(async (input, k) => {
      await new Promise((r) => setTimeout(r, (k % 4) * 2));
      results[k] = strip(await e.complete(input));
    }));
    all.push(...results);
  }
  return all;
}

interface Run {
  readonly outputs: unknown[];
  readonly drafted: number;
  readonly accepted: number;
}

async function run(opts: Omit<EngineOptions, "model">, inputs: readonly GenerateInput[]): Promise<Run> {
  return withEngine(opts, async (e) => {
    const outputs = await runTwice(e, inputs);
    const st = e.stats();
    assert.equal(st.running + st.queued, 0);
    assert.equal(st.kvFree + st.evictableTokens, st.kvCapacity, "no slot leaked");
    return { outputs, drafted: st.specDraftTokens, accepted: st.specAcceptedTokens };
  });
}

test("speculation changes no token, logprob or text: greedy and seeded, cache on and off, any chunk, 1 or 2 threads", { skip: NATIVE_SKIP }, async () => {
  const inputs = workload(5, 20);
  const base = await run({ speculative: "off", disableRadixCache: true, backend: nativeBackend(native!, 2) }, inputs);
  assert.equal(base.drafted, 0);
  const configs: Omit<EngineOptions, "model">[] = [
    { backend: nativeBackend(native!, 2) },
    { backend: nativeBackend(native!, 2), disableRadixCache: true },
    { backend: nativeBackend(native!, 1), chunkedPrefillSize: 7 },
    { backend: nativeBackend(native!, 2), chunkedPrefillSize: 8, speculativeMaxDraft: 3 },
    { backend: nativeBackend(native!, 1), speculativeMaxDraft: 16, maxRunningRequests: 3 },
    { backend: nativeBackend(native!, 2), speculative: "off" },
  ];
  for (const cfg of configs) {
    const r = await run(cfg, inputs);
    const name = JSON.stringify({ ...cfg, backend: undefined });
    assert.deepEqual(r.outputs, base.outputs, `config ${name}`);
    if (cfg.speculative === "off") continue;
    assert.ok(r.drafted > 0 && r.accepted > 0, `${name}: drafts were made and some accepted (${r.accepted} of ${r.drafted})`);
    assert.ok(r.accepted < r.drafted, "some drafts were rejected too");
  }
});

test("on the reference backend too, speculation changes no token or logprob", async () => {
  const inputs = workload(8, 10);
  const off = await run({ speculative: "off" }, inputs);
  const on = await run({ chunkedPrefillSize: 5 }, inputs);
  assert.deepEqual(on.outputs, off.outputs);
  assert.ok(on.accepted > 0);
});

test("a tight pool: drafts never retract anyone, retractions and rollbacks keep the accounting exact at every step", { skip: NATIVE_SKIP }, async () => {
  const inputs = workload(11, 16).map((x) => ({ ...x, params: { ...x.params, maxNewTokens: 40, ignoreEos: true } }));
  const base = await run({ speculative: "off", backend: nativeBackend(native!, 2), maxTotalTokens: 4096 }, inputs);
  // checkInvariants: free + evictable + protected + owned == capacity after every step.
  const tight = await withEngine({ backend: nativeBackend(native!, 2), maxTotalTokens: 300, scheduleConservativeness: 0 }, async (e) => {
    const outputs = await runTwice(e, inputs);
    const st = e.stats();
    assert.ok(st.retractions > 0, "the pool was tight enough to retract");
    assert.ok(st.specAcceptedTokens > 0);
    assert.ok(e.flushCache());
    assert.equal(e.stats().kvFree, st.kvCapacity, "every slot is back in the pool");
    return outputs;
  });
  assert.deepEqual(tight, base.outputs);
});

test("the tree drafts a repeated request's whole output, and usage reports the accepted drafts", { skip: NATIVE_SKIP }, async () => {
  // No token repeats in the prompt, so only the tree (the first run's output) can draft.
  const prompt = Array.from({ length: 40 }, (_, i) => 5 + i * 7);
  const input: GenerateInput = { inputIds: prompt, params: { temperature: 0, maxNewTokens: 48, ignoreEos: true } };
  await withEngine({ backend: nativeBackend(native!, 2), speculativeMaxDraft: 8 }, async (e) => {
    const first = await e.complete(input);
    const again = await e.complete(input);
    assert.deepEqual(again.samples[0]!.tokenIds, first.samples[0]!.tokenIds);
    const spec = again.samples[0]!.speculative!;
    // 47 tokens after the first; the tree's drafts are all accepted, longer as they keep being
    // (how long also depends on the step cost measured on this machine).
    assert.equal(spec.acceptedTokens, spec.draftTokens);
    assert.ok(spec.acceptedTokens >= 24, JSON.stringify(spec));
    assert.ok(spec.verifySteps < spec.acceptedTokens, JSON.stringify(spec));
    assert.equal(again.usage.acceptedDraftTokens, spec.acceptedTokens);
    assert.equal(again.usage.rejectedDraftTokens, 0);
    assert.equal(again.usage.completionTokens, 48);
  });
});

test("a prediction (the expected output) is drafted from first; a wrong one changes nothing but speed", { skip: NATIVE_SKIP }, async () => {
  const prompt = Array.from({ length: 30 }, (_, i) => 5 + ((i * 31) % 500));
  const params = { temperature: 0, maxNewTokens: 40, ignoreEos: true };
  await withEngine({ backend: nativeBackend(native!, 2), disableRadixCache: true }, async (e) => {
    const plain = await e.complete({ inputIds: prompt, params });
    const out = plain.samples[0]!.tokenIds;
    const right = await e.complete({ inputIds: prompt, params, prediction: out });
    assert.deepEqual(right.samples[0]!.tokenIds, out);
    assert.ok(right.usage.acceptedDraftTokens >= 30, JSON.stringify(right.usage));
    const wrong = await e.complete({ inputIds: prompt, params, prediction: Array.from({ length: 40 }, (_, i) => 600 + i) });
    assert.deepEqual(wrong.samples[0]!.tokenIds, out);
    assert.throws(() => e.submit([{ inputIds: prompt, params, prediction: [1 << 30] }]), /prediction has token id/);
    assert.throws(() => e.submit([{ inputIds: prompt, params, prediction: new Array(5000).fill(5) }]), /prediction must be/);
  });
});

test("drafts stop at max_new_tokens and at EOS: no token past either", { skip: NATIVE_SKIP }, async () => {
  const m = await model();
  const prompt = Array.from({ length: 30 }, (_, i) => 5 + ((i * 13) % 97));
  await withEngine({ backend: nativeBackend(native!, 2) }, async (e) => {
    const long = await e.complete({ inputIds: prompt, params: { temperature: 0, maxNewTokens: 60, ignoreEos: true } });
    const out = long.samples[0]!.tokenIds;
    for (const max of [1, 2, 5, 9, 17]) {
      const r = await e.complete({ inputIds: prompt, params: { temperature: 0, maxNewTokens: max, ignoreEos: true } });
      assert.deepEqual(r.samples[0]!.tokenIds, out.slice(0, max));
      assert.equal(r.samples[0]!.finishReason, "length");
    }
    // A token of the output made a stop token: the output ends just before its first use.
    const stopAt = out.findIndex((t, i) => i >= 6 && !m.config.eosTokenIds.includes(t));
    const stop = out[stopAt]!;
    const r = await e.complete({ inputIds: prompt, params: { temperature: 0, maxNewTokens: 60, stopTokenIds: [stop] } });
    assert.deepEqual(r.samples[0]!.tokenIds, out.slice(0, out.indexOf(stop)));
    assert.equal(r.samples[0]!.finishReason, "stop");
  });
});

test("an abort that lands while a speculative step computes: the others' outputs are unchanged, the pool exact", { skip: NATIVE_SKIP }, async () => {
  const inputs = workload(17, 8).map((x) => ({ ...x, n: 1, params: { ...x.params, maxNewTokens: 30, ignoreEos: true } }));
  const alone = await run({ backend: nativeBackend(native!, 2), speculative: "off" }, inputs);
  let engine: Engine | null = null;
  const victims = new Set<string>();
  const aborted: string[] = [];
  // The native backend, aborting a victim whenever a step carries its drafts (rows past its next one).
  const inner = nativeBackend(native!, 2);
  const aborting: Backend = {
    name: "aborting",
    createRunner(rm, kv) {
      const r = inner.createRunner(rm, kv);
      return {
        kv: r.kv, kvTokenBytes: r.kvTokenBytes, exportKv: (s) => r.exportKv(s), importKv: (s, b) => r.importKv(s, b), close: () => r.close(),
        forward: (plan: StepPlan, into, hidden) => {
          const p = r.forward(plan, into, hidden);
          if (hasDraft(plan)) for (const id of victims) {
            victims.delete(id);
            aborted.push(id);
            engine!.abort(id);
            break;
          }
          return p;
        },
      };
    },
  };
  await withEngine({ backend: aborting }, async (e) => {
    engine = e;
    const results = await Promise.all(inputs.map(async (input, k) => {
      const id = `r${k}`;
      if (k % 2 === 1) victims.add(id);
      return e.complete({ ...input, requestId: id });
    }));
    assert.ok(aborted.length > 0, "some victim was aborted mid-step");
    results.forEach((r, k) => {
      const id = `r${k}`;
      if (aborted.includes(id)) assert.equal(r.samples[0]!.finishReason, "abort");
      else assert.deepEqual(strip(r), (alone.outputs as unknown[])[k]);
    });
    assert.ok(e.flushCache());
    assert.equal(e.stats().kvFree, e.stats().kvCapacity);
  });
});

/** Whether some sequence of the step computes more than one row at a decode position (drafts). */
function hasDraft(plan: StepPlan): boolean {
  return plan.seqs.some((s) => s.count > 1 && plan.logitRows.filter((r) => r >= s.start && r < s.start + s.count).length > 1);
}

test("speculative off: one row per decoding request, nothing drafted", async () => {
  await withEngine({ speculative: "off", backend: referenceBackend }, async (e) => {
    const r = await e.complete({ inputIds: [5, 6, 5, 6, 5, 6, 5], params: { temperature: 0, maxNewTokens: 12, ignoreEos: true } });
    assert.deepEqual(r.samples[0]!.speculative, { draftTokens: 0, acceptedTokens: 0, verifySteps: 0 });
    assert.equal(e.stats().specDraftTokens, 0);
  });
  await assert.rejects(Engine.create({ model: await model(), speculativeMaxDraft: 0 }), /speculativeMaxDraft/);
  // Off unless asked for.
  const e = await Engine.create({ model: await model(), maxTotalTokens: 512 });
  try {
    await e.complete({ inputIds: [5, 6, 5, 6, 5, 6, 5], params: { temperature: 0, maxNewTokens: 12, ignoreEos: true } });
    assert.equal(e.stats().specDraftTokens, 0);
  } finally {
    await e.close();
  }
});
