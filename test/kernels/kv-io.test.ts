// The KV pool's slots copied out and back (the disk tier's items): a prompt's K and V moved
// to other slots give the next token exactly the logits they gave in place, on both backends;
// the bytes round-trip; bad slots and lengths are refused; a copy runs beside a forward pass.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { loadModel } from "../../src/model/load.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend, ModelRunner, StepPlan } from "../../src/kernels/backend.js";
import { testModel } from "../helpers/models.js";

const addon = runnerAddon();
const backends: [string, () => Backend][] = [["reference", () => referenceBackend], ...(addon ? [["native", () => nativeBackend(addon, 2)] as [string, () => Backend]] : [])];

function step(tokens: number[], start: number, slots: Int32Array): StepPlan {
  return {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => start + i),
    seqs: [{ start: 0, count: tokens.length, kvSlots: slots.subarray(0, start + tokens.length) }], logitRows: Int32Array.of(tokens.length - 1),
  };
}

const range = (from: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

for (const [name, make] of backends) {
  for (const dtype of ["f16", "f32"] as const) {
    describe(`KV export and import, ${name} backend, ${dtype} pool`, () => {
      test("a prompt's KV moved to other slots gives the next token the same logits, bit for bit", async () => {
        const model = await loadModel(await testModel("kv-io-qwen3", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 31 }));
        const runner: ModelRunner = make().createRunner(model, { capacity: 256, dtype });
        try {
          const prompt = [5, 17, 42, 9, 100, 3, 77, 8, 61, 12, 33];
          const a = range(0, prompt.length + 1);
          await runner.forward(step(prompt, 0, a));
          const inPlace = await runner.forward(step([21], prompt.length, a));
          const bytes = await runner.exportKv(a.subarray(0, prompt.length));
          assert.equal(bytes.length, prompt.length * runner.kvTokenBytes);
          assert.equal(runner.kvTokenBytes, 2 * model.config.numLayers * model.config.numKvHeads * model.config.headDim * (dtype === "f16" ? 2 : 4));
          // Elsewhere, in scattered slots.
          const b = Int32Array.from([200, 3 + 100, 150, 111, 199, 120, 130, 140, 160, 170, 180, 190]);
          await runner.importKv(b.subarray(0, prompt.length), bytes);
          const moved = await runner.forward(step([21], prompt.length, b));
          assert.deepEqual(bits(moved), bits(inPlace));
          assert.deepEqual(await runner.exportKv(b.subarray(0, prompt.length)), bytes);
          // A prefix of the bytes is the prefix's KV.
          assert.deepEqual(await runner.exportKv(b.subarray(0, 4)), bytes.subarray(0, 4 * runner.kvTokenBytes));
        } finally {
          runner.close();
        }
      });

      test("bad slots and byte counts are refused; a copy runs beside a forward pass on other slots", async () => {
        const model = await loadModel(await testModel("kv-io-qwen3", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 31 }));
        const runner = make().createRunner(model, { capacity: 64, dtype });
        try {
          await assert.rejects(async () => runner.exportKv(Int32Array.of(64)), /out of range/);
          await assert.rejects(async () => runner.importKv(Int32Array.of(1, 2), new Uint8Array(runner.kvTokenBytes)), /bytes/);
          await runner.forward(step([1, 2, 3], 0, range(0, 4)));
          const before = await runner.exportKv(range(0, 3));
          const [out] = await Promise.all([runner.exportKv(range(0, 3)), runner.forward(step([4, 5, 6, 7], 0, range(10, 4)))]);
          assert.deepEqual(out, before);
        } finally {
          runner.close();
        }
      });
    });
  }
}
