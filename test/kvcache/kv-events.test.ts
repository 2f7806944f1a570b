import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { blockDigests, blockHashes, extendDigests, noneHash } from "../../src/kvcache/block-hash.js";
import { radixCacheWithEvents, storedBlocks, type KvEvent, type KvEventSink, type KvEventSource } from "../../src/kvcache/kv-events.js";
import type { RadixCache } from "../../src/kvcache/radix-cache.js";
import { KVPool } from "../../src/kvcache/pool.js";
import { mulberry32 } from "../../src/util/random.js";

// ---- a reference canonical CBOR encoder, written apart from block-hash.ts's fast one ----
type Cbor = number | string | Buffer | null | readonly Cbor[];
function cbor(v: Cbor): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.of((major << 5) | n);
    for (const [ai, bytes] of [[24, 1], [25, 2], [26, 4], [27, 8]] as const) {
      if (n < 2 ** (8 * bytes)) {
        const b = Buffer.alloc(1 + bytes);
        b[0] = (major << 5) | ai;
        b.writeUIntBE(n, 1, Math.min(bytes, 6));
        return b;
      }
    }
    throw new Error("too big");
  };
  if (v === null) return Buffer.of(0xf6);
  if (typeof v === "number") return head(0, v);
  if (typeof v === "string") return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  const items = v as readonly Cbor[];
  return Buffer.concat([head(4, items.length), ...items.map(cbor)]);
}
const sha = (b: Buffer): Buffer => createHash("sha256").update(b).digest();

/** vLLM's sha256_cbor chain, spelled out: hash((parent, tuple(tokens), extra_keys)). */
function referenceHashes(ids: readonly number[], size: number, salt: string, seed: string): bigint[] {
  let parent = sha(cbor(seed));
  const out: bigint[] = [];
  for (let b = 0; (b + 1) * size <= ids.length; b++) {
    const extra = b === 0 && salt !== "" ? [salt] : null;
    parent = sha(cbor([parent, ids.slice(b * size, (b + 1) * size), extra]));
    out.push(parent.readBigUInt64BE(24));
  }
  return out;
}

test("block hashes follow vLLM's sha256_cbor chain: NONE_HASH from the seed, salt in the first block, no partial block", () => {
  // NONE_HASH for the seed "": sha256 of the CBOR empty text string (one byte, 0x60)
  assert.equal(noneHash("").toString("hex"), createHash("sha256").update(Buffer.of(0x60)).digest("hex"));
  const ids = [0, 1, 23, 24, 255, 256, 65535, 65536, 4294967295, 7, 100000, 3, 5, 9, 11, 13, 2, 4];
  for (const size of [1, 3, 4, 16]) {
    for (const salt of ["", "tenant-a", "ü".repeat(30)]) {
      for (const seed of ["", "42"]) {
        assert.deepEqual(blockHashes(ids, size, salt, seed), referenceHashes(ids, size, salt, seed), `size ${size} salt ${salt} seed ${seed}`);
      }
    }
  }
  assert.equal(blockHashes(ids, 16, "").length, 1, "18 tokens are one block of 16; the partial one has no hash");
  assert.deepEqual(blockHashes(ids.slice(0, 15), 16, ""), []);
  // a prefix's hashes are a prefix of the sequence's; salt and seed change every block
  assert.deepEqual(blockHashes(ids.slice(0, 8), 4, ""), blockHashes(ids, 4, "").slice(0, 2));
  const plain = blockHashes(ids, 4, "");
  const salted = blockHashes(ids, 4, "s");
  const seeded = blockHashes(ids, 4, "", "1");
  for (let i = 0; i < plain.length; i++) {
    assert.notEqual(plain[i], salted[i]);
    assert.notEqual(plain[i], seeded[i]);
  }
  assert.equal(blockDigests(ids, 4, "", "", 9).length, 2, "end cuts the sequence");
  // a chain extended from a known prefix is the chain computed from position 0
  for (const salt of ["", "s"]) {
    const whole = blockDigests(ids, 3, salt, "7");
    for (const k of [0, 1, 2, 5]) assert.deepEqual(extendDigests(whole.slice(0, k), ids, 3, salt, "7"), whole, `salt ${salt} from block ${k}`);
    assert.deepEqual(extendDigests(whole, ids, 3, salt, "7", 7), whole.slice(0, 2), "a known chain longer than `end` is cut");
  }
  assert.throws(() => blockHashes([1, -1], 2, ""), /32-bit/);
  assert.throws(() => blockHashes([1], 0, ""), /positive/);
});

