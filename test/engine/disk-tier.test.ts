// The disk tier in the engine: with a pool too small for the working set, prefixes evicted to
// disk are loaded back instead of computed, and every token and logprob is bitwise what an
// engine without any cache produces.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../src/engine/engine.js";
import type { EngineOptions } from "../../src/engine/options.js";
import type { GenerateInput } from "../../src/engine/input.js";
import type { Backend } from "../../src/kernels/backend.js";
import type { LoadedModel } from "../../src/model/load.js";
import type { GenerateResult, SampleOutput } from "../../src/engine/stream.js";
import { DiskStore, type DiskStoreOptions, type DiskWrite } from "../../src/kvcache/disk-store.js";
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


const model = (): Promise<LoadedModel> => testModel("disk-tier-qwen3", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 41 }).then(loadModel);
const backend = (): Backend => (addon ? nativeBackend(addon, 2) : referenceBackend);

/** Each prompt's output from an engine with no cache at all: what every tiered run must equal bitwise. */
async function reference(m: LoadedModel, prompts: readonly number[][], params: GenerateInput["params"]): Promise<SampleOutput[]> {
  const plain = await Engine.create({ model: m, backend: backend(), maxTotalTokens: 512, disableRadixCache: true });
  try {
    const out: SampleOutput[] = [];
    for (const p of prompts) out.push((await plain.complete({ inputIds: p, params })).samples[0]!);
    return out;
  } finally {
    await plain.close();
  }
}

