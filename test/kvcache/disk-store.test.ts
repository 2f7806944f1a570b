import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DiskStore, type DiskStoreOptions, type DiskWrite } from "../../src/kvcache/disk-store.js";
import { HEADER_BYTES } from "../../src/kvcache/disk-segment.js";

/** Deterministic bytes for item `i`: what a reader checks a payload against. */
function payload(i: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let j = 0; j < n; j++) b[j] = (i * 131 + j * 17 + (j >> 8)) & 255;
  return b;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "radixlm-disk-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function openStore(dir: string, extra: Partial<DiskStoreOptions> = {}): Promise<{ store: DiskStore; warnings: string[] }> {
  const warnings: string[] = [];
  const store = await DiskStore.open({ dir, maxBytes: 1 << 30, fingerprint: "model-a/f16/v1", warn: (l) => warnings.push(l), ...extra });
  return { store, warnings };
}

async function segFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith("seg-")).sort();
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const n of await segFiles(dir)) total += (await stat(join(dir, n))).size;
  return total;
}

const recordBytes = (key: string, meta: object, n: number): number => HEADER_BYTES + Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(meta)) + n;

test("put and get round-trip bitwise, with JSON or byte metadata; replace, delete, keys, stats", async () => {
  await withDir(async (dir) => {
    const { store, warnings } = await openStore(dir);
    const p1 = payload(1, 12 * 1024 * 3);
    await store.put("a", { tokens: 3, salt: "ns", nested: { x: [1, 2] } }, p1);
    await store.put("b", Uint8Array.of(9, 8, 7), payload(2, 100));
    await store.put("empty", {}, new Uint8Array(0));
    const a = await store.get("a");
    assert.ok(a);
    assert.deepEqual(a.meta, { tokens: 3, salt: "ns", nested: { x: [1, 2] } });
    assert.ok(a.payload.equals(p1));
    const b = await store.get("b");
    assert.ok(b && b.meta instanceof Uint8Array);
    assert.deepEqual([...(b.meta as Uint8Array)], [9, 8, 7]);
    assert.ok(b.payload.equals(payload(2, 100)));
    assert.equal((await store.get("empty"))?.payload.length, 0);
    assert.equal(await store.get("nope"), null);
    assert.deepEqual(store.keys(), ["a", "b", "empty"]);
    await store.put("a", { tokens: 1 }, payload(3, 10));
    assert.ok((await store.get("a"))?.payload.equals(payload(3, 10)));
    assert.equal(store.delete("b"), true);
    assert.equal(store.delete("b"), false);
    assert.equal(store.has("b"), false);
    assert.equal(await store.get("b"), null);
    const s = store.stats();
    assert.equal(s.items, 2);
    assert.equal(s.bytes, recordBytes("a", { tokens: 1 }, 10) + recordBytes("empty", {}, 0));
    assert.equal(s.writes, 4);
    assert.equal(s.fileBytes, s.bytesWritten);
    assert.equal(s.fileBytes, await dirBytes(dir));
    assert.equal(s.reads, 4, "a, b, empty, and a again: a miss reads nothing");
    assert.ok(s.readMsTotal > 0);
    await store.close();
    await assert.rejects(store.put("c", {}, payload(4, 4)), /closed/);
    assert.deepEqual(warnings, []);
  });
});

test("a get or a has sees a put before its write lands; a delete during the write stores nothing; close() waits for puts under way", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir);
    const p = payload(5, 1 << 20);
    const put = store.put("k", { n: 1 }, p);
    assert.equal(store.has("k"), true);
    assert.ok((await store.get("k"))?.payload.equals(p));
    await put;
    const put2 = store.put("gone", {}, payload(6, 1000));
    store.delete("gone");
    await put2;
    assert.equal(store.has("gone"), false);
    assert.deepEqual(store.keys(), ["k"]);
    // puts land in call order (the last one of a key wins), and close() waits for them all
    const puts = [store.put("x", { v: 1 }, payload(7, 3 << 20)), store.put("x", { v: 2 }, payload(8, 10)), store.put("y", {}, payload(9, 2 << 20))];
    await store.close();
    await Promise.all(puts);
    await assert.rejects(store.get("x"), /closed/);
    const { store: again } = await openStore(dir);
    assert.deepEqual(again.keys(), ["k", "x", "y"]);
    assert.deepEqual((await again.get("x"))?.meta, { v: 2 });
    assert.ok((await again.get("y"))?.payload.equals(payload(9, 2 << 20)));
    await again.close();
  });
});

