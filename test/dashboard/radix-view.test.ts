// The radix tree's read-only view (kvcache/radix-view.ts) and the hooks it reads: the tokens
// under each node stay right through inserts, splits, locks, evictions, the disk tier and
// flushes; a bounded view is the connected top of the tree, largest first; a view and a
// locate change nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import type { RadixCacheView } from "../../src/kvcache/radix-view.js";
import type { CacheHandle } from "../../src/kvcache/prefix-cache.js";

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const all = (c: RadixCache): RadixCacheView => c.view({ maxNodes: 1_000_000, textTokens: 4 });

function checkUnder(c: RadixCache): void {
  const v = all(c);
  const kids = new Map<number, number>();
  for (const n of v.nodes) if (n.parent !== 0) kids.set(n.parent, (kids.get(n.parent) ?? 0) + n.under);
  for (const n of v.nodes) assert.equal(n.under, n.tokens + (kids.get(n.id) ?? 0), `node ${n.id}`);
  const s = c.stats();
  assert.equal(v.totalTokens, s.cachedTokens + (s.diskTokens ?? 0));
  assert.equal(v.truncated, false);
  for (const n of v.nodes) {
    if (n.state === "locked") assert.ok(n.tokens > 0);
    assert.ok(n.head.length <= 4);
  }
}

test("the tokens under each node stay right through inserts, splits, locks, evictions, the disk tier and flushes", () => {
  const next = rng(7);
  const c = new RadixCache();
  let slot = 0;
  const held: CacheHandle[] = [];
  let item = 0;
  for (let step = 0; step < 600; step++) {
    const r = next();
    const salt = next() < 0.2 ? "s" : "";
    if (r < 0.45) {
      const len = 1 + Math.floor(next() * 12);
      const ids = Array.from({ length: len }, () => Math.floor(next() * 3));
      const res = c.insert({ ids, salt }, Int32Array.from({ length: len }, () => slot++));
      assert.ok(res.cached === len);
    } else if (r < 0.6) {
      const ids = Array.from({ length: 6 }, () => Math.floor(next() * 3));
      const m = c.match({ ids, salt });
      c.lock(m.handle);
      held.push(m.handle);
    } else if (r < 0.72 && held.length > 0) {
      c.unlock(held.splice(Math.floor(next() * held.length), 1)[0]!);
    } else if (r < 0.85) {
      c.evict(1 + Math.floor(next() * 10));
    } else if (r < 0.95) {
      for (const u of c.unsaved(2)) c.markOnDisk(u.salt, u.ids, u.start, `item-${item++}`);
    } else if (r < 0.98) {
      c.forgetItem(`item-${Math.floor(next() * Math.max(1, item))}`);
    } else if (held.length === 0) {
      c.flush();
    }
    checkUnder(c);
  }
  for (const h of held) c.unlock(h);
  checkUnder(c);
});

test("a bounded view is the connected top of the tree, largest first; it and locate change nothing", () => {
  const c = new RadixCache();
  let slot = 0;
  const put = (ids: number[], salt = ""): void => void c.insert({ ids, salt }, Int32Array.from(ids, () => slot++));
  put([1, 2, 3, 4, 5, 6, 7, 8]);
  put([1, 2, 3, 4, 9, 9]);
  put([1, 2, 3, 4, 9, 8, 7]);
  put([5, 5]);
  put([1, 1, 1], "salt");
  const m = c.match({ ids: [1, 2, 3, 4, 9, 8], salt: "" });
  c.lock(m.handle);
  const before = JSON.stringify(all(c), (_k, v: unknown) => (v instanceof Int32Array ? [...v] : v));
  const statsBefore = c.stats();
  const version = c.version;

  const v = c.view({ maxNodes: 3, textTokens: 2 });
  assert.equal(v.nodes.length, 3);
  assert.equal(v.truncated, true);
  assert.deepEqual(v.namespaces.map((n) => [n.salt, n.tokens]), [["", 4 + 4 + 1 + 1 + 2 + 2], ["salt", 3]]);
  // The shared root (14 tokens under it), its child [1,2,3,4] (12), then [5..8] (4) before [9] (3) and the salted root (3).
  assert.deepEqual(v.nodes.map((n) => [n.state, n.tokens, n.under]), [["root", 0, 14], ["locked", 4, 12], ["evictable", 4, 4]]);
  assert.deepEqual([...v.nodes[1]!.head], [1, 2]);
  assert.equal(v.nodes[1]!.depth, 0);
  assert.equal(v.nodes[2]!.depth, 4);
  assert.equal(v.nodes[0]!.hiddenChildren, 1);
  assert.equal(v.nodes[1]!.hiddenChildren, 1);
  assert.ok(v.nodes[1]!.hits >= 1);

  const hidden = c.view({ maxNodes: 100, textTokens: 2, include: (salt) => salt === "" });
  assert.equal(hidden.hiddenNamespaces, 1);
  assert.equal(hidden.namespaces.length, 1);

  const path = c.locate({ ids: [1, 2, 3, 4, 9, 8, 7, 6], salt: "" });
  assert.equal(path.matched, 7);
  // [1,2,3,4], [9], then [8] and [7]: the match above split [8,7] where it stopped.
  assert.equal(path.nodeIds.length, 4);
  assert.deepEqual(c.locate({ ids: [1, 2, 3, 4, 9, 8], salt: "" }).matched, 6);
  assert.deepEqual(c.locate({ ids: [7], salt: "" }), { nodeIds: [], matched: 0 });
  assert.deepEqual(c.locate({ ids: [1], salt: "nobody" }), { nodeIds: [], matched: 0 });

  assert.equal(JSON.stringify(all(c), (_k, val: unknown) => (val instanceof Int32Array ? [...val] : val)), before);
  assert.deepEqual(c.stats(), statsBefore);
  assert.equal(c.version, version);
  c.unlock(m.handle);
});

test("a node evicted from the pool but kept on disk shows as disk, its tokens still under its parent", () => {
  const c = new RadixCache();
  c.insert({ ids: [1, 2, 3, 4], salt: "" }, Int32Array.from([0, 1, 2, 3]));
  c.insert({ ids: [1, 2, 5, 6, 7], salt: "" }, Int32Array.from([4, 5, 6, 7, 8]));
  for (const u of c.unsaved(10)) c.markOnDisk(u.salt, u.ids, u.start, `item-${u.start}-${u.ids.length}`);
  for (const u of c.unsaved(10)) c.markOnDisk(u.salt, u.ids, u.start, `item-${u.start}-${u.ids.length}`);
  // The tree holds 7 tokens ([1,2] once; the second insert's copy of it went back to the caller).
  assert.equal(c.evict(100).length, 7);
  const v = all(c);
  assert.deepEqual(v.nodes.map((n) => [n.state, n.tokens, n.under]), [["root", 0, 7], ["disk", 2, 7], ["disk", 3, 3], ["disk", 2, 2]]);
  assert.equal(c.stats().diskTokens, 7);
  assert.equal(c.stats().cachedTokens, 0);
});
