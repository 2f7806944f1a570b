import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, QueueFullError, type EngineOptions } from "../../src/engine/engine.js";
import { ContextLengthError, InputError, MAX_CACHE_SALT_LENGTH, MAX_SEQUENCES_PER_REQUEST, type GenerateInput } from "../../src/engine/input.js";
import type { GenerateResult } from "../../src/engine/stream.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { mulberry32 } from "../../src/util/random.js";
import { testModel } from "../helpers/models.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";
import { logSumExp } from "../../src/sampling/logprobs.js";
import { logitsByChunks, range } from "../helpers/run.js";
import { RequestError } from "../../src/scheduler/request.js";

let modelPromise: Promise<LoadedModel> | null = null;
function model(): Promise<LoadedModel> {
  modelPromise ??= testModel("engine-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 11 }).then(loadModel);
  return modelPromise;
}

async function withEngine<T>(opts: Omit<EngineOptions, "model">, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await Engine.create({ model: await model(), checkInvariants: true, ...opts });
  try {
    return await fn(e);
  } finally {
    await e.close();
  }
}

/** A workload with shared prefixes, branching and multi-turn growth, deterministic by seed. */
function workload(seed: number, count: number): GenerateInput[] {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const toks = (n: number): number[] => Array.from({ length: n }, () => 3 + int(1000));
  const systems = [toks(24), toks(40), toks(9)];
  const out: GenerateInput[] = [];
  let history = toks(6);
  for (let i = 0; i < count; i++) {
    const kind = int(4);
    let ids: number[];
    if (kind === 0) ids = [...systems[int(3)]!, ...toks(1 + int(12))];
    else if (kind === 1) ids = history = [...history, ...toks(2 + int(6))]; // multi-turn
    else if (kind === 2) ids = [...systems[0]!.slice(0, 5 + int(15)), ...toks(4)]; // branch mid-edge
    else ids = toks(3 + int(20));
    const sampled = int(3) === 0;
    out.push({
      inputIds: ids,
      n: int(5) === 0 ? 2 : 1,
      params: sampled
        ? { temperature: 0.9, topP: 0.9, seed: 100 + i, maxNewTokens: 3 + int(8), ignoreEos: true, logprobs: true, topLogprobs: 2 }
        : { temperature: 0, maxNewTokens: 3 + int(8), ignoreEos: true, logprobs: true },
    });
  }
  return out;
}

function strip(r: GenerateResult): unknown {
  return r.samples.map((s) => ({ tokens: s.tokenIds, logprobs: s.logprobs, reason: s.finishReason }));
}

async function runAll(e: Engine, inputs: GenerateInput[], order: number[]): Promise<unknown[]> {
  const results: unknown[] = new Array(inputs.length);
  await Promise.all(order.map(async (i, k) => {
    // staggered arrivals: some while others run
    await new Promise((r) => setTimeout(r, (k % 4) * 2));
    results[i] = strip(await e.complete(inputs[i]!));
  }));
  return results;
}

test("cache transparency: identical tokens and logprobs with the radix cache on and off", async () => {
  const inputs = workload(1, 24);
  const order = inputs.map((_, i) => i);
  const base = await withEngine({ disableRadixCache: true, maxTotalTokens: 4096 }, (e) => runAll(e, inputs, order));
  const configs: Omit<EngineOptions, "model">[] = [
    { maxTotalTokens: 4096 },
    { maxTotalTokens: 4096, chunkedPrefillSize: 1 },
    { maxTotalTokens: 4096, chunkedPrefillSize: 7, policy: "fcfs" },
    { maxTotalTokens: 4096, chunkedPrefillSize: 16, policy: "dfs-weight" },
    { maxTotalTokens: 4096, chunkedPrefillSize: 24, prefillFirst: true },
    // a pool so small that eviction and retraction are forced
    { maxTotalTokens: 90, chunkedPrefillSize: 32, scheduleConservativeness: 0 },
    { maxTotalTokens: 90, chunkedPrefillSize: 12, scheduleConservativeness: 0, prefillFirst: true },
  ];
  for (const cfg of configs) {
    const shuffled = [...order].sort((a, b) => ((a * 7919 + cfg.chunkedPrefillSize! * 31) % 97) - ((b * 7919 + cfg.chunkedPrefillSize! * 31) % 97));
    const got = await withEngine(cfg, async (e) => {
      const r = await runAll(e, inputs, shuffled);
      const st = e.stats();
      assert.equal(st.running, 0);
      assert.equal(st.protectedTokens, 0, "nothing stays locked");
      assert.equal(st.kvFree + st.evictableTokens, st.kvCapacity, "no slot leaked");
      if (cfg.maxTotalTokens === 90 && cfg.chunkedPrefillSize === 32) {
        assert.ok(st.evictedTokens > 0, "small pool exercised eviction");
        assert.ok(st.retractions > 0, "small pool exercised retraction");
      }
      if (cfg.maxTotalTokens === 4096) assert.ok(st.hitTokens > 0, "the cache was used");
      return r;
    });
    assert.deepEqual(got, base, `config ${JSON.stringify(cfg)}`);
  }
});

test("cache transparency holds with a request that fails on purpose in every batch; the failures cost only themselves", async () => {
  const inputs = workload(1, 24);
  const order = inputs.map((_, i) => i);
  const base = await withEngine({ disableRadixCache: true, maxTotalTokens: 4096 }, (e) => runAll(e, inputs, order));
  const configs: Omit<EngineOptions, "model">[] = [
    { maxTotalTokens: 4096 },
    { maxTotalTokens: 4096, chunkedPrefillSize: 7, policy: "fcfs" },
    { maxTotalTokens: 4096, chunkedPrefillSize: 24, prefillFirst: true },
    { maxTotalTokens: 90, chunkedPrefillSize: 32, scheduleConservativeness: 0 },
    { maxTotalTokens: 4096, disableRadixCache: true },
  ];
  for (const cfg of configs) {
    const got = await withEngine(cfg, async (e) => {
      // A grammar that allows no token: each of these requests prefills, then fails at its first sample.
      const nothing = await e.compileGrammar({ kind: "ebnf", grammar: "root ::= root" });
      let go = true;
      let failures = 0;
      const saboteur = (async () => {
        for (let i = 0; go; i++) {
          const input = { inputIds: [5 + (i % 7), 9, 11 + (i % 13)], params: { maxNewTokens: 3, logprobs: true }, grammar: nothing };
          await assert.rejects(e.complete(input), (err: unknown) => err instanceof RequestError && /no token is allowed at output position 0/.test(err.message));
          failures++;
        }
      })();
      const steps = e.stats().steps;
      const r = await runAll(e, inputs, order);
      go = false;
      await saboteur;
      const st = e.stats();
      // With room in the budget and the pool, every step has one; small chunks, a tiny pool or
      // prefill-first steps admit it less often.
      const every = cfg === configs[0];
      assert.ok(every ? failures >= st.steps - steps - 1 : failures >= 3, `${failures} failures in ${st.steps - steps} steps`);
      assert.equal(st.running + st.queued, 0);
      assert.equal(st.protectedTokens, 0, "nothing stays locked");
      assert.equal(st.kvFree + st.evictableTokens, st.kvCapacity, "no slot leaked");
      return r;
    });
    assert.deepEqual(got, base, `config ${JSON.stringify(cfg)}`);
  }
});

test("a forward pass that fails fails only the requests in its batch; the engine goes on", async () => {
  const victim = [999, 5, 6, 7];
  // The reference backend, failing every step that computes the victim's first token.
  const faulty: Backend = {
    name: "faulty",
    createRunner(rm, kv) {
      const inner = referenceBackend.createRunner(rm, kv);
      return {
        kv: inner.kv,
        kvTokenBytes: inner.kvTokenBytes,
        exportKv: (slots) => inner.exportKv(slots),
        importKv: (slots, bytes) => inner.importKv(slots, bytes),
        close: () => inner.close(),
        forward: (plan, into) => (plan.tokens.includes(999) ? Promise.reject(new Error("injected kernel failure")) : inner.forward(plan, into)),
      };
    },
  };
  const a = { inputIds: [1, 2, 3], params: { maxNewTokens: 30, ignoreEos: true, logprobs: true } };
  const c = { inputIds: [4, 8, 15, 16, 23, 42], params: { maxNewTokens: 8, ignoreEos: true, logprobs: true } };
  const alone = await withEngine({ maxTotalTokens: 512 }, (e) => e.complete(c));
  await withEngine({ backend: faulty, maxTotalTokens: 512, maxRunningRequests: 2 }, async (e) => {
    const events = e.generate(a)[Symbol.asyncIterator]();
    assert.equal((await events.next()).done, false); // a is decoding
    const v = e.complete({ inputIds: victim, params: { maxNewTokens: 4 } });
    const waiting = e.complete(c); // queued behind the two running requests: not in the failed batch
    await assert.rejects(v, /injected kernel failure/);
    await assert.rejects(async () => {
      for (;;) if ((await events.next()).done) break;
    }, /injected kernel failure/);
    assert.deepEqual(strip(await waiting), strip(alone));
    // And the engine goes on.
    assert.deepEqual(strip(await e.complete(c)), strip(alone));
    const st = e.stats();
    assert.equal(st.running + st.queued, 0);
    assert.equal(st.protectedTokens, 0);
    assert.equal(st.kvFree + st.evictableTokens, st.kvCapacity);
  });
});

test("aborts at any moment leave no slot behind", async () => {
  await withEngine({ maxTotalTokens: 512, chunkedPrefillSize: 8 }, async (e) => {
    const inputs = workload(2, 12).map((x) => ({ ...x, params: { ...x.params, maxNewTokens: 20 } }));
    await Promise.all(inputs.map(async (input, i) => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), i * 3);
      const events = e.generate(input, { signal: ac.signal });
      let reason = "";
      for await (const ev of events) if (ev.type === "finish") reason = ev.reason;
      assert.ok(["abort", "length", "stop"].includes(reason));
    }));
    // a consumer that stops reading cancels its request too
    for await (const ev of e.generate({ inputIds: [5, 6, 7], params: { maxNewTokens: 50, ignoreEos: true } })) {
      if (ev.type === "token") break;
    }
    await new Promise((r) => setTimeout(r, 50));
    const st = e.stats();
    assert.equal(st.running + st.queued, 0);
    assert.equal(st.kvFree + st.evictableTokens, st.kvCapacity);
    e.checkAccounting();
  });
});