test("many items across segment rolls survive a reopen, least recently used first in keys()", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir, { segmentBytes: 64 * 1024 });
    const sizes = Array.from({ length: 120 }, (_, i) => 1000 + ((i * 7919) % 20000));
    await Promise.all(sizes.map((n, i) => store.put(`node/${i}`, { i, n }, payload(i, n))));
    const before = store.stats();
    assert.ok(before.segments > 10, `${before.segments} segments`);
    await store.flush();
    await store.close();
    const { store: again, warnings } = await openStore(dir, { segmentBytes: 64 * 1024 });
    assert.deepEqual(warnings, []);
    assert.equal(again.stats().items, 120);
    assert.equal(again.stats().bytes, before.bytes);
    for (let i = 0; i < sizes.length; i++) {
      const got = await again.get(`node/${i}`);
      assert.ok(got, `node/${i}`);
      assert.deepEqual(got.meta, { i, n: sizes[i] });
      assert.ok(got.payload.equals(payload(i, sizes[i]!)), `node/${i} bitwise`);
    }
    // a restart's appends go to a new segment, never after an old one's tail
    await again.put("after", {}, payload(999, 10));
    assert.equal((await segFiles(dir)).length, before.segments + 1);
    await again.close();
  });
});

test("a changed fingerprint sees none of the items, warns once and removes their segments", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir, { segmentBytes: 8192 });
    for (let i = 0; i < 20; i++) await store.put(`k${i}`, {}, payload(i, 3000));
    await store.close();
    const { store: other, warnings } = await openStore(dir, { fingerprint: "model-b/f16/v1", segmentBytes: 8192 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /20 item\(s\).*another fingerprint.*segment file\(s\) removed/);
    assert.deepEqual(other.keys(), []);
    assert.equal(await other.get("k1"), null);
    assert.deepEqual(await segFiles(dir), []);
    await other.put("mine", {}, payload(1, 10));
    await other.close();
    const { store: back, warnings: w2 } = await openStore(dir, { fingerprint: "model-b/f16/v1" });
    assert.deepEqual(back.keys(), ["mine"]);
    assert.deepEqual(w2, []);
    await back.close();
  });
});

test("a segment cut mid-record keeps the records before the cut and truncates the partial one", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir);
    for (let i = 0; i < 3; i++) await store.put(`k${i}`, { i }, payload(i, 5000));
    await store.close();
    const [seg] = await segFiles(dir);
    const end2 = 2 * recordBytes("k0", { i: 0 }, 5000);
    for (const cut of [end2 + 30, end2 + 2000]) {
      await truncate(join(dir, seg!), cut);
      const { store: again, warnings } = await openStore(dir);
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0]!, new RegExp(`${seg}: ${cut - end2} bytes of an unfinished record at the end truncated; 2 good`));
      assert.deepEqual(again.keys(), ["k0", "k1"]);
      for (let i = 0; i < 2; i++) assert.ok((await again.get(`k${i}`))?.payload.equals(payload(i, 5000)));
      assert.equal((await stat(join(dir, seg!))).size, end2);
      await again.close();
    }
    // cut inside the header itself
    await truncate(join(dir, seg!), end2 - 5000 - 10);
    const { store: third, warnings } = await openStore(dir);
    assert.equal(warnings.length, 1);
    assert.deepEqual(third.keys(), ["k0"]);
    await third.put("k9", {}, payload(9, 100));
    assert.ok((await third.get("k9"))?.payload.equals(payload(9, 100)));
    await third.close();
  });
});