/** An engine over a fresh disk store (checkInvariants on); close() closes both. */
async function tiered(m: LoadedModel, opts: Partial<EngineOptions>, storeOpts: Partial<DiskStoreOptions> = {}): Promise<{ engine: Engine; store: DiskStore; close(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-disk-tier-"));
  dirs.push(dir);
  let engine: Engine | null = null;
  const store = await DiskStore.open({ dir, maxBytes: 64 << 20, fingerprint: "test", onEvict: (k) => engine?.forgetDiskItem(k), ...storeOpts });
  engine = await Engine.create({ model: m, backend: backend(), diskStore: store, checkInvariants: true, ...opts });
  const e = engine;
  return { engine: e, store, close: async () => { await e.close(); await store.close(); } };
}

function assertSame(got: SampleOutput, want: SampleOutput, what: string): void {
  assert.deepEqual(got.tokenIds, want.tokenIds, what);
  assert.deepEqual(got.logprobs, want.logprobs, `${what} logprobs`);
}

describe("disk tier", () => {
  test("prefixes evicted to disk come back by load, and the output is bitwise that of no cache", async () => {
    const m = await model();
    const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
    // Three 40-token prefixes, each asked twice, in an order that makes the small pool evict them.
    const prompts = [0, 1, 2, 0, 1, 2].map((k, i) => [...prefix(k), 300 + i, 301 + i]);
    const params = { maxNewTokens: 6, ignoreEos: true, logprobs: true, topLogprobs: 2 };
    const want = await reference(m, prompts, params);
    const { engine, store, close } = await tiered(m, { maxTotalTokens: 64 });
    try {
      for (const [i, p] of prompts.entries()) {
        assertSame((await engine.complete({ inputIds: p, params })).samples[0]!, want[i]!, `prompt ${i}`);
        // Let the background writer store what this request left before the next one evicts it.
        const before = engine.diskStats()!.writtenTokens;
        await until(() => engine.diskStats()!.writtenTokens > before, 2000);
        engine.checkAccounting();
      }
      const s = engine.diskStats()!;
      assert.ok(s.loadedTokens >= 40, `loaded ${s.loadedTokens} tokens from disk`);
      assert.equal(s.failedLoads, 0);
      assert.ok(store.stats().items > 0);
    } finally {
      await close();
    }
  });

  test("a pool too small for queued loads and one running request: loads leave room to admit, nothing livelocks", async () => {
    const m = await model();
    const rnd = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const r = rnd(5);
    const prefixes = Array.from({ length: 6 }, () => Array.from({ length: 40 }, () => 5 + Math.floor(r() * 250)));
    const prompts = prefixes.flatMap((p) => Array.from({ length: 4 }, () => [...p, ...Array.from({ length: 4 }, () => 5 + Math.floor(r() * 250))]));
    const params = { maxNewTokens: 2, ignoreEos: true, logprobs: true };
    const want = await reference(m, prompts, params);
    const { engine, close } = await tiered(m, { maxTotalTokens: 144, maxRunningRequests: 1, policy: "fcfs" });
    try {
      // Twice: the second round finds every prefix on disk, queued behind one running request.
      for (let round = 0; round < 2; round++) {
        const got: GenerateResult[] = await Promise.race([
          Promise.all(prompts.map((p) => engine.complete({ inputIds: p, params }))),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`round ${round} did not finish: ${JSON.stringify(engine.diskStats())}`)), 30_000)),
        ]);
        for (const [i, g] of got.entries()) assertSame(g.samples[0]!, want[i]!, `round ${round} prompt ${i}`);
        engine.checkAccounting();
      }
      assert.ok(engine.diskStats()!.loadedTokens > 0);
    } finally {
      await close();
    }
  });

  test("requests that load the same disk node at once each get it, bitwise; the later copies go back to the pool", async () => {
    const m = await model();
    // Shorter than the share that makes a request wait for another's prefill (32): all three load it.
    const prefix = Array.from({ length: 24 }, (_, i) => ((i * 13) % 200) + 5);
    const evictor = Array.from({ length: 100 }, (_, i) => ((i * 7) % 200) + 3);
    const prompts = [0, 1, 2].map((k) => [...prefix, 300 + k, 301 + k]);
    const params = { maxNewTokens: 4, ignoreEos: true, logprobs: true, topLogprobs: 2 };
    const want = await reference(m, prompts, params);
    const { engine, close } = await tiered(m, { maxTotalTokens: 120 });
    try {
      await engine.complete({ inputIds: [...prefix, 9], params });
      assert.ok(await until(() => engine.diskStats()!.writtenTokens >= 24, 2000));
      // Another prompt pushes the prefix out of the pool: it stays on disk only.
      await engine.complete({ inputIds: evictor, params });
      assert.ok(engine.diskStats()!.diskOnlyTokens >= 24, JSON.stringify(engine.diskStats()));
      const loadsBefore = engine.diskStats()!.loads;
      const got = await Promise.all(prompts.map((p) => engine.complete({ inputIds: p, params })));
      for (const [i, g] of got.entries()) assertSame(g.samples[0]!, want[i]!, `prompt ${i}`);
      const s = engine.diskStats()!;
      assert.ok(s.loads - loadsBefore >= 2, `${s.loads - loadsBefore} loads of the shared node at once`);
      assert.equal(s.failedLoads, 0);
      engine.checkAccounting();
    } finally {
      await close();
    }
  });

  test("a full disk: writes fail with a warning, the engine serves on, bitwise, and what did fit is loaded", async () => {
    const m = await model();
    const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
    const prompts = [0, 1, 2, 3, 0, 1, 2, 3].map((k, i) => [...prefix(k), 300 + i]);
    const params = { maxNewTokens: 3, ignoreEos: true, logprobs: true };
    const want = await reference(m, prompts, params);
    // The disk fills after the first few records: every later write fails with ENOSPC.
    let writes = 0;
    const write: DiskWrite = async (fh, buffers, position) => {
      if (++writes > 3) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      return (await fh.writev(buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)), position)).bytesWritten;
    };
    const warnings: string[] = [];
    const origWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      warnings.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    let t: Awaited<ReturnType<typeof tiered>> | null = null;
    try {
      t = await tiered(m, { maxTotalTokens: 96 }, { write });
      for (const [i, p] of prompts.entries()) {
        assertSame((await t.engine.complete({ inputIds: p, params })).samples[0]!, want[i]!, `prompt ${i}`);
        await new Promise((r) => setTimeout(r, 50));
        t.engine.checkAccounting();
      }
    } finally {
      process.stderr.write = origWrite;
      await t?.close();
    }
    assert.ok(warnings.some((w) => /disk tier: a write failed .*ENOSPC/.test(w)), warnings.join(""));
    assert.ok(t.engine.diskStats()!.writtenTokens > 0, "what fit was stored");
  });

  test("a request queued behind the running limit has its disk items read ahead while it waits; its load then only copies", async () => {
    const m = await model();
    const prefix = Array.from({ length: 48 }, (_, i) => ((i * 11) % 200) + 5);
    const other = Array.from({ length: 100 }, (_, i) => ((i * 5) % 200) + 3);
    const params = { maxNewTokens: 3, ignoreEos: true, logprobs: true };
    const [want] = await reference(m, [[...prefix, 400, 401]], params);
    const { engine, close } = await tiered(m, { maxTotalTokens: 112, maxRunningRequests: 1 });
    try {
      await engine.complete({ inputIds: [...prefix, 9], params });
      assert.ok(await until(() => engine.diskStats()!.writtenTokens >= 48, 2000));
      await engine.complete({ inputIds: other, params });
      assert.ok(engine.diskStats()!.diskOnlyTokens >= 48, JSON.stringify(engine.diskStats()));
      // A long request holds the one run slot; the prefix's request queues behind it.
      const long = engine.complete({ inputIds: other.slice(0, 20), params: { maxNewTokens: 24, ignoreEos: true } });
      const queued = engine.complete({ inputIds: [...prefix, 400, 401], params });
      assert.ok(engine.diskStats()!.prefetchedBytes > 0, "read ahead at submission");
      await long;
      assertSame((await queued).samples[0]!, want!, "the queued request");
      const s = engine.diskStats()!;
      assert.ok(s.loadedTokens >= 48 && s.failedLoads === 0, JSON.stringify(s));
      engine.checkAccounting();
    } finally {
      await close();
    }
  });
});