test("a repeated prompt is served from the cache and reports cached tokens", async () => {
  await withEngine({ maxTotalTokens: 1024 }, async (e) => {
    const prompt = Array.from({ length: 40 }, (_, i) => 10 + i);
    const a = await e.complete({ inputIds: prompt, params: { maxNewTokens: 4 } });
    const b = await e.complete({ inputIds: prompt, params: { maxNewTokens: 4 } });
    assert.equal(a.usage.cachedTokens, 0);
    assert.equal(b.usage.cachedTokens, 39);
    assert.deepEqual(b.samples[0]!.tokenIds, a.samples[0]!.tokenIds);
    assert.ok(e.flushCache());
    const c = await e.complete({ inputIds: prompt, params: { maxNewTokens: 4 } });
    assert.equal(c.usage.cachedTokens, 0);
  });
});

test("n > 1 samples share the prompt's KV and differ by seed stream", async () => {
  await withEngine({ maxTotalTokens: 1024 }, async (e) => {
    const prompt = Array.from({ length: 30 }, (_, i) => 50 + i);
    const r = await e.complete({ inputIds: prompt, n: 4, params: { temperature: 1.2, seed: 9, maxNewTokens: 12, ignoreEos: true } });
    assert.equal(r.samples.length, 4);
    assert.equal(new Set(r.samples.map((s) => s.tokenIds.join(","))).size > 1, true);
    assert.ok(e.stats().hitTokens >= 3 * 29, "the other samples reused the prompt");
    const again = await e.complete({ inputIds: prompt, n: 4, params: { temperature: 1.2, seed: 9, maxNewTokens: 12, ignoreEos: true } });
    assert.deepEqual(again.samples.map((s) => s.tokenIds), r.samples.map((s) => s.tokenIds));
  });
});