test("a flipped payload byte is caught at the get (dropped, warned); a flipped head byte at open, the records after it kept", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir);
    for (let i = 0; i < 3; i++) await store.put(`k${i}`, { i }, payload(i, 5000));
    await store.close();
    const [seg] = await segFiles(dir);
    const rec = recordBytes("k0", { i: 0 }, 5000);
    const flip = async (at: number): Promise<void> => {
      const fh = await open(join(dir, seg!), "r+");
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] ^= 0x10;
      await fh.write(b, 0, 1, at);
      await fh.close();
    };
    await flip(rec + rec - 100); // k1's payload
    const { store: a, warnings } = await openStore(dir);
    assert.deepEqual(warnings, []);
    assert.equal(a.stats().items, 3);
    const [x, y] = await Promise.all([a.get("k1"), a.get("k1")]);
    assert.equal(x, null);
    assert.equal(y, null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /item k1 in seg-000001\.kv .* failed its checksum; dropped/);
    assert.equal(a.has("k1"), false);
    assert.equal(a.stats().dropped, 1);
    assert.ok((await a.get("k2"))?.payload.equals(payload(2, 5000)));
    await a.close();
    await flip(HEADER_BYTES + 1); // k0's key
    const { store: b, warnings: w2 } = await openStore(dir);
    assert.equal(w2.length, 1);
    assert.match(w2[0]!, /seg-000001\.kv: 1 damaged stretch\(es\) of \d+ bytes skipped; 2 good record\(s\) kept/);
    // k1, dropped at its failed get, was marked dead on disk: it stays dropped.
    assert.deepEqual(b.keys().sort(), ["k2"]);
    assert.ok((await b.get("k2"))?.payload.equals(payload(2, 5000)));
    await b.close();
  });
});

test("kill -9 during writes: every acknowledged item is read back whole, nothing damaged is returned", async () => {
  await withDir(async (dir) => {
    const moduleUrl = pathToFileURL(join(import.meta.dirname, "../../src/kvcache/disk-store.js")).href;
    const script = join(dir, "writer.mjs");
    await writeFile(
      script,
      `import { DiskStore } from ${JSON.stringify(moduleUrl)};
${payload.toString()}
const store = await DiskStore.open({ dir: process.argv[2], maxBytes: 1 << 30, fingerprint: "fp", segmentBytes: 2 << 20, warn: () => {} });
let next = 0;
async function loop() {
  for (;;) {
    const i = next++;
    const n = 1000 + ((i * 7919) % 300000);
    await store.put("k" + i, { i, n }, payload(i, n));
    process.stdout.write(i + "\\n");
  }
}
await Promise.all([loop(), loop(), loop()]);
`,
    );
    const data = join(dir, "data");
    const child = spawn(process.execPath, [script, data], { stdio: ["ignore", "pipe", "inherit"] });
    const acked = new Set<number>();
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) acked.add(Number(l));
        if (acked.size >= 150 && !child.killed) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", (code) => (acked.size >= 150 ? resolve() : reject(new Error(`writer exited early (${code})`))));
    });
    await new Promise((resolve) => child.on("close", resolve));
    const { store, warnings } = await openStore(data, { fingerprint: "fp" });
    assert.ok(warnings.length <= 1, warnings.join("\n"));
    for (const i of acked) assert.ok(store.has(`k${i}`), `acknowledged k${i} is there`);
    for (const key of store.keys()) {
      const got = await store.get(key);
      assert.ok(got, key);
      const { i, n } = got.meta as { i: number; n: number };
      assert.equal(key, `k${i}`);
      assert.ok(got.payload.equals(payload(i, n)), `${key} bitwise`);
    }
    assert.equal(store.stats().dropped, warnings.length === 0 ? 0 : 1);
    await store.close();
  });
});

