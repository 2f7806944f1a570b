// The disk tier in the engine: with a pool too small for the working set, prefixes evicted to
// disk are loaded back instead of computed, and every token and logprob is bitwise what an
// engine without any cache produces.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../src/engine/engine.js";
import type { SampleOutput } from "../../src/engine/stream.js";
import { DiskStore } from "../../src/kvcache/disk-store.js";
import { loadModel } from "../../src/model/load.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { testModel } from "../helpers/models.js";
import { until } from "../server/harness.js";

const addon = runnerAddon();
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("disk tier", () => {
  test("prefixes evicted to disk come back by load, and the output is bitwise that of no cache", async () => {
    const model = await loadModel(await testModel("disk-tier-qwen3", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 41 }));
    const backend = addon ? nativeBackend(addon, 2) : referenceBackend;
    const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
    // Three 40-token prefixes, each asked twice, in an order that makes the small pool evict them.
    const prompts = [0, 1, 2, 0, 1, 2].map((k, i) => [...prefix(k), 300 + i, 301 + i]);
    const params = { maxNewTokens: 6, ignoreEos: true, logprobs: true, topLogprobs: 2 };
    const plain = await Engine.create({ model, backend, maxTotalTokens: 512, disableRadixCache: true });
    const want = [];
    for (const p of prompts) want.push((await plain.complete({ inputIds: p, params })).samples[0]);
    await plain.close();

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-disk-tier-"));
    dirs.push(dir);
    let engine: Engine | null = null;
    const store = await DiskStore.open({ dir, maxBytes: 64 << 20, fingerprint: "test", onEvict: (k) => engine?.forgetDiskItem(k) });
    engine = await Engine.create({ model, backend, maxTotalTokens: 64, diskStore: store, checkInvariants: true });
    try {
      for (const [i, p] of prompts.entries()) {
        const got: SampleOutput = (await engine.complete({ inputIds: p, params })).samples[0]!;
        assert.deepEqual(got.tokenIds, want[i]!.tokenIds, `prompt ${i}`);
        assert.deepEqual(got.logprobs, want[i]!.logprobs, `prompt ${i} logprobs`);
        // Let the background writer store what this request left before the next one evicts it.
        const before = engine.diskStats()!.writtenTokens;
        await until(() => engine!.diskStats()!.writtenTokens > before, 2000);
        engine.checkAccounting();
      }
      const s = engine.diskStats()!;
      assert.ok(s.loadedTokens >= 40, `loaded ${s.loadedTokens} tokens from disk`);
      assert.equal(s.failedLoads, 0);
      assert.ok(store.stats().items > 0);
    } finally {
      await engine.close();
      await store.close();
    }
  });
});
