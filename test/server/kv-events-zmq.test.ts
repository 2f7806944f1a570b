// KV events over ZeroMQ in vLLM's wire format, through a real server: a SUB socket bound as
// llm-d's indexer binds it rebuilds the worker's blocks from the msgpack batches alone, each
// checked field by field against vLLM's shape, and the ROUTER socket replays a missed range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { KvEventHub } from "../../src/server/kv-events.js";
import { start, until } from "./harness.js";
import { info, KEY, load, sum64, zeromq } from "./kv-events-helpers.js";

const T = { timeout: 300_000 };

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
