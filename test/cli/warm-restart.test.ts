// serve --cache-dir across restarts (issue 21), through the real CLI: what one run stores, the
// next finds (its ready output says how much) and loads back instead of computing, every token
// and logprob bitwise what a server without any cache answers. A changed model, a cut or damaged
// segment file, a kill -9 mid-write and stray files are dropped with a warning and never used;
// /flush_cache empties the store for good; a --cache-dir that cannot be one stops the start
// with one line.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { get, modelPath, post } from "../server/harness.js";
import { testModel } from "../helpers/models.js";
import { startServe, type ServeProcess } from "../helpers/serve-process.js";

/** A pool smaller than the prompts together, so that runs are evicted to disk-only. */
const POOL = ["--max-total-tokens", "512"];
const DISK = ["--cache-disk-size", String(64 << 20), "--cache-checkpoint-interval", "1"];
const PREFIX = 300;

const root = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-warm-restart-"));
const running = new Set<ServeProcess>();
after(async () => {
  for (const p of running) p.kill("SIGKILL");
  await Promise.all([...running].map((p) => p.exit));
  fs.rmSync(root, { recursive: true, force: true });
});

function serve(model: string, args: readonly string[]): ServeProcess {
  const p = startServe(model, args);
  running.add(p);
  void p.exit.then(() => running.delete(p));
  return p;
}

let dirs = 0;
function freshDir(): string {
  return fs.mkdtempSync(path.join(root, `dir${dirs++}-`));
}

/** n token ids in 10..909, a different run for each seed (211 is prime to 900: first ids differ). */
function ids(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => 10 + ((i * 37 + seed * 211 + ((i * i) % 13) * seed) % 900));
}
const P = ids(1, PREFIX);
const Q = ids(2, PREFIX);
const prompt = (prefix: number[], k: number): number[] => [...prefix, ...ids(100 + k, 8)];

interface Answer {
  readonly ids: number[];
  readonly logprobs: unknown;
  readonly top: unknown;
  readonly cached: number;
}

