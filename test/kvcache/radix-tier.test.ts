// The radix tree's disk tier: nodes stored on disk stay in the tree when evicted, a match
// reports them past its pool-resident prefix, a load puts them back, an insert that computed
// them again takes them back into the pool, and every slot is accounted for throughout.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import { mulberry32 } from "../../src/util/random.js";

const range = (from: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);
const key = (ids: number[], salt = "") => ({ ids, salt });

/** Marks every unsaved pool run as stored, each as its own item (parents first, as unsaved() offers them); returns the items. */
let itemCount = 0;
function saveAll(c: RadixCache): string[] {
  const items: string[] = [];
  for (let batch = c.unsaved(1 << 20); batch.length > 0; batch = c.unsaved(1 << 20)) {
    for (const u of batch) {
      const item = `item-${itemCount++}`;
      assert.equal(c.markOnDisk(u.salt, u.ids, u.start, item), u.ids.length - u.start);
      // A run is offered only once the run before it is stored, and names that item.
      if (u.start === 0) assert.equal(u.parentItem, null);
      else assert.ok(u.parentItem !== null && Number(u.parentItem.slice(5)) < itemCount, `parent of a run at ${u.start}: ${u.parentItem}`);
      items.push(item);
    }
  }
  return items;
}

describe("radix cache disk tier", () => {
  test("an evicted run that was stored stays, disk-only; a match reports it; a restore brings it back", () => {
    const c = new RadixCache();
    itemCount = 0;
    const a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    c.insert(key(a), range(100, 10));
    assert.deepEqual(saveAll(c), ["item-0"]);
    assert.deepEqual(c.unsaved(10), []);
    assert.deepEqual(Array.from(c.evict(10)).sort((x, y) => x - y), Array.from(range(100, 10)));
    assert.equal(c.stats().cachedTokens, 0);
    assert.equal(c.stats().diskTokens, 10);
    const m = c.match(key([...a, 11]));
    assert.equal(m.slots.length, 0);
    assert.deepEqual(m.disk, [{ item: "item-0", from: 0, length: 10 }]);
    // A shorter key splits the disk-only node where it ends.
    assert.deepEqual(c.match(key(a.slice(0, 4))).disk, [{ item: "item-0", from: 0, length: 4 }]);
    assert.deepEqual(c.match(key(a)).disk, [{ item: "item-0", from: 0, length: 4 }, { item: "item-0", from: 4, length: 6 }]);
    // Loaded back: an insert through the disk-only nodes gives them the new slots.
    assert.deepEqual(c.insert(key(a), range(200, 10)), { alreadyCached: 0, cached: 10 });
    const back = c.match(key(a));
    assert.deepEqual(back.slots, range(200, 10));
    assert.equal(back.disk, undefined);
    assert.equal(c.stats().diskTokens, 0);
    assert.equal(c.stats().cachedTokens, 10);
    // Still stored: evicting again keeps it.
    assert.equal(c.evict(10).length, 10);
    assert.equal(c.stats().diskTokens, 10);
  });

  test("an insert through disk-only nodes takes them back with its own slots; its pool-resident prefix is what was cached", () => {
    const c = new RadixCache();
    c.insert(key([1, 2, 3]), range(0, 3));
    c.insert(key([1, 2, 3, 4, 5, 6, 7]), range(0, 7));
    itemCount = 0;
    saveAll(c);
    c.lock(c.match(key([1, 2, 3])).handle);
    c.evict(100); // only 4..7 can go: 1..3 is locked
    assert.equal(c.stats().diskTokens, 4);
    const r = c.insert(key([1, 2, 3, 4, 5, 9]), Int32Array.of(0, 1, 2, 50, 51, 52));
    assert.deepEqual(r, { alreadyCached: 3, cached: 6 });
    const m = c.match(key([1, 2, 3, 4, 5, 6, 7]));
    assert.deepEqual(m.slots, Int32Array.of(0, 1, 2, 50, 51));
    assert.deepEqual(m.disk, [{ item: "item-1", from: 2, length: 2 }]);
    assert.equal(c.stats().diskTokens, 2);
  });

  test("a stored item the store drops takes the disk-only nodes with it; an unstored evicted run takes its disk-only descendants", () => {
    const c = new RadixCache();
    c.insert(key([1, 2, 3, 4]), range(0, 4));
    const [item] = saveAll(c);
    c.evict(4);
    c.forgetItem(item!);
    assert.equal(c.match(key([1, 2, 3, 4])).disk, undefined);
    assert.equal(c.stats().diskTokens, 0);
    // The parent's item dropped, the child's kept: evicting the child keeps it disk-only; then the parent goes with it.
    c.insert(key([7, 8]), range(10, 2));
    c.insert(key([7, 8, 9, 10]), range(10, 4));
    const top = c.unsaved(10);
    assert.deepEqual(top.map((x) => [x.start, x.parentItem]), [[0, null]]);
    c.markOnDisk(top[0]!.salt, top[0]!.ids, 0, "parent");
    const u = c.unsaved(10);
    assert.deepEqual(u.map((x) => [x.start, x.parentItem]), [[2, "parent"]]);
    c.markOnDisk(u[0]!.salt, u[0]!.ids, u[0]!.start, "child");
    c.forgetItem("parent");
    c.evict(2);
    assert.equal(c.stats().diskTokens, 2);
    c.evict(2);
    assert.equal(c.stats().diskTokens, 0);
    assert.equal(c.stats().cachedTokens, 0);
    assert.equal(c.match(key([7, 8, 9, 10])).disk, undefined);
  });

  test("flush forgets the disk tier too; salts keep their disk runs apart", () => {
    const c = new RadixCache();
    c.insert(key([1, 2, 3], "a"), range(0, 3));
    c.insert(key([1, 2, 3], "b"), range(3, 3));
    saveAll(c);
    c.evict(6);
    assert.equal(c.match(key([1, 2, 3], "a")).disk!.length, 1);
    assert.notEqual(c.match(key([1, 2, 3], "a")).disk![0]!.item, c.match(key([1, 2, 3], "b")).disk![0]!.item);
    assert.equal(c.insert(key([1, 2, 3], "a"), range(20, 3)).cached, 3);
    c.flush();
    assert.equal(c.stats().diskTokens, 0);
    assert.equal(c.stats().cachedTokens, 0);
    assert.equal(c.stats().namespaces, 0);
  });

  test("random inserts, saves, evictions, restores and drops: every slot is the tree's or returned, exactly once", () => {
    const rnd = mulberry32(7);
    const c = new RadixCache();
    const owned = new Set<number>();
    let nextSlot = 0;
    const take = (slots: ArrayLike<number>): void => {
      for (const s of Array.from(slots)) {
        assert.ok(owned.has(s), `slot ${s} returned but not owned`);
        owned.delete(s);
      }
    };
    const seqs: number[][] = [];
    let items: string[] = [];
    let restored = 0;
    let maxDisk = 0;
    for (let step = 0; step < 600; step++) {
      const op = rnd();
      if (op < 0.4 || seqs.length === 0) {
        // A sequence sharing a random prefix with an earlier one.
        const base = seqs.length > 0 && rnd() < 0.7 ? seqs[Math.floor(rnd() * seqs.length)]! : [];
        const ids = [...base.slice(0, Math.floor(rnd() * (base.length + 1))), ...Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => Math.floor(rnd() * 5))];
        const m = c.match(key(ids));
        const slots = Int32Array.from({ length: ids.length }, (_, i) => (i < m.slots.length ? m.slots[i]! : nextSlot++));
        const r = c.insert(key(ids), slots);
        // Slots the caller made: past the cache's pool prefix they are the cache's now; before it, duplicates it frees.
        for (let i = m.slots.length; i < ids.length; i++) if (i >= r.alreadyCached) owned.add(slots[i]!);
        seqs.push(ids);
      } else if (op < 0.55) {
        items = items.concat(saveAll(c).map((x) => x));
      } else if (op < 0.75) {
        take(c.evict(1 + Math.floor(rnd() * 8)));
      } else if (op < 0.9) {
        const ids = seqs[Math.floor(rnd() * seqs.length)]!;
        const m = c.match(key(ids));
        const n = (m.disk ?? []).reduce((a, d) => a + d.length, 0);
        if (n > 0) {
          const slots = Int32Array.from({ length: n }, () => nextSlot++);
          const upto = m.slots.length + n;
          const got = c.insert(key(ids.slice(0, upto)), Int32Array.from([...m.slots, ...slots]));
          assert.deepEqual(got, { alreadyCached: m.slots.length, cached: upto });
          restored += n;
          for (const s of slots) owned.add(s);
        }
      } else if (items.length > 0) {
        c.forgetItem(items.splice(Math.floor(rnd() * items.length), 1)[0]!);
      }
      // The pool part of the tree holds exactly the owned slots.
      const inTree = new Set<number>();
      for (const s of c.sequences()) for (const slot of c.match(key(Array.from(s.ids))).slots) inTree.add(slot);
      assert.deepEqual([...inTree].sort((x, y) => x - y), [...owned].sort((x, y) => x - y), `step ${step}`);
      assert.equal(c.stats().cachedTokens, owned.size);
      maxDisk = Math.max(maxDisk, c.stats().diskTokens ?? 0);
    }
    assert.ok(restored > 20 && maxDisk > 10, `restored ${restored}, disk at most ${maxDisk}`);
    take(c.flush());
    assert.equal(owned.size, 0);
  });
});
