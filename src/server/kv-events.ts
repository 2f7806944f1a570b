// The worker's KV events: the hub that numbers the engine's event batches, keeps the last
// ones for replay, and hands them to ZeroMQ subscribers (kv-events-zmq.ts, vLLM's wire
// format, for llm-d) and to HTTP subscribers of GET /kv_events (for radixlm's router).
//
// GET /kv_events?since=SEQ[&instance=ID] is a server-sent-events stream, one message per batch:
//
//   id: 12
//   data: {"seq":12,"ts":1733243043.51,"events":[
//     {"type":"BlockStored","block_hashes":["1234...",...],"parent_block_hash":"987..."|null,
//      "token_ids":[...],"block_size":16,"lora_id":null,"medium":"GPU"},
//     {"type":"BlockRemoved","block_hashes":["..."],"medium":"GPU"},
//     {"type":"AllBlocksCleared"}]}
//
// Hashes are u64 as decimal strings (JSON numbers cannot hold them). Batches after `since` are
// replayed from the buffer first, then live ones follow. When the buffer no longer reaches
// back to `since`, or `since` is absent, ahead of this worker, or from another instance (the
// worker restarted), the stream starts with a resync instead: messages numbered with the last
// published seq whose first event is {"type":"Resync","instance":ID,"reason":"..."} and
// whose events then store every block the worker holds; a subscriber drops what it had and
// applies them. A subscriber that falls too far behind is disconnected; it reconnects with
// the last seq it applied. ": keepalive" comments go out every 15 s.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { BlockStored, KvEvent, KvEventBatch, KvEventSink, KvEventSource } from "../kvcache/kv-events.js";
import { ApiError, badRequest } from "./errors.js";
import { encodeEventBatch, ZmqEventPublisher, type ZmqConfig } from "./kv-events-zmq.js";
import { openEventStream } from "./sse.js";

export interface KvEventHubOptions {
  /** Tokens per block (default 16, vLLM's). */
  readonly blockSize?: number;
  /** The seed of every block chain (vLLM's PYTHONHASHSEED, llm-d's hashSeed); default "". */
  readonly hashSeed?: string;
  /** Batches kept for replay (vLLM's buffer_steps); default 10,000. */
  readonly bufferBatches?: number;
  /** Live batches an HTTP subscriber may have waiting before it is disconnected; default 1,000. */
  readonly maxBacklog?: number;
  /** Publish over ZeroMQ too. */
  readonly zmq?: ZmqConfig;
  readonly warn?: (line: string) => void;
}

/** What /get_server_info says under `kv_events`. */
export interface KvEventsInfo {
  readonly block_size: number;
  readonly hash_seed: string;
  /** Changes when the worker restarts: a subscriber's seq from another instance means nothing here. */
  readonly instance: string;
  /** The last batch published (-1: none yet); the counts below are as of it. */
  readonly seq: number;
  /** The oldest batch still buffered for replay. */
  readonly oldest_seq: number;
  /** Blocks stored as the published events tell it, and the sum of their hashes mod 2^64 (decimal). */
  readonly stored_blocks: number;
  readonly stored_blocks_sum: string;
  readonly subscribers: number;
  readonly zmq: { readonly endpoint: string; readonly replay_endpoint: string | null; readonly topic: string } | null;
}

interface Entry extends KvEventBatch {
  json?: string;
  payload?: Uint8Array;
}

const U64 = (1n << 64n) - 1n;
const KEEPALIVE_MS = 15_000;
/** BlockStored runs per resync message, so that no message is huge. */
const RESYNC_CHUNK = 256;

/** An event as the HTTP stream writes it (vLLM's field names). */
function eventJson(e: KvEvent): Record<string, unknown> {
  switch (e.type) {
    case "BlockStored":
      return {
        type: e.type, block_hashes: e.blockHashes.map(String), parent_block_hash: e.parentBlockHash === null ? null : String(e.parentBlockHash),
        token_ids: e.tokenIds, block_size: e.blockSize, lora_id: null, medium: "GPU",
      };
    case "BlockRemoved":
      return { type: e.type, block_hashes: e.blockHashes.map(String), medium: "GPU" };
    case "AllBlocksCleared":
      return { type: e.type };
  }
}

function message(seq: number, ts: number, events: readonly Record<string, unknown>[]): string {
  return `id: ${seq}\ndata: ${JSON.stringify({ seq, ts, events })}\n\n`;
}

