// The workload bound: measured kernel costs at a workload's shape, and the arithmetic over them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { measureKernelCosts, workloadBound, formatBound } from "../../src/bench/bound.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { loadModel } from "../../src/model/load.js";
import { testModel } from "../helpers/models.js";

test("kernel costs at a workload's shape, clamped to the model's context", async () => {
  const model = await loadModel(await testModel("bound-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 5 }));
  try {
    const ctx = model.config.maxPositionEmbeddings;
    const c = await measureKernelCosts(model, referenceBackend, { chunk: 64, perRequest: 16, prefix: 2 * ctx, batch: 3, context: 2 * ctx });
    assert.deepEqual(c.shape, { chunk: 64, perRequest: 16, prefix: ctx - 16, batch: 3, context: ctx });
    assert.ok(c.prefillTokS > 0 && Number.isFinite(c.prefillTokS));
    assert.ok(c.decodeStepMs > 0 && Number.isFinite(c.decodeStepMs));
  } finally {
    model.close();
  }
});

test("the bound is computed tokens at the prefill rate plus decode steps of the batch", () => {
  const costs = { shape: { chunk: 512, perRequest: 50, prefix: 1500, batch: 4, context: 1566 }, prefillTokS: 1000, decodeStepMs: 20 };
  const b = workloadBound(2300, 16 * 32, costs);
  assert.equal(b.decodeSteps, 128);
  assert.equal(b.prefillSeconds, 2.3);
  assert.equal(b.decodeSeconds, 2.56);
  assert.ok(Math.abs(b.seconds - 4.86) < 1e-9);
  assert.match(formatBound(b, 9.72), /^bound at this machine's kernel speed: 4\.86 s = 2300 computed prompt tokens at 1000 tok\/s \(steps of 10 x 50 rows after 1500 cached\) \+ 128 decode steps of 4 at 20\.00 ms \(context 1566\); the cache run took 9\.72 s, 50% of the bound's speed$/);
});