async function ask(url: string, input: number[]): Promise<Answer> {
  const r = await post(`${url}/generate`, {
    input_ids: input, sampling_params: { max_new_tokens: 6, temperature: 0, ignore_eos: true }, return_logprob: true, top_logprobs_num: 2,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const m = r.body.meta_info;
  return { ids: r.body.output_ids, logprobs: m.output_token_logprobs, top: m.output_top_logprobs, cached: m.cached_tokens };
}

/** One server per model with no prefix reuse at all: every answer computed from scratch. */
const references = new Map<string, { proc: ServeProcess; answers: Map<string, Promise<Answer>> }>();
async function reference(model: string, input: number[]): Promise<Answer> {
  let r = references.get(model);
  if (!r) {
    r = { proc: serve(model, ["--disable-radix-cache", "--max-total-tokens", "2048"]), answers: new Map() };
    references.set(model, r);
  }
  const key = input.join(",");
  let a = r.answers.get(key);
  if (!a) {
    const url = await r.proc.ready;
    a = ask(url, input);
    r.answers.set(key, a);
  }
  return a;
}

/** Asks `url` and the reference; tokens, logprobs and top logprobs must be the same numbers. */
async function askSame(url: string, model: string, input: number[], what: string): Promise<Answer> {
  const want = await reference(model, input);
  const got = await ask(url, input);
  assert.equal(want.ids.length, 6);
  assert.deepEqual({ ids: got.ids, logprobs: got.logprobs, top: got.top }, { ids: want.ids, logprobs: want.logprobs, top: want.top }, what);
  return got;
}

interface DiskTier {
  writtenTokens: number;
  loadedTokens: number;
  loads: number;
  failedLoads: number;
  diskOnlyTokens: number;
  storeItems: number;
}

async function diskTier(url: string): Promise<DiskTier> {
  const r = await get(`${url}/get_server_info`);
  assert.equal(r.status, 200);
  assert.ok(r.body.disk_tier, `no disk_tier in ${JSON.stringify(r.body)}`);
  return r.body.disk_tier as DiskTier;
}

/** Waits until the background writer has stored more than `before` tokens. */
async function written(url: string, before: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const t = await diskTier(url);
    if (t.writtenTokens > before) return;
    if (Date.now() > end) assert.fail(`the writer stored nothing new in ${ms} ms: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Serves each prompt (checked against the reference), letting the writer store it before the next evicts it. */
async function serveStoring(url: string, model: string, prompts: number[][]): Promise<void> {
  for (const [i, p] of prompts.entries()) {
    const before = (await diskTier(url)).writtenTokens;
    await askSame(url, model, p, `prompt ${i}`);
    await written(url, before);
  }
}

interface Found {
  tokens: number;
  items: number;
  dropped: number;
}

/** What the ready output says the cache dir held from earlier runs. */
function found(p: ServeProcess): Found {
  const line = p.stdout.find((l) => l.includes("from earlier runs"));
  assert.ok(line, `no cache dir line in ${JSON.stringify(p.stdout)}`);
  const m = /^radixlm: cache dir .+: (\d+) cached tokens in (\d+) item\(s\) from earlier runs(?: \((\d+) unusable item\(s\) dropped\))?$/.exec(line);
  assert.ok(m, line);
  return { tokens: Number(m[1]), items: Number(m[2]), dropped: Number(m[3] ?? 0) };
}

/** The lines on stderr about the cache dir (the store's and the disk tier's warnings). */
function cacheWarnings(p: ServeProcess): string[] {
  return p.stderr.filter((l) => /cache dir|disk/.test(l));
}

async function stop(p: ServeProcess): Promise<void> {
  assert.equal(await p.stop(), 0, `exit code; stderr: ${p.stderr.join("\n")}`);
}

/** A record of a segment file, as the format in disk-segment.ts lays it out. */
interface SegRecord {
  readonly file: string;
  readonly offset: number;
  readonly end: number;
  readonly key: string;
  readonly meta: { start: number; ids: string; parent: string | null };
  readonly payloadOffset: number;
  readonly payloadLen: number;
}

const SEGMENT = /^seg-\d{6,}\.kv$/;

function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => SEGMENT.test(n)).sort();
}

/** Every whole record of the segment files, in order (a test's own reading: magic, lengths, no checksums). */
function records(dir: string): SegRecord[] {
  const out: SegRecord[] = [];
  for (const name of segments(dir)) {
    const file = path.join(dir, name);
    const buf = fs.readFileSync(file);
    let pos = 0;
    while (pos + 40 <= buf.length && buf.toString("latin1", pos, pos + 4) === "RLKV") {
      const keyLen = buf.readUInt32LE(pos + 16);
      const metaLen = buf.readUInt32LE(pos + 20);
      const payloadLen = buf.readUInt32LE(pos + 24);
      const payloadOffset = pos + 40 + keyLen + metaLen;
      const end = payloadOffset + payloadLen;
      if (end > buf.length) break;
      const key = buf.toString("utf8", pos + 40, pos + 40 + keyLen);
      const meta = JSON.parse(buf.toString("utf8", pos + 40 + keyLen, payloadOffset)) as SegRecord["meta"];
      out.push({ file, offset: pos, end, key, meta, payloadOffset, payloadLen });
      pos = end;
    }
  }
  return out;
}

/** The tokens of an item's own run. */
function itemIds(r: SegRecord): number[] {
  const b = Buffer.from(r.meta.ids, "base64");
  return Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(4 * i));
}

/** Serves `prompts` with a server of `model` on `dir`, each stored before the next, and stops it. */
async function storeRun(model: string, dir: string, prompts: number[][]): Promise<void> {
  const run = serve(model, [...POOL, "--cache-dir", dir, ...DISK]);
  const url = await run.ready;
  await serveStoring(url, model, prompts);
  await stop(run);
  assert.ok(records(dir).length > 0, "run 1 stored nothing");
}

test("a restart finds what the last run stored and loads it back: bitwise the reference's answers, the prefix counted as cached", { timeout: 90_000 }, async () => {
  const A = await modelPath();
  const dir = freshDir();
  const run1 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url1 = await run1.ready;
  assert.deepEqual(found(run1), { tokens: 0, items: 0, dropped: 0 }, "a fresh dir holds nothing from earlier runs");
  await serveStoring(url1, A, [prompt(P, 0), prompt(P, 1), prompt(Q, 2), prompt(Q, 3)]);
  await stop(run1);
  assert.deepEqual(cacheWarnings(run1), []);
  const stored = records(dir);
  assert.ok(stored.some((r) => r.meta.start === 0 && itemIds(r).slice(0, PREFIX).join() === P.join()), "P is stored from its start");

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  assert.ok(f.tokens >= 2 * PREFIX && f.items > 0 && f.dropped === 0, JSON.stringify(f));
  let t = await diskTier(url2);
  assert.equal(t.diskOnlyTokens, f.tokens, "what was found is on disk only");
  assert.equal(t.storeItems, f.items);
  assert.equal(t.loadedTokens, 0);

  const a = await askSame(url2, A, prompt(P, 4), "a new prompt on P");
  assert.ok(a.cached >= PREFIX, `cached ${a.cached} of P's ${PREFIX}`);
  t = await diskTier(url2);
  assert.ok(t.loadedTokens >= PREFIX, JSON.stringify(t));
  assert.equal(t.failedLoads, 0);
  const b = await askSame(url2, A, prompt(Q, 2), "a prompt of run 1 again");
  assert.ok(b.cached >= PREFIX, `cached ${b.cached} of Q's ${PREFIX}`);
  assert.deepEqual(cacheWarnings(run2), []);
  await stop(run2);
});

test("/flush_cache, SIGTERM, restart: the restart finds nothing", {
  timeout: 60_000,
}, async () => {
  const A = await modelPath();
  const dir = freshDir();
  const run1 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url1 = await run1.ready;
  await serveStoring(url1, A, [prompt(P, 0), prompt(Q, 1)]);
  const flushed = await post(`${url1}/flush_cache`, {});
  assert.equal(flushed.status, 200, JSON.stringify(flushed.body));
  const t = await diskTier(url1);
  assert.equal(t.storeItems, 0, JSON.stringify(t));
  assert.equal(t.diskOnlyTokens, 0);
  await stop(run1);

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  const a = await askSame(url2, A, prompt(P, 4), "P after the flush");
  await stop(run2);
  assert.deepEqual(f, { tokens: 0, items: 0, dropped: 0 }, "after /flush_cache a restart finds nothing");
  assert.equal(a.cached, 0);
});

test("a changed model file (touched, or another model) drops every item with one warning; answers are that model's", { timeout: 90_000 }, async () => {
  const A = await modelPath();
  const B = await testModel("warm-restart-llama-b", { arch: "llama", format: "gguf", dtype: "f32", seed: 4 });
  const copy = path.join(root, "model-copy.gguf");
  fs.copyFileSync(A, copy);
  const dir = freshDir();
  await storeRun(copy, dir, [prompt(P, 0), prompt(P, 1)]);
  const before = segments(dir);

  // The same bytes with another mtime: the fingerprint cannot tell it is the same model.
  const st = fs.statSync(copy);
  fs.utimesSync(copy, st.atime, new Date(st.mtimeMs + 60_000));
  const run2 = serve(copy, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  assert.deepEqual(found(run2), { tokens: 0, items: 0, dropped: 0 });
  let w = cacheWarnings(run2);
  assert.equal(w.length, 1, w.join("\n"));
  assert.match(w[0]!, /^radixlm: cache dir: disk store: \d+ item\(s\) \(\d+ bytes\) stored under another fingerprint/);
  for (const s of before) assert.ok(!fs.existsSync(path.join(dir, s)), `${s} of the old fingerprint is removed`);
  const a = await askSame(url2, A, prompt(P, 0), "touched model");
  assert.equal(a.cached, 0);
  assert.equal((await diskTier(url2)).loadedTokens, 0);
  await written(url2, 0);
  await stop(run2);

  const run3 = serve(B, [...POOL, "--cache-dir", dir, ...DISK]);
  const url3 = await run3.ready;
  assert.deepEqual(found(run3), { tokens: 0, items: 0, dropped: 0 });
  w = cacheWarnings(run3);
  assert.equal(w.length, 1, w.join("\n"));
  assert.match(w[0]!, /stored under another fingerprint/);
  const b = await askSame(url3, B, prompt(P, 0), "another model");
  assert.equal(b.cached, 0);
  await askSame(url3, B, prompt(P, 1), "another model, P again");
  assert.equal((await diskTier(url3)).loadedTokens, 0);
  await stop(run3);
});

test("a segment file cut short: one warning, the records before the cut still found and used", { timeout: 90_000 }, async () => {
  const A = await modelPath();
  const dir = freshDir();
  const prompts = [prompt(P, 0), prompt(P, 1), prompt(Q, 2)];
  await storeRun(A, dir, prompts);
  const recs = records(dir);
  const last = recs[recs.length - 1]!;
  assert.equal(fs.statSync(last.file).size, last.end);
  assert.ok(last.payloadLen > 100);
  fs.truncateSync(last.file, last.end - 100);
  const kept = new Set(recs.slice(0, -1).map((r) => r.key));

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  assert.ok(f.items > 0, JSON.stringify(f));
  assert.equal(f.items + f.dropped, kept.size, `${JSON.stringify(f)}: every whole record is found (or dropped without its parent)`);
  const w = cacheWarnings(run2);
  // the store cuts what is left of the partial record
  const cut = new RegExp(`^radixlm: cache dir: disk store: ${path.basename(last.file)}: ${last.end - 100 - last.offset} bytes of an unfinished record at the end truncated`);
  assert.equal(w.filter((l) => cut.test(l)).length, 1, w.join("\n"));
  // A cut parent leaves its children without a place: that is the one other line there may be.
  assert.equal(w.length, f.dropped > 0 ? 2 : 1, w.join("\n"));
  assert.equal(fs.statSync(last.file).size, last.offset, "the partial record is cut off");
  for (const [i, p] of [...prompts, prompt(P, 5)].entries()) await askSame(url2, A, p, `prompt ${i}`);
  const t = await diskTier(url2);
  assert.ok(t.loadedTokens > 0, JSON.stringify(t));
  assert.equal(t.failedLoads, 0);
  await stop(run2);
});

test("a flipped payload byte: the item fails its checksum at its load, is dropped with one warning and never used", { timeout: 90_000 }, async (t0) => {
  const A = await modelPath();
  const dir = freshDir();
  await storeRun(A, dir, [prompt(P, 0), prompt(P, 1)]);
  const target = records(dir).find((r) => r.meta.start === 0 && itemIds(r).slice(0, PREFIX).join() === P.join());
  assert.ok(target, "P's item");
  const fd = fs.openSync(target.file, "r+");
  const at = target.payloadOffset + Math.floor(target.payloadLen / 2);
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  byte[0] ^= 0x5a;
  fs.writeSync(fd, byte, 0, 1, at);
  fs.closeSync(fd);

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  assert.ok(f.items > 0 && f.dropped === 0, JSON.stringify(f));
  assert.deepEqual(cacheWarnings(run2), [], "a scan reads heads only: the payload is checked at its load");
  await askSame(url2, A, prompt(P, 5), "the first request on P");
  const checksum = (l: string): boolean => l.includes(`item ${target.key} in ${path.basename(target.file)}`) && l.includes("failed its checksum; dropped");
  let w = cacheWarnings(run2);
  assert.equal(w.filter(checksum).length, 1, w.join("\n"));
  assert.equal(w.length, 1, w.join("\n"));
  assert.equal((await diskTier(url2)).failedLoads, 1);
  await askSame(url2, A, prompt(P, 0), "P again");
  await askSame(url2, A, prompt(P, 6), "P once more");
  w = cacheWarnings(run2);
  assert.equal(w.length, 1, w.join("\n"));
  assert.equal((await diskTier(url2)).failedLoads, 1);
  await stop(run2);

  // Run 2 computed P again and stored it whole; the damaged item was dropped. A restart must
  // not find the damaged one again, and loads P from the good copy.
  await t0.test("the next restart finds the dropped item no more, and loads P from the copy run 2 stored", async () => {
    const run3 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
    try {
      const url3 = await run3.ready;
      const a = await askSame(url3, A, prompt(P, 7), "run 3, P");
      await askSame(url3, A, prompt(P, 0), "run 3, P again");
      const t = await diskTier(url3);
      assert.deepEqual(run3.stderr.filter(checksum), [], "the damaged item is found again");
      assert.equal(t.failedLoads, 0, JSON.stringify(t));
      assert.ok(a.cached >= PREFIX && t.loadedTokens >= PREFIX, JSON.stringify({ cached: a.cached, t }));
    } finally {
      await stop(run3);
    }
  });
});

test("kill -9 while the writer is busy: the restart starts, what it found is consistent and loads whole, answers are the reference's", { timeout: 90_000 }, async (t0) => {
  const A = await modelPath();
  const dir = freshDir();
  const prompts = Array.from({ length: 12 }, (_, k) => ids(20 + k, 250));
  const run1 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url1 = await run1.ready;
  const inflight = prompts.map((p) => ask(url1, p).catch(() => null));
  await written(url1, 0, 20_000);
  run1.kill("SIGKILL");
  assert.equal(await run1.exit, null);
  await Promise.all(inflight);

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  t0.diagnostic(`found after the kill: ${JSON.stringify(f)}; ${cacheWarnings(run2).length} warning(s)`);
  // A killed process loses at most its unfinished writes: a cut tail (and children of it).
  for (const l of cacheWarnings(run2)) assert.match(l, /unfinished record at the end truncated|without a place in the tree/);
  let t = await diskTier(url2);
  assert.equal(t.storeItems, f.items, JSON.stringify({ f, t }));
  assert.equal(t.diskOnlyTokens, f.tokens);
  for (const [i, p] of prompts.entries()) await askSame(url2, A, p, `prompt ${i}`);
  t = await diskTier(url2);
  assert.equal(t.failedLoads, 0, JSON.stringify(t));
  if (f.tokens > 0) assert.ok(t.loadedTokens > 0, JSON.stringify({ f, t }));
  await stop(run2);
});

test("stray files in the cache dir: a garbage segment is warned about and dropped, other files are left alone", { timeout: 90_000 }, async () => {
  const A = await modelPath();
  const dir = freshDir();
  fs.writeFileSync(path.join(dir, "notes.txt"), "not a segment\n");
  fs.writeFileSync(path.join(dir, "seg-12.kv"), "too few digits to be a segment");
  fs.mkdirSync(path.join(dir, "old"));
  const garbage = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) & 0xff));
  fs.writeFileSync(path.join(dir, "seg-000007.kv"), garbage);

  const run1 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url1 = await run1.ready;
  assert.deepEqual(found(run1), { tokens: 0, items: 0, dropped: 0 });
  const w = cacheWarnings(run1);
  assert.equal(w.length, 1, w.join("\n"));
  assert.match(w[0]!, /^radixlm: cache dir: disk store: seg-000007\.kv: /);
  await serveStoring(url1, A, [prompt(P, 0)]);
  await stop(run1);
  assert.equal(fs.readFileSync(path.join(dir, "notes.txt"), "utf8"), "not a segment\n");
  assert.ok(fs.existsSync(path.join(dir, "seg-12.kv")));
  assert.ok(fs.statSync(path.join(dir, "old")).isDirectory());

  const run2 = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const url2 = await run2.ready;
  const f = found(run2);
  assert.ok(f.tokens > 0 && f.dropped === 0, JSON.stringify(f));
  assert.deepEqual(cacheWarnings(run2), []);
  const a = await askSame(url2, A, prompt(P, 3), "P in a dir with strays");
  assert.ok(a.cached >= PREFIX, `cached ${a.cached}`);
  await stop(run2);
});