test("stop strings, stop tokens and max tokens end requests with the right reason", async () => {
  await withEngine({ maxTotalTokens: 1024 }, async (e) => {
    const free = await e.complete({ prompt: "hello there", params: { maxNewTokens: 16, ignoreEos: true } });
    assert.equal(free.samples[0]!.finishReason, "length");
    assert.equal(free.samples[0]!.tokenIds.length, 16);
    const text = free.samples[0]!.text;
    if (text.length > 4) {
      const stop = text.slice(2, 4);
      const cut = await e.complete({ prompt: "hello there", params: { maxNewTokens: 16, ignoreEos: true, stop: [stop] } });
      assert.equal(cut.samples[0]!.finishReason, "stop");
      assert.equal(cut.samples[0]!.text, text.slice(0, text.indexOf(stop)));
    }
    const tok = free.samples[0]!.tokenIds[3]!;
    const st = await e.complete({ prompt: "hello there", params: { maxNewTokens: 16, ignoreEos: true, stopTokenIds: [tok] } });
    assert.equal(st.samples[0]!.finishReason, "stop");
    assert.deepEqual(st.samples[0]!.tokenIds, free.samples[0]!.tokenIds.slice(0, free.samples[0]!.tokenIds.indexOf(tok)));
  });
});

test("the queue limit rejects clearly, and bad input is refused before queueing", async () => {
  await withEngine({ maxTotalTokens: 256, maxQueuedRequests: 2, maxRunningRequests: 1 }, async (e) => {
    const long = { inputIds: [1, 2, 3], params: { maxNewTokens: 30, ignoreEos: true } };
    const running = [e.complete(long), e.complete(long)];
    await new Promise((r) => setTimeout(r, 5));
    const p = [e.complete(long)]; // one running, two waiting now
    await assert.rejects(async () => e.complete(long), QueueFullError);
    await Promise.all([...running, ...p]);
    assert.throws(() => e.generate({ inputIds: [1, 2], params: { maxNewTokens: 1000 } }), /exceeds/);
    assert.throws(() => e.generate({ inputIds: [99999] }), /outside the vocabulary/);
    assert.throws(() => e.generate({ inputIds: [1], params: { temperature: -1 } }), /temperature/);
  });
});

