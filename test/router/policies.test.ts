// The router's decisions against hand-built states: the approximate tree, each policy, the
// breaker. No servers: workers are plain objects with a load.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { ApproxTree } from "../../src/router/approx-tree.js";
import { CacheAware, Exact, imbalanced, PowerOfTwo, RandomPolicy, RoundRobin, type CachedPrefixes } from "../../src/router/policies.js";
import { Breaker, normalizeWorkerUrl, Worker } from "../../src/router/worker.js";
import { routeRequest } from "../../src/router/routing-keys.js";

const keys = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0)!);
const opts = { cacheThreshold: 0.5, balanceAbsThreshold: 4, balanceRelThreshold: 1.5, maxTreeSize: 1 << 20 };

function workers(...loads: number[]): Worker[] {
  return loads.map((l, i) => {
    const w = new Worker(`http://w${i}:1`, undefined);
    w.inflight = l;
    return w;
  });
}

describe("ApproxTree", () => {
  test("matches the longest held prefix and its most recent tenant; splits keep tenants", () => {
    const t = new ApproxTree();
    t.insert(keys("hello world"), "a");
    t.insert(keys("hello there"), "b");
    assert.deepEqual(t.match(keys("hello world!")), { matched: 11, tenant: "a" });
    assert.deepEqual(t.match(keys("hello th")), { matched: 8, tenant: "b" });
    // "hello " is held by both; b went there last.
    assert.deepEqual(t.match(keys("hello x")), { matched: 6, tenant: "b" });
    assert.deepEqual(t.match(keys("hello x"), new Set(["a"])), { matched: 6, tenant: "a" });
    assert.equal(t.matchFor(keys("hello world"), "b"), 6);
    assert.equal(t.size("a"), 11);
    assert.equal(t.size("b"), 11);
    assert.equal(t.smallest(["a", "b"]), "a");
    t.insert(keys("zzz"), "b");
    assert.equal(t.smallest(["a", "b"]), "a");
  });

  test("trimming drops a tenant's least recently used leaves first, down to the bound", () => {
    const t = new ApproxTree();
    t.insert(keys("aaaa1111"), "w");
    t.insert(keys("bbbb2222"), "w");
    t.insert(keys("aaaa3333"), "w");
    t.insert(keys("cccc"), "v");
    assert.equal(t.size("w"), 20);
    t.trim(12);
    // The oldest leaf, "aaaa1111"'s tail, goes first, then "bbbb2222" (8 keys): 20 - 4 - 8 = 8.
    assert.equal(t.size("w"), 8);
    assert.equal(t.matchFor(keys("aaaa3333"), "w"), 8);
    assert.equal(t.matchFor(keys("bbbb2222"), "w"), 0);
    assert.equal(t.matchFor(keys("aaaa1111"), "w"), 4);
    assert.equal(t.size("v"), 4, "other tenants keep theirs");
    t.removeTenant("w");
    assert.equal(t.match(keys("aaaa3333")).matched, 0);
    assert.equal(t.match(keys("cccc")).tenant, "v");
  });
});

