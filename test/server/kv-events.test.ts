// KV events through a real server: HTTP subscribers (GET /kv_events) that rebuild the worker's
// stored blocks from the events alone while real requests run with eviction forced by a small
// KV pool, compared with the blocks computed from the radix tree itself and with
// /get_server_info; and the serve flags.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { KvEventHub } from "../../src/server/kv-events.js";
import { blockHashes } from "../../src/kvcache/block-hash.js";
import { get, modelPath, post, spawnServe, start, until, type Running } from "./harness.js";
import { AUTH, info, KEY, load, prompt, SseSubscriber, sum64, treeBlocks, zeromq } from "./kv-events-helpers.js";

const T = { timeout: 300_000 };

describe("GET /kv_events", () => {
  let hub: KvEventHub;
  let srv: Running;
  before(async () => {
    hub = await KvEventHub.create({ blockSize: 4, bufferBatches: 64 });
    srv = await start({ maxTotalTokens: 320, kvEvents: hub }, { kvEvents: hub, apiKey: KEY });
  });
  after(async () => {
    await srv?.close();
  });

  test("a subscriber rebuilds the worker's blocks from the events alone, under eviction, salts and a flush", T, async () => {
    const unauthorized = await fetch(`${srv.url}/kv_events`);
    assert.equal(unauthorized.status, 401);
    const sub = await SseSubscriber.open(srv.url);
    assert.equal(sub.status, 200);
    assert.ok(await until(() => sub.resyncs.length === 1));
    assert.equal(sub.resyncs[0], "no since given");
    await load(srv.url, 120, 12);
    assert.ok(srv.engine.stats().evictedTokens > 0, "the small pool forced eviction");
    assert.ok(await until(() => srv.engine.inflight === 0));
    const i = await info(srv.url);
    assert.equal(i.block_size, 4);
    assert.ok(await until(() => sub.lastSeq >= i.seq), `the subscriber reached seq ${i.seq}`);
    assert.ok(sub.removed > 0, "evictions were published");
    const tree = treeBlocks(hub);
    assert.ok(tree.size > 10);
    assert.deepEqual(sub.blocks, tree, "the rebuilt blocks are the radix tree's");
    assert.equal(i.stored_blocks, tree.size);
    assert.equal(i.stored_blocks_sum, sum64(tree));
    // a router computes the same hashes from a request's ids: the last prompt's blocks are there
    const last = prompt(7);
    await load(srv.url, 0, 1);
    const r = await post(`${srv.url}/generate`, { ...last, sampling_params: { max_new_tokens: 2, temperature: 0 } }, AUTH);
    assert.equal(r.status, 200);
    const j = await info(srv.url);
    assert.ok(await until(() => sub.lastSeq >= j.seq));
    for (const h of blockHashes(last.input_ids, 4, last.cache_salt ?? "")) assert.ok(sub.blocks.has(String(h)), `prompt block ${h} is stored`);
    // a flush clears them all
    assert.equal((await post(`${srv.url}/flush_cache`, {}, AUTH)).status, 200);
    const k = await info(srv.url);
    assert.ok(await until(() => sub.lastSeq >= k.seq));
    assert.deepEqual(sub.batches.at(-1)!.events, [{ type: "AllBlocksCleared" }]);
    assert.equal(sub.blocks.size, 0);
    assert.equal(k.stored_blocks, 0);
    sub.close();
    assert.ok(await until(() => hub.info().subscribers === 0), "a client that goes away is dropped");
  });

  test("since: replay from the buffer; a resync when it is too old, ahead, or from another instance; a bad since is a 400", T, async () => {
    const watcher = await SseSubscriber.open(srv.url);
    await load(srv.url, 30, 6);
    const i = await info(srv.url);
    assert.ok(await until(() => watcher.lastSeq >= i.seq));
    assert.ok(i.seq - i.oldest_seq >= 5, JSON.stringify(i));
    // replay: the batches after since, as the live subscriber saw them
    const since = i.seq - 5;
    const replay = await SseSubscriber.open(srv.url, `?since=${since}&instance=${i.instance}`);
    assert.ok(await until(() => replay.lastSeq === i.seq), `replayed ${JSON.stringify(replay.batches.map((b) => b.seq))}, want ${since + 1}..${i.seq}`);
    assert.deepEqual(replay.resyncs, []);
    assert.deepEqual(replay.batches, watcher.batches.filter((b) => b.seq > since));
    // Last-Event-ID works as since does
    const byHeader = await SseSubscriber.open(srv.url, "", { ...AUTH, "last-event-id": String(i.seq - 1) });
    assert.ok(await until(() => byHeader.lastSeq === i.seq));
    assert.deepEqual(byHeader.batches.map((b) => b.seq), [i.seq]);
    // resyncs: each rebuilds the same blocks from a snapshot
    const tree = treeBlocks(hub);
    for (const [query, reason] of [["?since=-1", "since is older than the replay buffer"], [`?since=${i.seq + 10}`, "since is ahead of this worker"],
      [`?since=${since}&instance=elsewhere`, "another instance of this worker"]] as const) {
      const s = await SseSubscriber.open(srv.url, query);
      assert.ok(await until(() => s.resyncs.length === 1), query);
      assert.equal(s.resyncs[0], reason);
      assert.ok(await until(() => s.blocks.size === tree.size), query);
      assert.deepEqual(s.blocks, tree, query);
      s.close();
    }
    for (const bad of ["abc", "-2", "1.5"]) {
      const r = await fetch(`${srv.url}/kv_events?since=${bad}`, { headers: AUTH });
      assert.equal(r.status, 400, bad);
      assert.equal(((await r.json()) as { error: { param: string } }).error.param, "since");
    }
    for (const s of [watcher, replay, byHeader]) s.close();
  });
});