/** A sink that keeps the batches, and a mirror of stored blocks built from the events alone. */
class Mirror implements KvEventSink {
  readonly hashSeed: string;
  source: KvEventSource | null = null;
  readonly batches: KvEvent[][] = [];
  readonly blocks = new Set<bigint>();
  constructor(readonly blockSize: number, hashSeed = "") {
    this.hashSeed = hashSeed;
  }
  attach(source: KvEventSource): void {
    this.source = source;
  }
  publish(events: readonly KvEvent[]): void {
    this.batches.push([...events]);
    for (const e of events) {
      if (e.type === "AllBlocksCleared") this.blocks.clear();
      else if (e.type === "BlockRemoved") {
        for (const h of e.blockHashes) assert.ok(this.blocks.delete(h), `removed ${h}, which was not stored`);
      } else {
        if (e.parentBlockHash !== null) assert.ok(this.blocks.has(e.parentBlockHash), "a stored run's parent is stored");
        assert.equal(e.tokenIds.length, e.blockHashes.length * e.blockSize);
        for (const h of e.blockHashes) {
          assert.ok(!this.blocks.has(h), `stored ${h} twice`);
          this.blocks.add(h);
        }
      }
    }
  }
  /** The events since the last call (flushed now). */
  take(): KvEvent[] {
    this.source!.flush();
    const all = this.batches.flat();
    this.batches.length = 0;
    return all;
  }
}

function setup(blockSize: number): { cache: RadixCache; mirror: Mirror; pool: KVPool } {
  const mirror = new Mirror(blockSize);
  return { cache: radixCacheWithEvents(mirror), mirror, pool: new KVPool(4096) };
}

const seq = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

function treeBlocks(cache: RadixCache, m: Mirror): Set<bigint> {
  return new Set(storedBlocks(cache, m.blockSize, m.hashSeed).flatMap((r) => r.blockHashes));
}

test("insert, extend and a split store the new full blocks only, each run chained to its parent", () => {
  const { cache, mirror, pool } = setup(4);
  const a = seq(100, 10); // blocks [0,4) [4,8); 2 tokens left over
  cache.insert({ ids: a, salt: "" }, pool.alloc(10)!);
  const h = blockHashes(a, 4, "");
  assert.deepEqual(mirror.take(), [{ type: "BlockStored", blockHashes: h, parentBlockHash: null, tokenIds: a.slice(0, 8), blockSize: 4 }]);
  // extending by 3 tokens completes block [8,12)
  const a2 = [...a, 1, 2, 3];
  cache.insert({ ids: a2, salt: "" }, pool.alloc(13)!);
  const h2 = blockHashes(a2, 4, "");
  assert.deepEqual(mirror.take(), [{ type: "BlockStored", blockHashes: [h2[2]!], parentBlockHash: h2[1]!, tokenIds: [108, 109, 1, 2], blockSize: 4 }]);
  // extending within a block stores nothing
  cache.insert({ ids: [...a2, 4], salt: "" }, pool.alloc(14)!);
  assert.deepEqual(mirror.take(), []);
  // a sibling that leaves the path at 6 (inside block [4,8)): its block [4,8) is new, [0,4) is shared
  const b = [...a.slice(0, 6), 900, 901, 902, 903];
  cache.insert({ ids: b, salt: "" }, pool.alloc(10)!);
  const hb = blockHashes(b, 4, "");
  assert.equal(hb[0], h[0]);
  assert.deepEqual(mirror.take(), [{ type: "BlockStored", blockHashes: [hb[1]!], parentBlockHash: hb[0]!, tokenIds: [104, 105, 900, 901], blockSize: 4 }]);
  // a match that splits a node changes nothing cached
  cache.match({ ids: a.slice(0, 3), salt: "" });
  assert.deepEqual(mirror.take(), []);
  assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror));
});

test("evicting a leaf removes every block with a token in it, including one that straddles its start", () => {
  const { cache, mirror, pool } = setup(4);
  const a = seq(0, 12);
  const b = [...seq(0, 6), 50, 51, 52, 53, 54, 55];
  cache.insert({ ids: a, salt: "" }, pool.alloc(12)!);
  cache.insert({ ids: b, salt: "" }, pool.alloc(12)!);
  mirror.take();
  // lock b's path so that eviction takes a's leaf [6,12): blocks [4,8) and [8,12) of a
  const m = cache.match({ ids: b, salt: "" });
  cache.lock(m.handle);
  pool.free(cache.evict(1));
  const ha = blockHashes(a, 4, "");
  assert.deepEqual(mirror.take(), [{ type: "BlockRemoved", blockHashes: [ha[1]!, ha[2]!] }]);
  assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror));
  // a leaf shorter than a block, starting mid-block, removes the block it completes only if it holds its end
  cache.unlock(m.handle);
  const c = [...seq(0, 6), 50, 51, 52, 53, 54, 55, 56]; // 13 tokens: one token past b, no new block
  cache.insert({ ids: c, salt: "" }, pool.alloc(13)!);
  assert.deepEqual(mirror.take(), []);
  const lockB = cache.match({ ids: b, salt: "" });
  cache.lock(lockB.handle);
  pool.free(cache.evict(1)); // c's one-token leaf: no block ends in it
  assert.deepEqual(mirror.take(), []);
  cache.unlock(lockB.handle);
  assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror));
});