test("LRU eviction under maxBytes: onEvict in access order, segment files within the bound, compaction keeps hot items", async () => {
  await withDir(async (dir) => {
    const maxBytes = 256 * 1024;
    const evicted: string[] = [];
    const { store, warnings } = await openStore(dir, { maxBytes, onEvict: (k) => evicted.push(k) });
    const order: string[] = []; // the model: least recently used first
    const use = (k: string): void => {
      const at = order.indexOf(k);
      if (at >= 0) order.splice(at, 1);
      order.push(k);
    };
    const size = (i: number): number => 2000 + ((i * 613) % 3000);
    let putBytes = 0;
    for (let i = 0; i < 600; i++) {
      const seen = evicted.length;
      await store.put(`k${i}`, { i }, payload(i, size(i)));
      putBytes += recordBytes(`k${i}`, { i }, size(i));
      for (const k of evicted.slice(seen)) assert.equal(k, order.shift(), `evicted ${k} in LRU order`);
      use(`k${i}`);
      // a few hot keys, read over and over, keep old segments partly alive
      for (const h of [3, 4, 5, 50, 51]) {
        if (i >= h && i % 7 === h % 7) {
          const got = await store.get(`k${h}`);
          assert.ok(got?.payload.equals(payload(h, size(h))), `hot k${h}`);
          use(`k${h}`);
        }
      }
      const s = store.stats();
      assert.ok(s.fileBytes <= maxBytes, `fileBytes ${s.fileBytes} at put ${i}`);
      assert.equal(await dirBytes(dir), s.fileBytes);
    }
    assert.ok(evicted.length > 300);
    assert.deepEqual(store.keys(), order);
    assert.ok(store.stats().bytesWritten > putBytes, "compaction rewrote live items");
    for (const k of store.keys()) {
      const i = Number(k.slice(1));
      assert.ok((await store.get(k))?.payload.equals(payload(i, size(i))));
    }
    assert.deepEqual(warnings, []);
    await store.close();
    // a smaller bound at open evicts down to it
    const { store: small } = await openStore(dir, { maxBytes: 64 * 1024 });
    assert.ok(small.stats().fileBytes <= 64 * 1024);
    assert.ok(small.stats().items > 0);
    await small.close();
  });
});

test("concurrent gets of one key share one read", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir);
    await store.put("big", { t: 1 }, payload(7, 4 << 20));
    const [a, b, c] = await Promise.all([store.get("big"), store.get("big"), store.get("big")]);
    assert.ok(a && a === b && b === c);
    assert.ok(a.payload.equals(payload(7, 4 << 20)));
    assert.equal(store.stats().reads, 1);
    assert.ok(await store.get("big"));
    assert.equal(store.stats().reads, 2);
    await store.close();
  });
});

test("a failing write (disk full) rejects that put, stores nothing of it, and the store goes on", async () => {
  await withDir(async (dir) => {
    let failNext = false;
    const write: DiskWrite = async (fh, buffers, position) => {
      if (!failNext) return (await fh.writev(buffers, position)).bytesWritten;
      failNext = false;
      // a short write of half the record, then the disk is full
      const half = Buffer.concat(buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))).subarray(0, 3000);
      await fh.write(half, 0, half.length, position);
      const err = new Error("ENOSPC: no space left on device, write") as NodeJS.ErrnoException;
      err.code = "ENOSPC";
      throw err;
    };
    let short = false;
    const shortThenFail: DiskWrite = async (fh, buffers, position) => {
      if (short) {
        short = false;
        await fh.write(Buffer.from(buffers[0]!).subarray(0, 20), 0, 20, position);
        return 20; // the kernel may write less than asked; the store carries on with the rest
      }
      return write(fh, buffers, position);
    };
    const { store, warnings } = await openStore(dir, { write: shortThenFail });
    await store.put("a", {}, payload(1, 5000));
    const before = store.stats().fileBytes;
    failNext = true;
    await assert.rejects(store.put("b", {}, payload(2, 6000)), /seg-000001\.kv failed \(ENOSPC\)/);
    assert.equal(store.has("b"), false);
    assert.equal(store.stats().fileBytes, before);
    assert.equal(await dirBytes(dir), before);
    short = true;
    await store.put("c", { ok: true }, payload(3, 7000));
    assert.ok((await store.get("a"))?.payload.equals(payload(1, 5000)));
    assert.ok((await store.get("c"))?.payload.equals(payload(3, 7000)));
    await store.close();
    const { store: again, warnings: w2 } = await openStore(dir);
    assert.deepEqual(again.keys(), ["a", "c"]);
    assert.ok((await again.get("c"))?.payload.equals(payload(3, 7000)));
    assert.deepEqual([...warnings, ...w2], []);
    await again.close();
  });
});