test("a prompt text that cannot fit is refused by its size before it is tokenized, and its count is a true lower bound", async () => {
  await withEngine({ maxTotalTokens: 256 }, async (e) => {
    const bound = e.model.tokenizer.maxTextBytesPerToken();
    assert.ok(Number.isFinite(bound));
    const limit = e.contextLength;
    const refusal = (input: GenerateInput): ContextLengthError => {
      let caught: unknown;
      try {
        e.submit([input]);
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof ContextLengthError, String(caught));
      return caught;
    };
    const refused = (prompt: string): ContextLengthError => refusal({ prompt, params: { maxNewTokens: 1 } });
    // one byte more than (limit - 1) tokens of the longest kind can hold
    const over = "z".repeat((limit - 1) * bound + 1);
    const err = refused(over);
    assert.equal(err.atLeast, true);
    assert.equal(err.promptTokens, limit);
    assert.ok(e.model.tokenizer.encode(over, { addSpecial: true, parseSpecial: true }).length >= err.promptTokens);
    assert.match(err.message, /at least 256 tokens/);
    // 30 MB: refused the same way, the tokenizer never called
    const huge = refused("word ".repeat(6 * 2 ** 20));
    assert.equal(huge.atLeast, true);
    // below the byte bound the tokens are counted
    const counted = refused("z".repeat((limit - 1) * bound));
    assert.equal(counted.atLeast, false);
    // millions of ids are refused before they are copied
    assert.equal(refusal({ inputIds: new Array<number>(5_000_000).fill(1) }).promptTokens, 5_000_000);
    assert.equal(e.inflight, 0);
  });
});