test("flush: AllBlocksCleared when everything goes, single removals when something is locked", () => {
  const { cache, mirror, pool } = setup(2);
  cache.insert({ ids: [1, 2, 3, 4], salt: "" }, pool.alloc(4)!);
  cache.insert({ ids: [1, 2, 9, 9], salt: "" }, pool.alloc(4)!);
  const m = cache.match({ ids: [1, 2, 9, 9], salt: "" });
  cache.lock(m.handle);
  mirror.take();
  pool.free(cache.flush());
  assert.deepEqual(mirror.take(), [{ type: "BlockRemoved", blockHashes: [blockHashes([1, 2, 3, 4], 2, "")[1]!] }]);
  cache.unlock(m.handle);
  pool.free(cache.flush());
  assert.deepEqual(mirror.take(), [{ type: "AllBlocksCleared" }]);
  assert.equal(mirror.blocks.size, 0);
  assert.equal(treeBlocks(cache, mirror).size, 0);
});

test("salts: the same tokens in two namespaces are different blocks; a namespace's eviction removes its own", () => {
  const { cache, mirror, pool } = setup(2);
  const ids = [5, 6, 7, 8];
  cache.insert({ ids, salt: "" }, pool.alloc(4)!);
  cache.insert({ ids, salt: "t1" }, pool.alloc(4)!);
  const ev = mirror.take();
  assert.equal(ev.length, 2);
  assert.deepEqual(ev[1]!.type === "BlockStored" ? ev[1]!.blockHashes : null, blockHashes(ids, 2, "t1"));
  assert.notDeepEqual(blockHashes(ids, 2, "t1"), blockHashes(ids, 2, ""));
  const shared = cache.match({ ids, salt: "" });
  cache.lock(shared.handle);
  pool.free(cache.evict(100));
  assert.deepEqual(mirror.take(), [{ type: "BlockRemoved", blockHashes: blockHashes(ids, 2, "t1") }]);
  assert.equal(cache.stats().namespaces, 1);
  cache.unlock(shared.handle);
  assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror));
});

test("events are batched per turn of the event loop", async () => {
  const { cache, mirror, pool } = setup(2);
  cache.insert({ ids: [1, 2], salt: "" }, pool.alloc(2)!);
  cache.insert({ ids: [3, 4], salt: "" }, pool.alloc(2)!);
  assert.equal(mirror.batches.length, 0, "nothing is published synchronously");
  await new Promise((r) => setImmediate(r));
  assert.equal(mirror.batches.length, 1);
  assert.equal(mirror.batches[0]!.length, 2);
  cache.insert({ ids: [5, 6], salt: "" }, pool.alloc(2)!);
  await new Promise((r) => setImmediate(r));
  assert.equal(mirror.batches.length, 2);
});

test("random inserts, locks and evictions: the blocks rebuilt from events are the tree's", () => {
  const rnd = mulberry32(7);
  for (const size of [1, 3, 16]) {
    const { cache, mirror, pool } = setup(size);
    const locked: { handle: ReturnType<RadixCache["match"]>["handle"] }[] = [];
    for (let step = 0; step < 400; step++) {
      const r = rnd();
      if (r < 0.55) {
        // a sequence sharing a random prefix of a few fixed stems, in one of three namespaces
        const stem = Math.floor(rnd() * 4);
        const n = 1 + Math.floor(rnd() * 60);
        const ids = Array.from({ length: n }, (_, i) => (i < 20 ? stem * 1000 + i : Math.floor(rnd() * 5)));
        const salt = ["", "", "a", "b"][Math.floor(rnd() * 4)]!;
        const m = cache.match({ ids, salt });
        const fresh = pool.alloc(n - m.slots.length) ?? (pool.free(cache.evict(n)), pool.alloc(n - m.slots.length));
        if (!fresh) continue;
        const slots = new Int32Array(n);
        slots.set(m.slots);
        slots.set(fresh, m.slots.length);
        const res = cache.insert({ ids, salt }, slots);
        pool.free(slots.subarray(m.slots.length, res.alreadyCached));
      } else if (r < 0.7) {
        const ids = Array.from({ length: 1 + Math.floor(rnd() * 30) }, (_, i) => Math.floor(rnd() * 4) * 1000 + i);
        const m = cache.match({ ids, salt: "" });
        cache.lock(m.handle);
        locked.push({ handle: m.handle });
      } else if (r < 0.85 && locked.length > 0) {
        cache.unlock(locked.splice(Math.floor(rnd() * locked.length), 1)[0]!.handle);
      } else if (r < 0.98) {
        pool.free(cache.evict(1 + Math.floor(rnd() * 80)));
      } else {
        pool.free(cache.flush());
      }
      if (step % 10 === 0) {
        mirror.source!.flush();
        assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror), `block size ${size}, step ${step}`);
      }
    }
    mirror.source!.flush();
    assert.deepEqual(mirror.blocks, treeBlocks(cache, mirror));
    assert.ok(mirror.blocks.size > 0);
  }
});
