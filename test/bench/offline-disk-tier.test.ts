// bench offline --cache-dir: the cache run has a disk tier in a fresh folder under the given
// one (removed after), and its hit rate is split into RAM and disk hits.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cliAsync } from "./cli-async.js";
import { testModel } from "../helpers/models.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

// Twelve 40-token prefixes asked four times each in a shuffled order, one request at a time
// in arrival order, with a pool that holds about eight: a prefix is often evicted between its
// uses, and comes back from disk.
const WORKLOAD = ["--workload", "generated-shared-prefix", "--groups", "12", "--prompts-per-group", "4",
  "--system-prompt-len", "40", "--question-len", "4", "--output-len", "2", "--seed", "5"];
const ENGINE = ["--max-total-tokens", "400", "--schedule-policy", "fcfs", "--max-running-requests", "1"];

test("bench offline --cache-dir --json: a workload bigger than the pool hits the disk tier", async () => {
  const model = await testModel("bench-offline-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-bench-disk-"));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, "keep.txt"), "not the bench's");
  const r = await cliAsync(["bench", "offline", "--model", model, ...WORKLOAD, ...ENGINE,
    "--cache-dir", dir, "--cache-disk-size", String(64 << 20), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, number> & { cache: { disk?: Record<string, number> }; nocache: { disk?: unknown } };
  assert.ok(j.hit_rate_disk! > 0, `disk hit rate ${j.hit_rate_disk} (${JSON.stringify(j.cache.disk)})`);
  assert.ok(j.hit_rate_ram! >= 0);
  assert.ok(Math.abs(j.hit_rate_ram! + j.hit_rate_disk! - j.hit_rate!) < 1e-9, "the tiers sum to the hit rate");
  assert.equal(typeof j.disk_load_ms_mean, "number");
  assert.ok(j.cache.disk!.loadedTokens! >= 40);
  assert.ok(j.cache.disk!.writtenTokens! > 0);
  assert.equal(j.nocache.disk, undefined, "the run without a cache has no disk tier");
  // The bench's own folder is gone; what was there stays.
  assert.deepEqual(fs.readdirSync(dir), ["keep.txt"]);
});

test("bench offline --cache-dir prints the hit rate by tier; without it, no tiers", async () => {
  const model = await testModel("bench-offline-llama", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-bench-disk-"));
  dirs.push(dir);
  const r = await cliAsync(["bench", "offline", "--model", model, ...WORKLOAD, ...ENGINE, "--cache-dir", dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /hit rate [\d.]+% \(ram [\d.]+%, disk [\d.]+%\) of an ideal [\d.]+%/);
  assert.match(r.stdout, /^disk tier: \d+ tokens written, \d+ loaded in \d+ loads/m);
  const plain = await cliAsync(["bench", "offline", "--model", model, ...WORKLOAD, ...ENGINE, "--json"]);
  assert.equal(plain.code, 0, plain.stderr);
  const j = JSON.parse(plain.stdout) as Record<string, unknown>;
  assert.equal(j.hit_rate_ram, undefined);
  assert.equal(j.hit_rate_disk, undefined);
  assert.equal(j.disk_load_ms_mean, undefined);
});

test("bench offline --cache-dir with a pool of 144 tokens and one request at a time finishes (loads once held the pool while nothing was admitted)", { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-bench-disk-"));
  dirs.push(dir);
  const r = await cliAsync(["bench", "offline", "--workload", "generated-shared-prefix", "--groups", "6", "--prompts-per-group", "4",
    "--system-prompt-len", "40", "--question-len", "4", "--output-len", "2", "--seed", "5",
    "--max-total-tokens", "144", "--schedule-policy", "fcfs", "--max-running-requests", "1", "--cache-dir", dir, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { cache: { disk: { loadedTokens: number } } };
  assert.ok(j.cache.disk.loadedTokens >= 0);
});
