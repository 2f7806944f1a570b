// The workload bound: measured kernel costs at a workload's shape, and the arithmetic over them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attendedPositions, formatBound, meanSharedPrefix, measureKernelCosts, workloadBound } from "../../src/bench/bound.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { serverEngine } from "../../src/bench/serve-bound.js";
import { loadModel } from "../../src/model/load.js";
import { testModel } from "../helpers/models.js";

test("kernel costs at a workload's shape, clamped to the model's context", async () => {
  const model = await loadModel(await testModel("bound-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 5 }));
  try {
    const ctx = model.config.maxPositionEmbeddings;
    const c = await measureKernelCosts(model, referenceBackend, { chunk: 64, perRequest: 16, prefix: 2 * ctx, batch: 3, context: 2 * ctx, sharedPrefix: 3 * ctx });
    assert.deepEqual(c.shape, { chunk: 64, perRequest: 16, prefix: ctx - 16, batch: 3, context: ctx, sharedPrefix: ctx - 1 });
    assert.ok(c.prefillTokS > 0 && Number.isFinite(c.prefillTokS));
    assert.ok(c.prefillRowMs > 0 && Number.isFinite(c.prefillRowMs));
    assert.ok(c.attendNs >= 0 && Number.isFinite(c.attendNs));
    assert.ok(c.decodeStepMs > 0 && Number.isFinite(c.decodeStepMs));
  } finally {
    model.close();
  }
});

test("the bound is computed tokens at their row and attention costs plus decode steps of the batch", () => {
  const costs = {
    shape: { chunk: 512, perRequest: 50, prefix: 1500, batch: 4, context: 1566, sharedPrefix: 1500 },
    prefillRowMs: 1, attendNs: 500, prefillTokS: 800, decodeStepMs: 20,
  };
  const b = workloadBound(2300, 2e6, 16 * 32, costs);
  assert.equal(b.decodeSteps, 128);
  assert.ok(Math.abs(b.prefillSeconds - 3.3) < 1e-9);  // 2300 x 1 ms + 2e6 x 500 ns
  assert.equal(b.decodeSeconds, 2.56);
  assert.ok(Math.abs(b.seconds - 5.86) < 1e-9);
  assert.equal(formatBound(b, 11.72),
    "bound at this machine's kernel speed: 5.86 s = 2300 computed prompt tokens (1.00 ms each + 500.0 ns per position attended, 2.00 M in all: 3.30 s) " +
    "+ 128 decode steps of 4 at 20.00 ms (context 1566, 1500 shared: 2.56 s); the cache run took 11.72 s, 50% of the bound's speed");
});

test("positions attended and prefixes shared, as the bound counts them", () => {
  // Tokens 3..5 of a 6-token prompt with 3 cached attend to 4 + 5 + 6 positions.
  assert.equal(attendedPositions(6, 3), 15);
  assert.equal(attendedPositions(4, 0), 10);
  assert.equal(meanSharedPrefix([[1, 2, 3, 4], [1, 2, 3, 9], [1, 2, 7], [5]]), (3 + 2 + 0) / 3);
  assert.equal(meanSharedPrefix([[1, 2]]), 0);
});

test("a server's engine settings are taken only when whole and within bounds", () => {
  const ok = { backend: "native", threads: 2, kv_cache_dtype: "f16", chunked_prefill_size: 512, max_running_requests: 64 };
  assert.deepEqual(serverEngine({ engine: ok }), { backend: "native", threads: 2, kvCacheDtype: "f16", chunkedPrefillSize: 512, maxRunningRequests: 64 });
  assert.equal(serverEngine(null), null);
  assert.equal(serverEngine({}), null);
  assert.equal(serverEngine({ engine: { ...ok, threads: 100_000 } }), null);
  assert.equal(serverEngine({ engine: { ...ok, threads: 1.5 } }), null);
  assert.equal(serverEngine({ engine: { ...ok, backend: "cuda" } }), null);
  assert.equal(serverEngine({ engine: { ...ok, kv_cache_dtype: "q8" } }), null);
  assert.equal(serverEngine({ engine: { ...ok, max_running_requests: undefined } }), null);
});
