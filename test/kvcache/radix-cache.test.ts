import { test } from "node:test";
import assert from "node:assert/strict";
import { KVPool } from "../../src/kvcache/pool.js";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import { NoCache } from "../../src/kvcache/no-cache.js";
import type { CacheHandle, CacheKey, PrefixCache } from "../../src/kvcache/prefix-cache.js";
import { mulberry32 } from "../../src/util/random.js";

const key = (ids: ArrayLike<number>, salt: string): CacheKey => ({ ids, salt });

/** Evicts from the cache and frees what it hands back (as the scheduler does); returns how many. */
function evict(cache: PrefixCache, pool: KVPool, tokens: number): number {
  const slots = cache.evict(tokens);
  pool.free(slots);
  return slots.length;
}

test("pool hands out each slot once and refuses a double free", () => {
  const pool = new KVPool(8);
  const a = pool.alloc(5)!;
  assert.deepEqual([...a], [0, 1, 2, 3, 4]);
  assert.equal(pool.alloc(4), null);
  assert.equal(pool.freeCount, 3);
  pool.free(a.subarray(0, 2));
  assert.throws(() => pool.free([1]), /freed twice/);
  assert.equal(pool.freeCount, 5);
});

test("match, split on a partial match, insert returns what was already cached", () => {
  const pool = new KVPool(64);
  const cache = new RadixCache();
  const s1 = pool.alloc(5)!;
  const r1 = cache.insert(key([1, 2, 3, 4, 5], ""), s1);
  assert.equal(r1.alreadyCached, 0);
  const m = cache.match(key([1, 2, 3, 9], ""));
  assert.deepEqual([...m.slots], [...s1.subarray(0, 3)]);
  // a sibling branch after the split point
  const s2 = pool.alloc(4)!;
  const r2 = cache.insert(key([1, 2, 3, 9], ""), s2);
  assert.equal(r2.alreadyCached, 3);
  pool.free(s2.subarray(0, 3));
  assert.deepEqual([...cache.match(key([1, 2, 3, 9, 9], "")).slots], [...s1.subarray(0, 3), s2[3]!]);
  assert.deepEqual([...cache.match(key([1, 2, 3, 4, 5, 6], "")).slots], [...s1]);
  assert.equal(cache.match(key([7], "")).slots.length, 0);
  assert.equal(cache.stats().cachedTokens, 6);
  // namespaces never share
  assert.equal(cache.match(key([1, 2, 3], "tenant-b")).slots.length, 0);
});

test("locked paths survive eviction; parents become evictable when children go", () => {
  const pool = new KVPool(32);
  const cache = new RadixCache();
  const a = pool.alloc(6)!;
  cache.insert(key([1, 2, 3, 4, 5, 6], ""), a);
  const b = pool.alloc(6)!;
  const rb = cache.insert(key([1, 2, 3, 7, 8, 9], ""), b);
  pool.free(b.subarray(0, 3));
  const m = cache.match(key([1, 2, 3, 4, 5, 6], ""));
  cache.lock(m.handle);
  assert.equal(cache.stats().protectedTokens, 6);
  assert.equal(cache.stats().evictableTokens, 3);
  assert.equal(evict(cache, pool, 100), 3);
  assert.deepEqual([...cache.match(key([1, 2, 3, 4, 5, 6], "")).slots], [...a]);
  assert.equal(cache.match(key([1, 2, 3, 7], "")).slots.length, 3);
  cache.unlock(m.handle);
  assert.throws(() => cache.unlock(m.handle), /not locked/);
  assert.equal(rb.alreadyCached, 3);
  assert.equal(evict(cache, pool, 1), 3); // one leaf is enough
  assert.equal(evict(cache, pool, 100), 3); // then its parent, now a leaf
  assert.equal(cache.stats().cachedTokens, 0);
  assert.equal(pool.freeCount, 32);
});

test("eviction is least recently used first", () => {
  const pool = new KVPool(32);
  const cache = new RadixCache();
  for (const seq of [[1, 1], [2, 2], [3, 3]]) cache.insert(key(seq, ""), pool.alloc(2)!);
  cache.match(key([1, 1], "")); // touch the oldest
  evict(cache, pool, 2);
  assert.equal(cache.match(key([2, 2], "")).slots.length, 0);
  assert.equal(cache.match(key([1, 1], "")).slots.length, 2);
  assert.equal(cache.match(key([3, 3], "")).slots.length, 2);
});

test("no-reuse cache keeps nothing on insert (the caller frees) and never matches", () => {
  const pool = new KVPool(8);
  const cache: PrefixCache = new NoCache();
  const r = cache.insert(key([1, 2, 3], ""), pool.alloc(3)!);
  assert.deepEqual(r, { alreadyCached: 0, cached: 0 });
  assert.equal(cache.stats().cachedTokens, 0);
  assert.equal(evict(cache, pool, 8), 0);
  assert.equal(cache.match(key([1, 2, 3], "")).slots.length, 0);
});