test("a failing write that cannot even be cut back leaves its segment and starts a new one; too big an item is refused", async () => {
  await withDir(async (dir) => {
    let fail = false;
    const write: DiskWrite = async (fh, buffers, position) => {
      if (!fail) return (await fh.writev(buffers, position)).bytesWritten;
      fail = false;
      await fh.write(Buffer.from(buffers[0]!), 0, buffers[0]!.length, position);
      // the disk is gone: the cut back fails too
      Object.defineProperty(fh, "truncate", { value: () => Promise.reject(new Error("EIO: i/o error")), configurable: true });
      throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
    };
    const { store, warnings } = await openStore(dir, { write, maxBytes: 1 << 20 });
    await store.put("a", {}, payload(1, 5000));
    fail = true;
    await assert.rejects(store.put("b", {}, payload(2, 6000)), /\(EIO\)/);
    await store.put("c", {}, payload(3, 7000));
    assert.deepEqual(await segFiles(dir), ["seg-000001.kv", "seg-000002.kv"]);
    assert.equal(store.stats().fileBytes, await dirBytes(dir));
    await assert.rejects(store.put("huge", {}, new Uint8Array(1 << 20)), /does not fit/);
    assert.equal(store.has("huge"), false);
    await store.close();
    const { store: again, warnings: w2 } = await openStore(dir);
    assert.deepEqual(again.keys(), ["a", "c"]);
    assert.ok((await again.get("a"))?.payload.equals(payload(1, 5000)));
    assert.deepEqual(warnings, []);
    assert.equal(w2.length, 1);
    assert.match(w2[0]!, /seg-000001\.kv: \d+ bytes of an unfinished record at the end truncated; 1 good/);
    await again.close();
  });
});

test("manifests round-trip atomically; another fingerprint or a damaged one reads as null with a warning", async () => {
  await withDir(async (dir) => {
    const { store, warnings } = await openStore(dir);
    assert.equal(await store.readManifest("tree"), null);
    assert.deepEqual(warnings, [], "a missing manifest is silent");
    const body = payload(11, 100_000);
    await store.writeManifest("tree", body);
    assert.ok((await store.readManifest("tree"))?.equals(body));
    await store.writeManifest("tree", Buffer.from("v2"));
    assert.equal((await store.readManifest("tree"))?.toString(), "v2");
    await assert.rejects(store.writeManifest("../evil", Buffer.from("x")), /not a plain file name/);
    assert.deepEqual((await readdir(dir)).sort(), ["tree.manifest"]);
    await store.close();
    await writeFile(join(dir, "tree.manifest.tmp-123-0"), "left by a crash");
    const { store: other, warnings: w2 } = await openStore(dir, { fingerprint: "model-b" });
    assert.equal(await other.readManifest("tree"), null);
    assert.equal(w2.length, 1);
    assert.match(w2[0]!, /manifest tree was written for another fingerprint/);
    assert.deepEqual(await readdir(dir), ["tree.manifest"], "the stale temp file is gone");
    await other.close();
    const file = await readFile(join(dir, "tree.manifest"));
    file[file.length - 1] ^= 1;
    await writeFile(join(dir, "tree.manifest"), file);
    const { store: third, warnings: w3 } = await openStore(dir);
    assert.equal(await third.readManifest("tree"), null);
    assert.match(w3[0]!, /manifest tree failed its checksum/);
    await writeFile(join(dir, "tree.manifest"), file.subarray(0, 10));
    assert.equal(await third.readManifest("tree"), null);
    assert.equal(w3.length, 2);
    await third.close();
  });
});

test("a delete outlasts a restart, a later put of the key wins again, and clear() leaves nothing to find", async () => {
  await withDir(async (dir) => {
    const { store } = await openStore(dir);
    for (let i = 0; i < 4; i++) await store.put(`k${i}`, { i }, payload(i, 3000));
    assert.equal(store.delete("k1"), true);
    await store.put("k2", { i: 22 }, payload(22, 3000));
    assert.equal(store.delete("k2"), true);
    await store.put("k2", { i: 23 }, payload(23, 3000));
    await store.close();
    const { store: a, warnings } = await openStore(dir);
    assert.deepEqual(warnings, []);
    assert.deepEqual(a.keys().sort(), ["k0", "k2", "k3"]);
    assert.ok((await a.get("k2"))?.payload.equals(payload(23, 3000)));
    a.clear();
    assert.equal(a.stats().items, 0);
    await a.put("k9", { i: 9 }, payload(9, 3000));
    await a.close();
    const { store: b } = await openStore(dir);
    assert.deepEqual(b.keys(), ["k9"]);
    await b.close();
  });
});