/** One HTTP subscriber: writes in order, queues while the socket is full, and is dropped when it queues too much. */
class Subscriber {
  private readonly res: ServerResponse;
  private readonly queue: { text: string; live: boolean }[] = [];
  private liveQueued = 0;
  private blocked = false;
  closed = false;

  constructor(reply: FastifyReply, private readonly maxBacklog: number, private readonly gone: (s: Subscriber) => void) {
    this.res = openEventStream(reply);
    this.res.on("close", () => this.close());
  }

  send(text: string, live: boolean): void {
    if (this.closed || this.res.destroyed) return;
    if (this.blocked) {
      if (live && ++this.liveQueued > this.maxBacklog) {
        // Never buffered without bound: the subscriber reconnects with its last seq.
        this.res.destroy();
        this.close();
        return;
      }
      this.queue.push({ text, live });
      return;
    }
    if (!this.res.write(text)) {
      this.blocked = true;
      this.res.once("drain", () => this.drain());
    }
  }

  private drain(): void {
    this.blocked = false;
    while (!this.blocked && !this.closed && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (next.live) this.liveQueued--;
      this.send(next.text, false);
    }
  }

  keepalive(): void {
    if (!this.blocked) this.send(": keepalive\n\n", false);
  }

  end(): void {
    if (!this.closed) this.res.end();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.gone(this);
  }
}

