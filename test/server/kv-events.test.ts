// KV events through a real server: subscribers that rebuild the worker's stored blocks from
// the events alone (GET /kv_events, and ZeroMQ in vLLM's wire format) while real requests
// run with eviction forced by a small KV pool, compared with the blocks computed from the
// radix tree itself and with /get_server_info.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { decode } from "@msgpack/msgpack";
import { KvEventHub } from "../../src/server/kv-events.js";
import { blockHashes } from "../../src/kvcache/block-hash.js";
import { get, modelPath, post, start, until, type Running } from "./harness.js";

const T = { timeout: 300_000 };
const KEY = "kv-secret";
const AUTH = { authorization: `Bearer ${KEY}` };

type Json = Record<string, unknown>;

/** Rebuilds a worker's stored blocks from its GET /kv_events stream alone. */
class SseSubscriber {
  readonly blocks = new Set<string>();
  readonly batches: { seq: number; events: Json[] }[] = [];
  lastSeq = -2;
  resyncs: string[] = [];
  removed = 0;
  ended = false;
  /** An assertion that failed while reading (the read loop cannot throw into the test). */
  failure: unknown = undefined;
  /** Whether it holds the whole state (it began with a resync or batch 0), so that every event must fit it. */
  private complete = false;

  private constructor(private readonly res: Response, private readonly abort: AbortController) {}

  static async open(url: string, query = "", headers: Record<string, string> = AUTH): Promise<SseSubscriber> {
    const ctl = new AbortController();
    const res = await fetch(`${url}/kv_events${query}`, { headers, signal: ctl.signal });
    const s = new SseSubscriber(res, ctl);
    if (res.status === 200) void s.read();
    return s;
  }

  get status(): number {
    return this.res.status;
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of this.res.body!) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block.split("\n").find((l) => l.startsWith("data: "));
          if (!data) continue; // a keepalive comment
          const id = block.split("\n").find((l) => l.startsWith("id: "));
          const msg = JSON.parse(data.slice(6)) as { seq: number; ts: number; events: Json[] };
          assert.equal(id, `id: ${msg.seq}`);
          this.apply(msg);
        }
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.failure = err;
    }
    this.ended = true;
  }

  private apply(msg: { seq: number; events: Json[] }): void {
    const first = msg.events[0];
    if (first?.type === "Resync") {
      this.blocks.clear();
      this.resyncs.push(first.reason as string);
      this.complete = true;
    } else if (msg.seq === this.lastSeq && this.batches.at(-1)?.seq === msg.seq) {
      // a resync's later chunk
    } else if (this.lastSeq !== -2) {
      assert.equal(msg.seq, this.lastSeq + 1, "batches come in order, none missing");
    }
    if (msg.seq === 0) this.complete = true;
    this.lastSeq = msg.seq;
    this.batches.push(msg);
    for (const e of msg.events) {
      if (e.type === "BlockStored") {
        const hashes = e.block_hashes as string[];
        assert.equal((e.token_ids as number[]).length, hashes.length * (e.block_size as number));
        if (e.parent_block_hash !== null && this.complete) assert.ok(this.blocks.has(e.parent_block_hash as string), "a run's parent is stored before it");
        for (const h of hashes) {
          assert.match(h, /^\d+$/);
          if (this.complete) assert.ok(!this.blocks.has(h), `block ${h} stored twice`);
          this.blocks.add(h);
        }
      } else if (e.type === "BlockRemoved") {
        for (const h of e.block_hashes as string[]) assert.ok(this.blocks.delete(h) || !this.complete, `block ${h} removed but not stored`);
        this.removed++;
      } else if (e.type === "AllBlocksCleared") this.blocks.clear();
    }
  }

  close(): void {
    assert.equal(this.failure, undefined);
    this.abort.abort();
  }
}

const sum64 = (hashes: Iterable<string | bigint>): string => {
  let s = 0n;
  for (const h of hashes) s = (s + BigInt(h)) & ((1n << 64n) - 1n);
  return s.toString();
};

function treeBlocks(hub: KvEventHub): Set<string> {
  return new Set(hub.snapshot().flatMap((r) => r.blockHashes.map(String)));
}

