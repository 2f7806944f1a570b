// Pinned prefixes through the server: /save_cache keeps a prefix in RAM (locked in the pool) or
// on disk (its items kept by the store's LRU) while a flood of other prompts evicts everything
// else; /load_cache brings one back; salts keep pins apart; every bound is a 400; a restart
// pins the list again.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../src/engine/engine.js";
import { DiskStore } from "../../src/kvcache/disk-store.js";
import { backend, get, model, post, start, until } from "./harness.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-pins-"));
  dirs.push(d);
  return d;
}

const ids = (k: number, n: number): number[] => Array.from({ length: n }, (_, i) => ((i * 11 + k * 17) % 240) + 5);

/** Enough distinct prompts to pass through the whole pool several times, each stored on disk before the next (when there is a disk tier). */
async function flood(url: string, pool: number, engine: Engine): Promise<void> {
  for (let k = 0; k < Math.ceil((3 * pool) / 60); k++) {
    const before = engine.diskStats()?.writtenTokens ?? 0;
    const r = await post(`${url}/generate`, { input_ids: ids(100 + k, 60), sampling_params: { max_new_tokens: 2, temperature: 0 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (engine.diskStats()) await until(() => engine.diskStats()!.writtenTokens > before, 2000);
  }
}

async function openStore(dir: string, maxBytes: number, forget: (k: string) => void): Promise<DiskStore> {
  return DiskStore.open({ dir, maxBytes, fingerprint: "pins-test", warn: () => {}, onEvict: forget });
}

describe("cache pins (/save_cache, /load_cache, /release_cache)", () => {
  test("a RAM pin survives a flood, a disk pin survives the store's LRU, an unpinned prefix does not", async () => {
    let engine: Engine | null = null;
    // About 430 tokens of this model's KV (1 KiB a token): the flood's 800 make the store's LRU drop items.
    const store = await openStore(tmp(), 512 << 10, (k) => engine?.forgetDiskItem(k));
    const run = await start({ maxTotalTokens: 256, diskStore: store });
    engine = run.engine;
    try {
      const ram = await post(`${run.url}/save_cache`, { input_ids: ids(1, 60), tier: "ram" });
      assert.equal(ram.status, 200, JSON.stringify(ram.body));
      assert.equal(ram.body.tier, "ram");
      assert.equal(ram.body.state, "pinned");
      assert.equal(ram.body.tokens, 60);
      assert.match(ram.body.id, /^pin-[0-9a-f]{24}$/);
      const disk = await post(`${run.url}/save_cache`, { input_ids: ids(2, 60), tier: "disk" });
      assert.equal(disk.status, 200, JSON.stringify(disk.body));
      assert.equal(disk.body.state, "pinned");
      // Pinning again is the same pin.
      assert.equal((await post(`${run.url}/save_cache`, { input_ids: ids(2, 60), tier: "disk" })).body.id, disk.body.id);
      // A prefix nobody pinned, computed before the flood.
      assert.equal((await post(`${run.url}/load_cache`, { input_ids: ids(3, 70) })).body.computed_tokens, 70);
      await flood(run.url, 256, engine);
      engine.checkAccounting();
      const loadedBefore = engine.diskStats()!.loadedTokens;
      const r1 = await post(`${run.url}/load_cache`, { input_ids: ids(1, 60) });
      // The last token is always computed again: its logits are what a request samples from.
      assert.deepEqual(r1.body, { object: "cache.load", tokens: 60, cached_tokens: 59, computed_tokens: 1 });
      assert.equal(engine.diskStats()!.loadedTokens, loadedBefore, "the RAM pin never left the pool");
      const r2 = await post(`${run.url}/load_cache`, { input_ids: ids(2, 60) });
      assert.equal(r2.body.cached_tokens, 59, JSON.stringify(r2.body));
      assert.ok(engine.diskStats()!.loadedTokens >= loadedBefore + 1, "the disk pin came back from disk");
      const r3 = await post(`${run.url}/load_cache`, { input_ids: ids(3, 70) });
      assert.ok(r3.body.computed_tokens > 1, `the unpinned prefix left RAM and disk: ${JSON.stringify(r3.body)}`);
      assert.ok(store.stats().evicted > 0, "the store's LRU dropped items");
      const list = await get(`${run.url}/pinned_cache`);
      assert.deepEqual(list.body.data.map((p: { tier: string; tokens: number }) => [p.tier, p.tokens]).sort(), [["disk", 60], ["ram", 60]]);
      assert.equal(engine.diskStats()!.pinnedTokens, 120);
      // Released: the RAM pin's tokens are evictable again.
      const protectedBefore = engine.stats().protectedTokens;
      assert.equal((await post(`${run.url}/release_cache`, { id: ram.body.id })).status, 200);
      assert.ok(engine.stats().protectedTokens <= protectedBefore - 60);
      assert.equal((await post(`${run.url}/release_cache`, { id: ram.body.id })).status, 404);
      assert.equal((await get(`${run.url}/pinned_cache`)).body.data.length, 1);
      engine.checkAccounting();
    } finally {
      await run.close();
      await store.close();
    }
  });

  test("salts keep pins apart; bounds and bad bodies are 400s; without a disk tier, disk pins are refused", async () => {
    const run = await start({ maxTotalTokens: 256 });
    try {
      const a = await post(`${run.url}/save_cache`, { input_ids: ids(5, 40), tier: "ram", cache_salt: "tenant-a" });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal((await post(`${run.url}/load_cache`, { input_ids: ids(5, 40), cache_salt: "tenant-b" })).body.cached_tokens, 0);
      assert.equal((await post(`${run.url}/load_cache`, { input_ids: ids(5, 40), cache_salt: "tenant-a" })).body.cached_tokens, 39);
      const cases: [unknown, string][] = [
        [{ input_ids: ids(6, 40), tier: "disk" }, "tier"],
        [{ input_ids: ids(6, 100), tier: "ram" }, "input_ids"], // 40 + 100 > half of 256
        [{ input_ids: ids(6, 10), text: "x", tier: "ram" }, "text"],
        [{ tier: "ram" }, "text"],
        [{ input_ids: ids(6, 10), tier: "gpu" }, "tier"],
        [{ input_ids: [1, 2, 1 << 30], tier: "ram" }, "input_ids"],
        [{ input_ids: ids(6, 300), tier: "ram" }, "input_ids"],
      ];
      for (const [body, param] of cases) {
        const r = await post(`${run.url}/save_cache`, body);
        assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.param ?? param, param, JSON.stringify(r.body));
      }
      assert.equal((await post(`${run.url}/load_cache`, { input_ids: ids(5, 40), tier: "ram" })).status, 400);
      assert.equal((await post(`${run.url}/release_cache`, { id: "x".repeat(65) })).status, 400);
      // A flush lets every pin go.
      assert.equal((await post(`${run.url}/flush_cache`, {})).status, 200);
      assert.equal((await get(`${run.url}/pinned_cache`)).body.data.length, 0);
      run.engine.checkAccounting();
    } finally {
      await run.close();
    }
  });

  test("a restart pins the list again, from disk", async () => {
    const dir = tmp();
    const m = await model();
    let engine: Engine | null = null;
    let store = await openStore(dir, 32 << 20, (k) => engine?.forgetDiskItem(k));
    engine = await Engine.create({ model: m, backend: backend(), maxTotalTokens: 256, diskStore: store, checkInvariants: true });
    const pin = await engine.cacheTiers!.pin({ ids: ids(7, 50), salt: "s", tier: "disk" });
    await engine.close();
    await store.close();

    store = await openStore(dir, 32 << 20, (k) => engine?.forgetDiskItem(k));
    engine = await Engine.create({ model: m, backend: backend(), maxTotalTokens: 256, diskStore: store, checkInvariants: true });
    try {
      const found = engine.cacheTiers!.restoreDiskTree();
      assert.ok(found.tokens >= 50, `found ${found.tokens} tokens`);
      assert.equal(await engine.cacheTiers!.restorePins(), 1);
      assert.deepEqual(engine.cacheTiers!.pinned().map((p) => p.id), [pin.id]);
      // Its last token is computed again (its logits are what the one-token generation samples from).
      assert.ok(await until(() => engine!.diskStats()!.loadedTokens >= 49, 5000), JSON.stringify(engine.diskStats()));
      assert.equal(engine.diskStats()!.failedLoads, 0);
      engine.checkAccounting();
    } finally {
      await engine.close();
      await store.close();
    }
  });
});