test("a subscriber that stops reading is disconnected, never buffered without bound", T, async () => {
  const hub = await KvEventHub.create({ blockSize: 4, maxBacklog: 4 });
  const srv = await start({ maxTotalTokens: 256, kvEvents: hub }, { kvEvents: hub });
  try {
    const res = await fetch(`${srv.url}/kv_events`);
    assert.equal(res.status, 200);
    assert.ok(await until(() => hub.info().subscribers === 1));
    // Big batches straight into the hub: the socket fills, then the backlog passes 4.
    const tokenIds = Array.from({ length: 40_000 }, (_, i) => i % 200);
    for (let i = 0; i < 400 && hub.info().subscribers > 0; i++) {
      hub.publish([{ type: "BlockStored", blockHashes: [BigInt(i + 1)], parentBlockHash: null, tokenIds, blockSize: 40_000 }]);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(await until(() => hub.info().subscribers === 0), "the slow subscriber was dropped");
    await res.body?.cancel().catch(() => undefined);
    // without a hub the route says how to turn events on
    const off = await start({ maxTotalTokens: 256 });
    try {
      const r = await get(`${off.url}/kv_events`);
      assert.equal(r.status, 404);
      assert.match(r.body.error.message, /--kv-events/);
    } finally {
      await off.close();
    }
  } finally {
    await srv.close();
  }
});

test("radixlm serve: KV event flags are checked before the model loads", T, async () => {
  const bin = path.resolve(process.cwd(), "bin/radixlm.js");
  const model = await modelPath();
  for (const [args, message] of [
    [["--kv-events-replay-endpoint", "tcp://*:5558"], /--kv-events-replay-endpoint needs --kv-events-endpoint/],
    [["--kv-events-endpoint", "localhost:5557"], /--kv-events-endpoint must be a ZeroMQ address/],
    [["--kv-events", "--kv-events-block-size", "0"], /--kv-events-block-size must be an integer >= 1/],
  ] as const) {
    const r = spawnSync(process.execPath, [bin, "serve", "--model", model, "--port", "0", ...args], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
  // Without the optional package (resolution made to fail), the endpoint flag fails with one line.
  const hook = "data:text/javascript," + encodeURIComponent('export async function resolve(s, c, next) { if (s === "zeromq") throw new Error("Cannot find package \'zeromq\'"); return next(s, c); }');
  const register = "data:text/javascript," + encodeURIComponent(`import { register } from "node:module"; register(${JSON.stringify(hook)});`);
  const r = spawnSync(process.execPath, ["--import", register, bin, "serve", "--model", model, "--port", "0", "--kv-events-endpoint", "tcp://127.0.0.1:1"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim(), "radixlm: error: --kv-events-endpoint needs the optional package zeromq (npm install zeromq@6), which did not load: Cannot find package 'zeromq'");
});

test("radixlm serve --kv-events-endpoint: the sockets open, /get_server_info names them, SIGTERM exits 0", T, async (t) => {
  if (!(await zeromq())) {
    t.skip("the optional zeromq package is not installed");
    return;
  }
  const child = await spawnServe(["--kv-events-endpoint", "tcp://127.0.0.1:*", "--kv-events-replay-endpoint", "tcp://127.0.0.1:*", "--kv-events-topic", "kv@pod@m",
    "--kv-events-block-size", "8", "--kv-events-hash-seed", "42"]);
  try {
    const r = await get(`${child.url}/get_server_info`);
    assert.equal(r.status, 200);
    const kv = r.body.kv_events;
    assert.equal(kv.block_size, 8);
    assert.equal(kv.hash_seed, "42");
    assert.match(kv.zmq.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(kv.zmq.replay_endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(kv.zmq.topic, "kv@pod@m");
    // the warm-up's flush was published: AllBlocksCleared is batch 0
    assert.equal(kv.seq, 0);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await child.exit, 0);
});