test("a directory named like a segment file in the cache dir: a warning or one error line, never a crash", { timeout: 60_000 }, async (t) => {
  const A = await modelPath();
  const dir = freshDir();
  fs.mkdirSync(path.join(dir, "seg-000002.kv"));
  const run = serve(A, [...POOL, "--cache-dir", dir, ...DISK]);
  const outcome = await Promise.race([run.ready.then(() => "ready"), run.exit.then(() => "exit")]);
  t.diagnostic(`${outcome}: ${run.stderr.join(" | ")}`);
  if (outcome === "ready") {
    await askSame(await run.ready, A, prompt(P, 0), "P");
    await stop(run);
  } else {
    assert.equal(await run.exit, 2);
    assert.equal(run.stderr.length, 1, run.stderr.join("\n"));
    assert.match(run.stderr[0]!, /^radixlm: /);
  }
});

/** Starts serve expecting it to refuse the cache dir: exit 2 and one line on stderr, no ready line. */
async function refused(model: string, cacheDir: string): Promise<string> {
  const run = serve(model, [...POOL, "--cache-dir", cacheDir]);
  const code = await run.exit;
  assert.equal(code, 2, `exit code; stdout: ${run.stdout.join("\n")}; stderr: ${run.stderr.join("\n")}`);
  assert.ok(!run.stdout.some((l) => l.includes("serving")), run.stdout.join("\n"));
  assert.equal(run.stderr.length, 1, run.stderr.join("\n"));
  return run.stderr[0]!;
}

test("a --cache-dir that is a file, or lies under one, stops the start with one line naming it", { timeout: 60_000 }, async () => {
  const A = await modelPath();
  const file = path.join(root, "a-file");
  fs.writeFileSync(file, "x");
  const line = await refused(A, file);
  assert.match(line, /^radixlm: /);
  assert.ok(line.includes(file), line);
  const under = path.join(file, "cache");
  const line2 = await refused(A, under);
  assert.ok(line2.includes(under), line2);
  assert.equal(fs.readFileSync(file, "utf8"), "x");
});

test("an unwritable --cache-dir stops the start with one line naming it", {
  timeout: 60_000, skip: process.getuid?.() === 0 ? "running as root, which permissions do not stop" : false,
}, async () => {
  const A = await modelPath();
  const dir = freshDir();
  fs.chmodSync(dir, 0o555);
  try {
    const line = await refused(A, path.join(dir, "cache"));
    assert.ok(line.includes(dir), line);
  } finally {
    fs.chmodSync(dir, 0o755);
  }
});
