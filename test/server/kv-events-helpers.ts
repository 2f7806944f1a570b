// Shared by the KV-event server tests: a GET /kv_events subscriber that rebuilds a worker's
// stored blocks from the events alone, the load they run, and the optional zeromq package.
import assert from "node:assert/strict";
import type { KvEventHub } from "../../src/server/kv-events.js";
import { get, post } from "./harness.js";

export const KEY = "kv-secret";
export const AUTH = { authorization: `Bearer ${KEY}` };

export type Json = Record<string, unknown>;

/** Rebuilds a worker's stored blocks from its GET /kv_events stream alone. */
export class SseSubscriber {
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

export const sum64 = (hashes: Iterable<string | bigint>): string => {
  let s = 0n;
  for (const h of hashes) s = (s + BigInt(h)) & ((1n << 64n) - 1n);
  return s.toString();
};

export function treeBlocks(hub: KvEventHub): Set<string> {
  return new Set(hub.snapshot().flatMap((r) => r.blockHashes.map(String)));
}

/** Prompts in groups sharing long prefixes, some under a cache salt; ids within the test vocabulary. */
export function prompt(i: number): { input_ids: number[]; cache_salt?: string } {
  const group = i % 5;
  const ids = [...Array.from({ length: 24 }, (_, j) => 1 + ((group * 37 + j) % 200)), ...Array.from({ length: 3 + ((i * 7) % 40) }, (_, j) => 1 + ((i * 13 + j) % 200))];
  return group === 4 ? { input_ids: ids, cache_salt: `tenant-${i % 2}` } : { input_ids: ids };
}

export async function load(url: string, count: number, wave: number): Promise<void> {
  for (let i = 0; i < count; i += wave) {
    const sends = Array.from({ length: Math.min(wave, count - i) }, (_, k) =>
      post(`${url}/generate`, { ...prompt(i + k), sampling_params: { max_new_tokens: 3, temperature: 0 } }, AUTH));
    for (const r of await Promise.all(sends)) assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

export async function info(url: string): Promise<{ seq: number; stored_blocks: number; stored_blocks_sum: string; block_size: number; instance: string; oldest_seq: number; subscribers: number; zmq: Json | null }> {
  const r = await get(`${url}/get_server_info`, AUTH);
  assert.equal(r.status, 200);
  return r.body.kv_events;
}

/** The part of zeromq's API the test uses: the package is optional, so its types may be absent. */
export interface ZmqSocket extends AsyncIterable<Buffer[]> {
  bind(address: string): Promise<void>;
  connect(address: string): void;
  subscribe(...topics: string[]): void;
  send(frames: (Buffer | string)[]): Promise<void>;
  receive(): Promise<Buffer[]>;
  close(): void;
  readonly lastEndpoint: string | null;
}
export interface Zmq {
  Subscriber: new (options: { linger: number }) => ZmqSocket;
  Dealer: new (options: { linger: number }) => ZmqSocket;
}

/** zeromq when its optional package is installed, else null. */
export async function zeromq(): Promise<Zmq | null> {
  const name: string = "zeromq";
  try {
    return (await import(name)) as Zmq;
  } catch {
    return null;
  }
}