describe("policies", () => {
  test("imbalance: more than abs apart and more than rel times", () => {
    assert.equal(imbalanced(workers(10, 5), 4, 1.5), true);
    assert.equal(imbalanced(workers(10, 7), 4, 1.5), false);
    assert.equal(imbalanced(workers(6, 5), 0, 1.5), false);
  });

  test("cache-aware: a good match goes to its worker, a poor one to the smallest tree, imbalance to the least loaded", () => {
    const p = new CacheAware(opts);
    const [a, b] = workers(0, 0);
    // Nothing cached: the smallest tree (both empty: the first).
    assert.deepEqual(p.pick({ keys: keys("system prompt A, question 1"), salt: "" }, [a!, b!]), { worker: a, reason: "smallest_tree" });
    // Now b is the smaller one.
    assert.deepEqual(p.pick({ keys: keys("another thing entirely"), salt: "" }, [a!, b!]), { worker: b, reason: "smallest_tree" });
    // Sharing most of a's text: a.
    assert.deepEqual(p.pick({ keys: keys("system prompt A, question 2"), salt: "" }, [a!, b!]), { worker: a, reason: "cache_hit" });
    // Sharing too little (below half): the smallest tree.
    assert.equal(p.pick({ keys: keys("system: a long unrelated request here"), salt: "" }, [a!, b!]).reason, "smallest_tree");
    // Imbalanced: the least loaded, whatever matches.
    a!.inflight = 20;
    assert.deepEqual(p.pick({ keys: keys("system prompt A, question 3"), salt: "" }, [a!, b!]), { worker: b, reason: "balance" });
    // A removed worker's marks go: only b (sent question 3) holds the prefix now.
    p.forget(a!.url);
    a!.inflight = 0;
    assert.deepEqual(p.pick({ keys: keys("system prompt A, question 4"), salt: "" }, [a!, b!]), { worker: b, reason: "cache_hit" });
  });

  test("round-robin cycles; power-of-two takes the less loaded of two; random is uniform over the given", () => {
    const ws = workers(0, 0, 0);
    const rr = new RoundRobin();
    assert.deepEqual([0, 1, 2, 3].map(() => rr.pick({ keys: [], salt: "" }, ws).worker.url), [ws[0]!.url, ws[1]!.url, ws[2]!.url, ws[0]!.url]);
    const seq = [0.1, 0.9, 0.5, 0.2];
    let i = 0;
    const p2 = new PowerOfTwo(() => seq[i++ % seq.length]!);
    ws[2]!.inflight = 5;
    ws[0]!.inflight = 1;
    assert.equal(p2.pick({ keys: [], salt: "" }, ws).worker, ws[0]); // w0 (1) vs w2 (5)
    assert.equal(p2.pick({ keys: [], salt: "" }, ws).worker, ws[1]); // w1 (0) vs w0 (1)
    const r = new RandomPolicy(() => 0.99);
    assert.equal(r.pick({ keys: [], salt: "" }, ws).worker, ws[2]);
  });

  test("exact: the worker that reports the longest cached prefix, in the request's namespace; a burst of a new prefix stays together", () => {
    const reported: Record<string, number> = { "http://w0:1": 0, "http://w1:1": 48 };
    const cached: CachedPrefixes = { matched: (w, _ids, salt) => (salt === "" ? reported[w] ?? 0 : 0) };
    let now = 0;
    const p = new Exact(cached, opts, 1000, () => now);
    const [a, b] = workers(0, 3);
    const ids = Array.from({ length: 64 }, (_, k) => k);
    assert.deepEqual(p.pick({ keys: ids, tokenIds: ids, salt: "" }, [a!, b!]), { worker: b, reason: "cache_hit" });
    // Another namespace reports nothing: the least loaded.
    assert.deepEqual(p.pick({ keys: ids, tokenIds: ids, salt: "s" }, [a!, b!]), { worker: a, reason: "least_load" });
    // ... and the next request of that namespace follows it there before any event says so.
    b!.inflight = 0;
    a!.inflight = 1;
    assert.deepEqual(p.pick({ keys: ids, tokenIds: ids, salt: "s" }, [a!, b!]), { worker: a, reason: "cache_hit" });
    // Routed requests count for two pending windows, then only reports do.
    now = 2500;
    p.pick({ keys: [1], tokenIds: [1], salt: "t" }, [a!, b!]);
    now = 5000;
    assert.deepEqual(p.pick({ keys: ids, tokenIds: ids, salt: "s" }, [a!, b!]), { worker: b, reason: "least_load" });
  });
});

describe("breaker and workers", () => {
  test("opens after the failures in a row, refuses for the cooldown, lets one trial through, closes on success", () => {
    let now = 0;
    const b = new Breaker({ failures: 2, cooldownMs: 100 }, () => now);
    assert.equal(b.allow(), true);
    b.failure();
    b.success();
    b.failure();
    assert.equal(b.state, "closed");
    b.failure();
    assert.equal(b.state, "open");
    assert.equal(b.allow(), false);
    now = 100;
    assert.equal(b.available, true);
    assert.equal(b.allow(), true);
    assert.equal(b.state, "half-open");
    assert.equal(b.allow(), false, "one trial at a time");
    b.failure();
    assert.equal(b.state, "open");
    now = 250;
    assert.equal(b.allow(), true);
    b.success();
    assert.equal(b.state, "closed");
  });

  test("worker URLs are normalized and checked", () => {
    assert.equal(normalizeWorkerUrl("http://10.0.0.2:30000/"), "http://10.0.0.2:30000");
    assert.throws(() => normalizeWorkerUrl("ftp://x"), /http/);
    assert.throws(() => normalizeWorkerUrl("http://u:p@x:1"), /credentials/);
    assert.throws(() => normalizeWorkerUrl("not a url"), /not a URL/);
  });
});

describe("routing keys", () => {
  test("each route's prompt: chat text, completion prompt or ids, embeddings input, rerank query; cache_salt", () => {
    const chat = routeRequest("/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], cache_salt: "x" }, null);
    assert.deepEqual(chat, { keys: keys("user\nhi\n"), salt: "x" });
    assert.deepEqual(routeRequest("/v1/completions", { prompt: [1, 2, 3] }, null), { keys: [1, 2, 3], tokenIds: [1, 2, 3], salt: "" });
    assert.deepEqual(routeRequest("/v1/completions", { prompt: ["ab", "cd"] }, null).keys, keys("ab"));
    assert.deepEqual(routeRequest("/generate", { input_ids: [[5, 6], [7]] }, null).tokenIds, [5, 6]);
    assert.deepEqual(routeRequest("/v1/embeddings", { input: ["q1", "q2"] }, null).keys, keys("q1"));
    assert.deepEqual(routeRequest("/v1/rerank", { query: "q", documents: ["d"] }, null).keys, keys("q"));
    assert.deepEqual(routeRequest("/v1/chat/completions", "nonsense", null), { keys: [], salt: "" });
  });
});
