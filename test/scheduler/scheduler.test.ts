import { test } from "node:test";
import assert from "node:assert/strict";
import { KVPool } from "../../src/kvcache/pool.js";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import type { Request } from "../../src/scheduler/request.js";
import type { PolicyName } from "../../src/scheduler/policy.js";
import { makeRequest } from "../helpers/requests.js";

function setup(policy: PolicyName, capacity = 256, budget = 64) {
  const pool = new KVPool(capacity);
  const cache = new RadixCache();
  const s = new Scheduler(pool, cache, { chunkedPrefillSize: budget, maxRunningRequests: 1, policy, decodeReserveRatio: 0 });
  return { pool, cache, s };
}

const req = (id: string, ids: number[], arrival: number): Request => makeRequest(id, ids, arrival);

function cacheSeq(pool: KVPool, cache: RadixCache, ids: number[]): void {
  cache.insert({ ids, salt: "" }, pool.alloc(ids.length)!);
}

test("lpm admits the request with the longest cached prefix first; fcfs the oldest", () => {
  for (const policy of ["lpm", "fcfs"] as const) {
    const { pool, cache, s } = setup(policy);
    cacheSeq(pool, cache, [1, 2, 3, 4, 5, 6, 7, 8]);
    s.enqueue([req("old", [9, 9, 9, 9], 0)]);
    s.enqueue([req("short", [1, 2, 7, 7], 1)]);
    s.enqueue([req("long", [1, 2, 3, 4, 5, 6, 0], 2)]);
    const b = s.schedule()!;
    assert.equal(b.entries.length, 1);
    assert.equal(b.entries[0]!.req.id, policy === "lpm" ? "long" : "old");
    if (policy === "lpm") {
      assert.equal(b.entries[0]!.start, 6, "computes only what is not cached");
      assert.equal(b.entries[0]!.count, 1);
    }
    s.checkAccounting();
  }
});

test("lpm sees a prefix cached by the step that just finished, even with matches prepared during that step", () => {
  const pool = new KVPool(512);
  const cache = new RadixCache();
  const s = new Scheduler(pool, cache, { chunkedPrefillSize: 32, maxRunningRequests: 8, policy: "lpm", decodeReserveRatio: 0 });
  const prefix = Array.from({ length: 40 }, (_, i) => 100 + i);
  s.enqueue([req("first", [...prefix, 1, 2], 0)]);
  s.enqueue([req("stranger", Array.from({ length: 30 }, (_, i) => 300 + i), 1)]);
  s.enqueue([req("sibling", [...prefix, 3, 4], 2)]);
  const b1 = s.schedule()!;
  assert.deepEqual(b1.entries.map((e) => [e.req.id, e.count]), [["first", 32]]);
  // The engine prepares the next admissions while the step computes, then completes it.
  s.prepare();
  s.complete(b1);
  const b2 = s.schedule()!;
  // The sibling now matches 32 cached tokens: it goes before the stranger.
  assert.deepEqual(b2.entries.map((e) => [e.req.id, e.start, e.count]), [["first", 32, 10], ["sibling", 32, 10], ["stranger", 0, 12]]);
  s.checkAccounting();
});

test("prefill first: a step is all prefill or all decode, and decoding waits while prompts are read", () => {
  for (const mixedSteps of [true, false]) {
    const pool = new KVPool(512);
    const cache = new RadixCache();
    const s = new Scheduler(pool, cache, { chunkedPrefillSize: 16, maxRunningRequests: 8, policy: "fcfs", decodeReserveRatio: 0, mixedSteps });
    const a = req("a", Array.from({ length: 10 }, (_, i) => 1 + i), 0);
    s.enqueue([a]);
    const b1 = s.schedule()!;
    s.complete(b1);
    a.tokens.push(99);  // a sampled its first token: it decodes from now on
    s.enqueue([req("b", Array.from({ length: 40 }, (_, i) => 50 + i), 1)]);
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const b = s.schedule()!;
      kinds.push(b.entries.map((e) => `${e.req.id}${e.count}`).join("+"));
      s.complete(b);
      for (const e of b.entries) if (e.wantLogits) e.req.tokens.push(7);
    }
    assert.deepEqual(kinds, mixedSteps ? ["a1+b15", "a1+b15", "a1+b10", "a1+b1"] : ["b16", "b16", "b8", "a1+b1"]);
    s.checkAccounting();
  }
});

test("dfs-weight runs the requests of the most shared prefix together", () => {
  const { pool, cache, s } = setup("dfs-weight");
  cacheSeq(pool, cache, [1, 1, 1, 1]);
  cacheSeq(pool, cache, [2, 2, 2, 2]);
  s.enqueue([req("a", [1, 1, 1, 1, 5], 0)]);
  s.enqueue([req("b", [2, 2, 2, 2, 5], 1)]);
  s.enqueue([req("c", [2, 2, 2, 2, 6], 2)]);
  assert.equal(s.schedule()!.entries[0]!.req.id, "b");
});

test("a long prompt is prefilled in chunks of the budget, progress cached as it goes", () => {
  const { s, cache } = setup("lpm", 256, 10);
  const r = req("r", Array.from({ length: 25 }, (_, i) => i + 1), 0);
  s.enqueue([r]);
  const chunks: number[] = [];
  for (;;) {
    const b = s.schedule()!;
    const e = b.entries[0]!;
    chunks.push(e.count);
    s.complete(b);
    s.checkAccounting();
    if (e.wantLogits) break;
  }
  assert.deepEqual(chunks, [10, 10, 5]);
  assert.equal(cache.match({ ids: r.tokens.slice(0, 20), salt: "" }).slots.length, 20);
  s.finish(r, "stop");
  s.checkAccounting();
  assert.equal(cache.stats().protectedTokens, 0);
});

test("prefill first: a request arriving every step does not starve decoding", () => {
  const pool = new KVPool(4096);
  const cache = new RadixCache();
  const s = new Scheduler(pool, cache, { chunkedPrefillSize: 64, maxRunningRequests: 1000, policy: "fcfs", decodeReserveRatio: 0, mixedSteps: false });
  const a = makeRequest("a", [1, 2, 3, 4], 0, { params: { maxNewTokens: 100 } });
  s.enqueue([a]);
  const decodedAt: number[] = [];
  for (let step = 0; step < 40; step++) {
    // A new short prompt every step: there is always prefill work.
    s.enqueue([makeRequest(`x${step}`, [500 + step, 7, 8], step + 1, { params: { maxNewTokens: 1000 } })]);
    const b = s.schedule()!;
    s.complete(b);
    const sampled = b.entries.filter((e) => e.wantLogits).map((e) => ({ req: e.req, token: 97 }));
    if (b.entries.some((e) => e.req === a && e.count === 1)) decodedAt.push(step);
    s.postprocess(sampled);
    s.checkAccounting();
  }
  assert.ok(decodedAt.length >= 4, `a decoded at steps ${decodedAt.join()}`);
  for (let i = 1; i < decodedAt.length; i++) assert.ok(decodedAt[i]! - decodedAt[i - 1]! <= 9, `a decoded at steps ${decodedAt.join()}`);
});