test("an unknown field of an input or of its params is an InputError naming it, not a silent default", async () => {
  await withEngine({ maxTotalTokens: 256 }, async (e) => {
    const refused = (input: unknown, param: string, pattern: RegExp): void =>
      assert.throws(() => e.submit([input as GenerateInput]), (err: unknown) => err instanceof InputError && err.param === param && pattern.test(err.message));
    refused({ prompt: "hi", sampling: { maxTokens: 8 } }, "sampling", /Unknown input field 'sampling' \(known: prompt, inputIds, messages, /);
    refused({ prompt: "hi", params: { max_tokens: 8 } }, "params.max_tokens", /Unknown sampling parameter 'max_tokens' \(known: temperature, topK, /);
    refused({ prompt: "hi", params: 3 }, "params", /must be an object/);
    refused(null, "input", /must be an object/);
    assert.equal(e.inflight, 0);
    // every known field, and explicit undefineds, are taken
    const r = await e.complete({ prompt: "hi", params: { maxNewTokens: 2, temperature: 0, seed: undefined }, n: 1, cacheSalt: undefined });
    assert.equal(r.samples[0]!.tokenIds.length, 2);
  });
});

test("a cache salt is at most 256 characters; a submission starts at most 1,024 sequences, queue limit or not", async () => {
  await withEngine({ maxTotalTokens: 256 }, async (e) => {
    const refused = (inputs: GenerateInput[], param: string, pattern: RegExp): void =>
      assert.throws(() => e.submit(inputs), (err: unknown) => err instanceof InputError && err.param === param && pattern.test(err.message));
    refused([{ inputIds: [1, 2], cacheSalt: "s".repeat(MAX_CACHE_SALT_LENGTH + 1) }], "cache_salt", /at most 256 characters/);
    const one = { inputIds: [1, 2], params: { maxNewTokens: 0 } };
    refused(Array.from({ length: 9 }, () => ({ ...one, n: 128 })), "n", /1152 sequences .*one request may have \(1024\)/);
    refused(Array.from({ length: MAX_SEQUENCES_PER_REQUEST + 1 }, () => one), "n", /1025 sequences/);
    assert.equal(e.inflight, 0);
    assert.equal(e.stats().queued, 0);
    // exactly the bound is taken (max_new_tokens 0: only the shared prompt is computed)
    const r = await e.submit([{ ...one, cacheSalt: "s".repeat(MAX_CACHE_SALT_LENGTH) }, ...Array.from({ length: 7 }, () => ({ ...one, n: 128 })), { ...one, n: 127 }]).result();
    assert.equal(r.samples.length, MAX_SEQUENCES_PER_REQUEST);
  });
});

for (const prefillFirst of [false, true]) test(`under a steady stream of requests every request finishes${prefillFirst ? " (prefill first)" : ""}`, async () => {
  await withEngine({ maxTotalTokens: 300, maxRunningRequests: 4, chunkedPrefillSize: 16, prefillFirst }, async (e) => {
    const rnd = mulberry32(5);
    const all: Promise<GenerateResult>[] = [];
    for (let i = 0; i < 30; i++) {
      all.push(e.complete({ inputIds: Array.from({ length: 5 + Math.floor(rnd() * 30) }, (_, j) => 1 + ((i * 13 + j) % 900)), params: { maxNewTokens: 2 + (i % 6), ignoreEos: true } }));
      await new Promise((r) => setTimeout(r, 1));
    }
    const done = await Promise.all(all);
    for (const r of done) assert.equal(r.samples[0]!.finishReason, "length");
  });
});

test("prompt logprobs are the model's own, computed past the cache, and do not change generation", async () => {
  const m = await model();
  const prompt = Array.from({ length: 30 }, (_, i) => 7 + ((i * 37) % 900));
  // Expected: log-softmax of a plain forward pass over the whole prompt.
  const runner = referenceBackend.createRunner(m, { capacity: 64, dtype: "f16" });
  const rows = await logitsByChunks(runner, prompt, prompt.length, range(0, prompt.length));
  runner.close();
  const expected = (from: number): number[] => prompt.slice(from).map((tok, k) => {
    const x = rows[from + k - 1]!;
    let max = -Infinity;
    for (const v of x) if (v > max) max = v;
    return x[tok]! - logSumExp(x, x.length, max);
  });
  await withEngine({ maxTotalTokens: 1024, chunkedPrefillSize: 8 }, async (e) => {
    const plain = await e.complete({ inputIds: prompt, params: { maxNewTokens: 3, temperature: 0 } });
    assert.equal(plain.promptLogprobs, undefined);
    // The whole prompt is cached now; asking for logprobs from position 10 recomputes from 9.
    const events = [];
    for await (const ev of e.generate({ inputIds: prompt, params: { maxNewTokens: 3, temperature: 0 }, promptLogprobsStart: 10 })) events.push(ev);
    const first = events.find((ev) => ev.type === "token")!;
    assert.ok(first.type === "token" && first.promptLogprobs);
    assert.equal(first.promptLogprobs.start, 10);
    assert.deepEqual(first.promptLogprobs.tokenIds, prompt.slice(10));
    assert.deepEqual(first.promptLogprobs.logprobs, expected(10));
    assert.equal(events.filter((ev) => ev.promptLogprobs).length, 1, "sent once");
    const finish = events.at(-1)!;
    assert.ok(finish.type === "finish");
    assert.equal(finish.usage.cachedTokens, 9);
    const again = await e.complete({ inputIds: prompt, params: { maxNewTokens: 3, temperature: 0 }, promptLogprobsStart: 1 });
    assert.deepEqual(again.promptLogprobs!.logprobs, expected(1));
    assert.equal(again.usage.cachedTokens, 0);
    assert.deepEqual(again.samples[0]!.tokenIds, plain.samples[0]!.tokenIds);
    // n > 1: the first sample computes the prompt's logprobs once.
    const two = await e.complete({ inputIds: prompt, params: { maxNewTokens: 2, temperature: 0.8, seed: 3 }, n: 2, promptLogprobsStart: 25 });
    assert.deepEqual(two.promptLogprobs!.logprobs, expected(25));
    assert.throws(() => e.generate({ inputIds: prompt, promptLogprobsStart: 0 }), /promptLogprobsStart/);
    e.checkAccounting();
  });
});

test("on the native backend too, the chunk size changes no token or logprob (steps without logits still compute)", { skip: runnerAddon() ? false : "native addon not built" }, async () => {
  const prompt = Array.from({ length: 150 }, (_, i) => 7 + ((i * 37) % 900));
  const runs: unknown[] = [];
  for (const chunk of [1, 7, 64, 512]) {
    const r = await withEngine({ backend: nativeBackend(runnerAddon()!, 2), maxTotalTokens: 1024, chunkedPrefillSize: chunk }, (e) =>
      e.complete({ inputIds: prompt, params: { maxNewTokens: 6, temperature: 0, logprobs: true } }));
    runs.push(strip(r));
  }
  for (const r of runs.slice(1)) assert.deepEqual(r, runs[0]);
});

// The families beyond llama's block: Granite's multipliers, SmolLM3's layers without RoPE,
// Phi-3's fused matrices, the experts of Qwen3-MoE, Qwen2-MoE (a shared one too) and OLMoE,
// and a sliding window of 11 positions (Mistral's form, Gemma's local layers) that cached
// prefixes outgrow.
const MIXTRAL = { experts: 4, used: 2, expertFfn: 512, normTopK: true };
for (const [arch, layers, windows, moe] of [
  ["granite", 2, undefined, undefined], ["smollm3", 4, undefined, undefined], ["llama", 2, [11, 11], undefined], ["gemma2", 2, [11, 0], undefined],
  ["gemma3", 3, [11, 11, 0], undefined], ["phi3", 2, undefined, undefined], ["qwen3moe", 2, undefined, undefined], ["qwen2moe", 2, undefined, undefined],
  ["olmoe", 2, undefined, undefined], ["llama", 2, undefined, MIXTRAL],
] as const) {
  const name = windows ? `${arch} with a sliding window` : moe ? "mixtral" : arch;
  test(`cache transparency on the native backend for ${name}: the same tokens and logprobs with the cache on and off, any chunk, any order`, { skip: runnerAddon() ? false : "native addon not built" }, async () => {
    const m = await loadModel(await testModel(`engine-${arch}${windows ? "-window" : ""}${moe ? "-moe" : ""}`, { arch, format: "gguf", dtype: "f32", seed: 5,
      sizes: { numLayers: layers, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512, ...(moe ? { moe } : {}) },
      ...(windows ? { attentionWindows: windows } : {}) }));
    try {
      const inputs = workload(3, 12);
      const order = inputs.map((_, i) => i);
      const run = async (opts: Omit<EngineOptions, "model">, ord: number[]): Promise<unknown[]> => {
        const e = await Engine.create({ model: m, checkInvariants: true, backend: nativeBackend(runnerAddon()!, 2), maxTotalTokens: 4096, ...opts });
        try {
          const r = await runAll(e, inputs, ord);
          if (!opts.disableRadixCache) assert.ok(e.stats().hitTokens > 0, "the cache was used");
          return r;
        } finally {
          await e.close();
        }
      };
      const base = await run({ disableRadixCache: true }, order);
      for (const [chunk, ord] of [[512, order], [7, [...order].reverse()]] as const) {
        assert.deepEqual(await run({ chunkedPrefillSize: chunk }, [...ord]), base, `${arch} chunk ${chunk}`);
      }
    } finally {
      m.close();
    }
  });
}