export class KvEventHub implements KvEventSink {
  readonly blockSize: number;
  readonly hashSeed: string;
  readonly instance = randomBytes(8).toString("hex");
  private readonly capacity: number;
  private readonly maxBacklog: number;
  /** Buffered batches, a ring: `count` of them ending at `lastSeq`. */
  private readonly ring: (Entry | undefined)[];
  private count = 0;
  private lastSeq = -1;
  private storedCount = 0;
  private storedSum = 0n;
  private source: KvEventSource | null = null;
  private readonly subscribers = new Set<Subscriber>();
  private zmq: ZmqEventPublisher | null = null;
  private readonly topic: string;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  private constructor(opts: KvEventHubOptions) {
    this.blockSize = opts.blockSize ?? 16;
    this.hashSeed = opts.hashSeed ?? "";
    this.capacity = opts.bufferBatches ?? 10_000;
    this.maxBacklog = opts.maxBacklog ?? 1000;
    this.topic = opts.zmq?.topic ?? "";
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1) throw new RangeError(`KV events: block size must be a positive integer, got ${this.blockSize}`);
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`KV events: buffer must hold at least one batch, got ${this.capacity}`);
    this.ring = new Array<Entry | undefined>(this.capacity);
    this.ticker = setInterval(() => {
      for (const s of this.subscribers) s.keepalive();
    }, KEEPALIVE_MS);
    this.ticker.unref();
  }

  /** A hub; with `zmq`, its sockets are open (or this rejects with one line saying why). */
  static async create(opts: KvEventHubOptions = {}): Promise<KvEventHub> {
    const hub = new KvEventHub(opts);
    const warn = opts.warn ?? ((line: string) => process.stderr.write(line + "\n"));
    if (opts.zmq) {
      try {
        hub.zmq = await ZmqEventPublisher.open(opts.zmq, () => hub.payloads(), warn);
      } catch (err) {
        clearInterval(hub.ticker);
        throw err;
      }
    }
    return hub;
  }

  attach(source: KvEventSource): void {
    this.source = source;
  }

  publish(events: readonly KvEvent[]): void {
    const entry: Entry = { seq: ++this.lastSeq, ts: Date.now() / 1000, events };
    this.ring[entry.seq % this.capacity] = entry;
    this.count = Math.min(this.count + 1, this.capacity);
    for (const e of events) {
      if (e.type === "AllBlocksCleared") {
        this.storedCount = 0;
        this.storedSum = 0n;
        continue;
      }
      const sign = e.type === "BlockStored" ? 1 : -1;
      this.storedCount += sign * e.blockHashes.length;
      for (const h of e.blockHashes) this.storedSum = (this.storedSum + BigInt(sign) * h) & U64;
    }
    if (this.closed) return;
    if (this.zmq) this.zmq.publish(entry.seq, this.payload(entry));
    if (this.subscribers.size > 0) {
      const text = this.json(entry);
      for (const s of this.subscribers) s.send(text, true);
    }
  }

  private get oldestSeq(): number {
    return this.lastSeq - this.count + 1;
  }

  /** Buffered batches after `since`, oldest first. */
  private *after(since: number): Generator<Entry> {
    for (let seq = Math.max(since + 1, this.oldestSeq); seq <= this.lastSeq; seq++) yield this.ring[seq % this.capacity]!;
  }

  private json(e: Entry): string {
    e.json ??= message(e.seq, e.ts, e.events.map(eventJson));
    return e.json;
  }

  private payload(e: Entry): Uint8Array {
    e.payload ??= encodeEventBatch(e);
    return e.payload;
  }

  private *payloads(): Generator<{ seq: number; payload: Uint8Array }> {
    for (const e of this.after(-1)) yield { seq: e.seq, payload: this.payload(e) };
  }

  /**
   * Streams batches to an HTTP subscriber: those after `since` from the buffer when it reaches
   * back that far, else a resync (a snapshot of every stored block); then live ones.
   */
  subscribe(reply: FastifyReply, since: number | null, instance: string | null): void {
    // What is pending joins the buffer first, so that replay or snapshot and live batches meet.
    this.source?.flush();
    const sub = new Subscriber(reply, this.maxBacklog, (s) => this.subscribers.delete(s));
    if (this.closed) {
      sub.end();
      return;
    }
    const why = since === null ? "no since given"
      : instance !== null && instance !== this.instance ? "another instance of this worker"
      : since > this.lastSeq ? "since is ahead of this worker"
      : since < this.oldestSeq - 1 ? "since is older than the replay buffer"
      : null;
    if (why === null) for (const e of this.after(since!)) sub.send(this.json(e), false);
    else this.resync(sub, why);
    if (!sub.closed) this.subscribers.add(sub);
  }

  private resync(sub: Subscriber, reason: string): void {
    const runs: BlockStored[] = this.source?.snapshot() ?? [];
    const ts = Date.now() / 1000;
    const head = { type: "Resync", instance: this.instance, reason };
    for (let i = 0; i === 0 || i < runs.length; i += RESYNC_CHUNK) {
      const events = runs.slice(i, i + RESYNC_CHUNK).map(eventJson);
      sub.send(message(this.lastSeq, ts, i === 0 ? [head, ...events] : events), false);
    }
  }

  /** Every block the tree holds now, computed from the tree (not from the events): tests and checks. */
  snapshot(): BlockStored[] {
    this.source?.flush();
    return this.source?.snapshot() ?? [];
  }

  info(): KvEventsInfo {
    this.source?.flush();
    return {
      block_size: this.blockSize, hash_seed: this.hashSeed, instance: this.instance, seq: this.lastSeq, oldest_seq: this.oldestSeq,
      stored_blocks: this.storedCount, stored_blocks_sum: this.storedSum.toString(), subscribers: this.subscribers.size,
      zmq: this.zmq ? { endpoint: this.zmq.endpoint ?? "", replay_endpoint: this.zmq.replayEndpoint, topic: this.topic } : null,
    };
  }

  /** Ends every stream and closes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.source?.flush();
    this.closed = true;
    clearInterval(this.ticker);
    for (const s of [...this.subscribers]) s.end();
    await this.zmq?.close();
  }
}

/** `since` from the query (or a reconnecting EventSource's Last-Event-ID): an integer >= -1, or null. */
function parseSince(v: unknown): number | null {
  if (v === undefined) return null;
  if (typeof v !== "string" || !/^-?\d{1,16}$/.test(v) || Number(v) < -1) throw badRequest("since", "'since' must be the seq of the last batch applied (an integer >= -1).");
  return Number(v);
}

/** GET /kv_events; a 404 that says how to turn them on when the server has no hub. */
export function registerKvEvents(app: FastifyInstance, hub: KvEventHub | undefined): void {
  app.get("/kv_events", async (req, reply) => {
    if (!hub) throw new ApiError(404, "KV events are off: start the server with --kv-events (or --kv-events-endpoint).", "not_found_error");
    const q = req.query as Record<string, unknown>;
    const since = parseSince(q.since ?? req.headers["last-event-id"]);
    hub.subscribe(reply, since, typeof q.instance === "string" ? q.instance : null);
  });
  if (hub) app.addHook("preClose", async () => hub.close());
}