test("a namespace lives only while it holds entries: 1,000 salts leave nothing once evicted or flushed", () => {
  const pool = new KVPool(4096);
  const cache = new RadixCache();
  const salt = (i: number): string => `tenant-${i}-`.padEnd(256, "x");
  // looking up unknown namespaces makes none
  for (let i = 0; i < 1000; i++) assert.equal(cache.match(key([1, 2, 3], salt(i))).slots.length, 0);
  assert.equal(cache.stats().namespaces, 0);
  for (let i = 0; i < 1000; i++) cache.insert(key([1, 2, 3], salt(i)), pool.alloc(3)!);
  assert.equal(cache.stats().namespaces, 1000);
  // eviction empties them one by one, and each empty one goes
  assert.equal(evict(cache, pool, 1500), 1500);
  assert.equal(cache.stats().namespaces, 500);
  assert.equal(evict(cache, pool, 10_000), 1500);
  assert.deepEqual({ namespaces: cache.stats().namespaces, cached: cache.stats().cachedTokens }, { namespaces: 0, cached: 0 });
  // the same through a flush, the shared namespace included; a locked entry keeps its namespace
  for (let i = 0; i < 1000; i++) cache.insert(key([4, 5], salt(i)), pool.alloc(2)!);
  cache.insert(key([4, 5], ""), pool.alloc(2)!);
  const held = cache.match(key([4, 5], salt(7)));
  cache.lock(held.handle);
  assert.equal(cache.stats().namespaces, 1001);
  pool.free(cache.flush());
  assert.equal(cache.stats().namespaces, 1);
  cache.unlock(held.handle);
  pool.free(cache.flush());
  assert.equal(cache.stats().namespaces, 0);
  assert.equal(pool.freeCount, 4096);
});

test("a handle on a namespace root that was dropped stays usable", () => {
  const pool = new KVPool(16);
  const cache = new RadixCache();
  cache.insert(key([1, 2], "a"), pool.alloc(2)!);
  // matches nothing below the root: the handle is the root itself
  const m = cache.match(key([9], "a"));
  cache.lock(m.handle);
  pool.free(cache.flush());
  assert.equal(cache.stats().namespaces, 0);
  cache.unlock(m.handle);
  const slots = pool.alloc(3)!;
  assert.deepEqual(cache.insert(key([9, 8, 7], "a"), slots), { alreadyCached: 0, cached: 3 });
  assert.deepEqual([...cache.match(key([9, 8, 7], "a")).slots], [...slots]);
  assert.equal(cache.stats().namespaces, 1);
});

// Property test: the tree against a naive model (every cached prefix -> its slot) under
// long random sequences of match/insert/lock/unlock/evict.
test("radix cache agrees with a naive model under random operations", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = mulberry32(seed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const capacity = 200;
    const pool = new KVPool(capacity);
    const cache = new RadixCache();
    const model = new Map<string, number>(); // salt|prefix -> slot of its last token
    const modelKey = (salt: string, ids: number[], n: number): string => salt + "|" + ids.slice(0, n).join(",");
    const locks: { handle: CacheHandle; ids: number[]; salt: string; slots: number[] }[] = [];
    const randomSeq = (): number[] => {
      // Few distinct tokens so prefixes collide and split often.
      const n = 1 + int(12);
      return Array.from({ length: n }, () => int(4));
    };
    for (let step = 0; step < 400; step++) {
      const op = int(10);
      const salt = int(5) === 0 ? "s2" : "";
      const ids = randomSeq();
      if (op < 4) {
        const m = cache.match(key(ids, salt));
        // the match is a prefix the model knows, with the same slots
        for (let i = 0; i < m.slots.length; i++) assert.equal(m.slots[i], model.get(modelKey(salt, ids, i + 1)), `seed ${seed} step ${step}`);
        if (m.slots.length < ids.length) {
          // and nothing longer is cached (evicted entries are dropped from the model below)
          assert.equal(model.has(modelKey(salt, ids, m.slots.length + 1)), false, `seed ${seed} step ${step}: match too short`);
        }
        if (int(2) === 0 && m.slots.length > 0) {
          cache.lock(m.handle);
          locks.push({ handle: m.handle, ids: ids.slice(0, m.slots.length), salt, slots: [...m.slots] });
        }
      } else if (op < 7) {
        const m = cache.match(key(ids, salt));
        const need = ids.length - m.slots.length;
        if (need > pool.freeCount) evict(cache, pool, need - pool.freeCount);
        const fresh = pool.alloc(need);
        if (!fresh) continue;
        const slots = new Int32Array(ids.length);
        slots.set(m.slots, 0);
        slots.set(fresh, m.slots.length);
        const r = cache.insert(key(ids, salt), slots);
        assert.equal(r.alreadyCached, m.slots.length);
        for (let i = r.alreadyCached; i < ids.length; i++) model.set(modelKey(salt, ids, i + 1), slots[i]!);
      } else if (op < 8 && locks.length > 0) {
        const l = locks.splice(int(locks.length), 1)[0]!;
        cache.unlock(l.handle);
      } else {
        evict(cache, pool, 1 + int(20));
        // drop from the model what the tree no longer has
        for (const k of [...model.keys()]) {
          const [s, body] = k.split("|") as [string, string];
          const seq = body.split(",").map(Number);
          if (cache.match(key(seq, s)).slots.length < seq.length) model.delete(k);
        }
      }
      // locked paths are intact
      for (const l of locks) assert.deepEqual([...cache.match(key(l.ids, l.salt)).slots], l.slots);
      // accounting: every slot is free or cached, exactly once
      const st = cache.stats();
      assert.equal(pool.freeCount + st.cachedTokens, capacity, `seed ${seed} step ${step}: accounting`);
      assert.equal(st.cachedTokens, model.size, `seed ${seed} step ${step}: model size`);
      // a namespace exists exactly while it holds entries
      assert.equal(st.namespaces, new Set([...model.keys()].map((k) => k.split("|")[0])).size, `seed ${seed} step ${step}: namespaces`);
    }
    for (const l of locks) cache.unlock(l.handle);
    pool.free(cache.flush());
    assert.equal(pool.freeCount, capacity);
  }
});