/** Prompts in groups sharing long prefixes, some under a cache salt; ids within the test vocabulary. */
function prompt(i: number): { input_ids: number[]; cache_salt?: string } {
  const group = i % 5;
  const ids = [...Array.from({ length: 24 }, (_, j) => 1 + ((group * 37 + j) % 200)), ...Array.from({ length: 3 + ((i * 7) % 40) }, (_, j) => 1 + ((i * 13 + j) % 200))];
  return group === 4 ? { input_ids: ids, cache_salt: `tenant-${i % 2}` } : { input_ids: ids };
}

async function load(url: string, count: number, wave: number): Promise<void> {
  for (let i = 0; i < count; i += wave) {
    const sends = Array.from({ length: Math.min(wave, count - i) }, (_, k) =>
      post(`${url}/generate`, { ...prompt(i + k), sampling_params: { max_new_tokens: 3, temperature: 0 } }, AUTH));
    for (const r of await Promise.all(sends)) assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

async function info(url: string): Promise<{ seq: number; stored_blocks: number; stored_blocks_sum: string; block_size: number; instance: string; oldest_seq: number; subscribers: number; zmq: Json | null }> {
  const r = await get(`${url}/get_server_info`, AUTH);
  assert.equal(r.status, 200);
  return r.body.kv_events;
}

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

/** The part of zeromq's API the test uses: the package is optional, so its types may be absent. */
interface ZmqSocket extends AsyncIterable<Buffer[]> {
  bind(address: string): Promise<void>;
  connect(address: string): void;
  subscribe(...topics: string[]): void;
  send(frames: (Buffer | string)[]): Promise<void>;
  receive(): Promise<Buffer[]>;
  close(): void;
  readonly lastEndpoint: string | null;
}
interface Zmq {
  Subscriber: new (options: { linger: number }) => ZmqSocket;
  Dealer: new (options: { linger: number }) => ZmqSocket;
}

/** zeromq when its optional package is installed, else null. */
async function zeromq(): Promise<Zmq | null> {
  const name: string = "zeromq";
  try {
    return (await import(name)) as Zmq;
  } catch {
    return null;
  }
}

test("ZeroMQ in vLLM's wire format: a SUB socket rebuilds the blocks, the ROUTER replays a missed range", T, async (t) => {
  const zmq = await zeromq();
  if (!zmq) {
    t.skip("the optional zeromq package is not installed: the ZeroMQ publisher is untested here");
    return;
  }
  // llm-d's indexer binds its SUB socket; the engine's PUB connects to it.
  const sub = new zmq.Subscriber({ linger: 0 });
  await sub.bind("tcp://127.0.0.1:*");
  sub.subscribe("kv@");
  const topic = "kv@pod-1@tiny-test";
  const hub = await KvEventHub.create({ blockSize: 4, zmq: { endpoint: sub.lastEndpoint!, replayEndpoint: "tcp://127.0.0.1:*", topic } });
  const srv = await start({ maxTotalTokens: 320, kvEvents: hub }, { kvEvents: hub, apiKey: KEY });
  const blocks = new Set<bigint>();
  const seen: number[] = [];
  const payloads = new Map<number, Buffer>();
  let shapes = 0;
  const applyPayload = (seq: number, payload: Buffer): void => {
    payloads.set(seq, payload);
    seen.push(seq);
    // EventBatch: a 3-element array whose ts is a float64 (0xcb), as msgspec writes it
    assert.equal(payload[0], 0x93);
    assert.equal(payload[1], 0xcb);
    const batch = decode(payload, { useBigInt64: true }) as unknown[];
    assert.equal(batch.length, 3);
    const [ts, events, rank] = batch as [number, unknown[][], number];
    assert.ok(Math.abs(ts - Date.now() / 1000) < 60, "ts is seconds since the epoch");
    assert.equal(rank, 0, "data_parallel_rank");
    for (const e of events) {
      const tag = e[0];
      if (tag === "BlockStored") {
        assert.equal(e.length, 8, "[tag, block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name]");
        const [, hashes, parent, tokens, size, lora, medium, loraName] = e as [string, bigint[], bigint | null, number[], number, null, string, null];
        assert.ok(hashes.length > 0 && hashes.every((h) => typeof h === "bigint"), "hashes are uint64");
        assert.ok(parent === null || typeof parent === "bigint");
        if (parent !== null) assert.ok(blocks.has(parent), "the parent is stored");
        assert.equal(size, 4);
        assert.equal(tokens.length, 4 * hashes.length);
        assert.ok(tokens.every((x) => Number.isInteger(x)));
        assert.equal(lora, null);
        assert.equal(medium, "GPU");
        assert.equal(loraName, null);
        for (const h of hashes) blocks.add(h);
        shapes++;
      } else if (tag === "BlockRemoved") {
        assert.equal(e.length, 3, "[tag, block_hashes, medium]");
        assert.equal(e[2], "GPU");
        for (const h of e[1] as bigint[]) assert.ok(blocks.delete(h));
      } else {
        assert.deepEqual(e, ["AllBlocksCleared"]);
        blocks.clear();
      }
    }
  };
  let subscribed = true;
  const reading = (async () => {
    for await (const [top, seqb, payload] of sub) {
      if (!subscribed) continue;
      assert.equal(top!.toString(), topic);
      assert.equal(seqb!.length, 8);
      applyPayload(Number(seqb!.readBigUInt64BE(0)), payload!);
    }
  })().catch(() => undefined);
  /** Asks the ROUTER for every batch from `from` on; returns [seq, payload] until the end marker. */
  const replay = async (from: number): Promise<[number, Buffer][]> => {
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(hub.info().zmq!.replay_endpoint as string);
    const start8 = Buffer.alloc(8);
    start8.writeBigUInt64BE(BigInt(from));
    await dealer.send(["", start8]);
    const out: [number, Buffer][] = [];
    for (;;) {
      const [empty, seqb, payload] = await dealer.receive();
      assert.equal(empty!.length, 0);
      if (seqb!.readBigInt64BE(0) === -1n) break;
      out.push([Number(seqb!.readBigUInt64BE(0)), payload!]);
    }
    dealer.close();
    return out;
  };
  try {
    // The SUB may miss the first batches while the connection comes up (ZeroMQ's slow
    // joiner): what it missed is replayed, as a subscriber that sees a gap does.
    await load(srv.url, 40, 8);
    let i = await info(srv.url);
    assert.ok(await until(() => seen.length > 0 && seen.at(-1)! >= i.seq, 10_000), "the SUB socket gets the batches");
    if (seen[0]! > 0) {
      const missed = await replay(0);
      const have = new Set(seen);
      const early = missed.filter(([s]) => !have.has(s) && s < seen[0]!);
      blocks.clear();
      const all = [...early.map(([s, p]) => [s, p] as const), ...seen.map((s) => [s, payloads.get(s)!] as const)].sort((a, b) => a[0] - b[0]);
      seen.length = 0;
      for (const [s, p] of all) applyPayload(s, p);
    }
    assert.deepEqual(seen, Array.from({ length: i.seq + 1 }, (_, k) => k), "every batch from 0, in order");
    assert.ok(shapes > 0);
    let tree = new Set(hub.snapshot().flatMap((r) => r.blockHashes));
    assert.deepEqual(blocks, tree);
    assert.equal(i.stored_blocks, tree.size);
    assert.equal(i.stored_blocks_sum, sum64(tree));
    // miss a range on purpose, then ask the ROUTER for it
    subscribed = false;
    const lastSeen = seen.at(-1)!;
    await load(srv.url, 40, 8);
    assert.ok(srv.engine.stats().evictedTokens > 0);
    i = await info(srv.url);
    assert.ok(i.seq > lastSeen + 1);
    const missed = await replay(lastSeen + 1);
    assert.deepEqual(missed.map(([s]) => s), Array.from({ length: i.seq - lastSeen }, (_, k) => lastSeen + 1 + k), "the missed range, in order, then the end marker");
    for (const [s, p] of missed) applyPayload(s, p);
    tree = new Set(hub.snapshot().flatMap((r) => r.blockHashes));
    assert.deepEqual(blocks, tree, "the blocks rebuilt over ZeroMQ are the radix tree's");
    assert.equal(i.stored_blocks, tree.size);
    assert.deepEqual(i.zmq, { endpoint: sub.lastEndpoint, replay_endpoint: hub.info().zmq!.replay_endpoint, topic });
  } finally {
    await srv.close();
    sub.close();
    await reading;
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
});
