// KV events over ZeroMQ in vLLM's wire format (vllm/distributed/kv_events.py,
// ZmqEventPublisher), which llm-d's KV-cache indexer subscribes to (llm-d-kv-cache,
// pkg/kvcache/kvevents):
//
//   PUB socket, one multipart message per batch: [topic, seq as 8 bytes big-endian, payload]
//   payload: msgpack of msgspec's array_like tagged structs, fields in declaration order,
//     EventBatch       [ts (float64 seconds), [event, ...], data_parallel_rank (0)]
//     BlockStored      ["BlockStored", [hash u64, ...], parent u64 | nil, [token, ...],
//                       block_size, lora_id nil, medium "GPU", lora_name nil]
//     BlockRemoved     ["BlockRemoved", [hash u64, ...], medium "GPU"]
//     AllBlocksCleared ["AllBlocksCleared"]
//   ROUTER replay socket: a request [identity, "", start seq (8 bytes big-endian)] is answered
//     with [identity, "", seq, payload] for every buffered batch from that seq on, then
//     [identity, "", -1 as 8 bytes, ""]
//
// The PUB socket binds when the endpoint has a wildcard (`tcp://*:5557`) or is ipc/inproc,
// else connects, as vLLM decides: llm-d's indexer binds and the engines connect to it.
// Fields vLLM leaves at their defaults (extra_keys, group_idx, ...) are omitted as msgspec's
// omit_defaults omits them. "GPU" names the engine's own KV pool, the tier llm-d scores first.
// zeromq is an optional dependency, loaded only when an endpoint is given.
import { encode } from "@msgpack/msgpack";
import type { KvEvent, KvEventBatch } from "../kvcache/kv-events.js";

/** What of zeromq's v6 API this file uses, so that it compiles where the optional package is absent. */
interface ZmqSocket {
  bind(address: string): Promise<void>;
  connect(address: string): void;
  send(frames: readonly (Buffer | Uint8Array | string)[]): Promise<void>;
  receive(): Promise<Buffer[]>;
  close(): void;
  readonly lastEndpoint: string | null;
}
interface ZmqModule {
  Publisher: new (options: { sendHighWaterMark: number; linger: number }) => ZmqSocket;
  Router: new (options: { linger: number }) => ZmqSocket;
}

export interface ZmqConfig {
  /** PUB address: `tcp://*:5557` binds, `tcp://host:5557` connects. */
  readonly endpoint: string;
  /** ROUTER address for replay requests (always bound); none: no replay. */
  readonly replayEndpoint?: string;
  /** The first frame of every message (llm-d reads `kv@<pod>@<model>`). */
  readonly topic: string;
}

const MEDIUM = "GPU";
const END_SEQ = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** One event as msgspec encodes vLLM's tagged array_like struct. */
function packEvent(e: KvEvent): unknown[] {
  switch (e.type) {
    case "BlockStored":
      return ["BlockStored", [...e.blockHashes], e.parentBlockHash, [...e.tokenIds], e.blockSize, null, MEDIUM, null];
    case "BlockRemoved":
      return ["BlockRemoved", [...e.blockHashes], MEDIUM];
    case "AllBlocksCleared":
      return ["AllBlocksCleared"];
  }
}

/** The msgpack payload of a batch, byte for byte as vLLM's publisher writes it. */
export function encodeEventBatch(batch: KvEventBatch): Uint8Array {
  // msgspec writes a float as float64 always; @msgpack/msgpack writes an integral number as
  // an int, so a whole-second timestamp is nudged off the integer.
  const ts = Number.isInteger(batch.ts) ? batch.ts + 1e-6 : batch.ts;
  // Hashes are bigints, written as uint64 (0xcf).
  return encode([ts, batch.events.map(packEvent), 0], { useBigInt64: true });
}

function seqBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

/** Loads the optional zeromq package; throws one clear line when it is missing. */
async function loadZmq(): Promise<ZmqModule> {
  // A specifier TypeScript does not resolve: the package may be absent where this compiles.
  const name: string = "zeromq";
  try {
    return (await import(name)) as ZmqModule;
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new Error(`--kv-events-endpoint needs the optional package zeromq (npm install zeromq@6), which did not load: ${why}`);
  }
}

/** Binds or connects as vLLM's publisher does. */
function bindsItself(endpoint: string): boolean {
  return endpoint.includes("*") || endpoint.includes("::") || endpoint.startsWith("ipc://") || endpoint.startsWith("inproc://");
}

export class ZmqEventPublisher {
  private pubChain: Promise<void> = Promise.resolve();
  private replyChain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly pub: ZmqSocket,
    private readonly router: ZmqSocket | null,
    private readonly topic: Buffer,
    /** Buffered batches, oldest first, with their payloads. */
    private readonly buffered: () => Iterable<{ readonly seq: number; readonly payload: Uint8Array }>,
    private readonly warn: (line: string) => void,
  ) {
    if (router) void this.serveReplays(router);
  }

  /** Opens the sockets; rejects with one line when zeromq is missing or an address is taken. */
  static async open(cfg: ZmqConfig, buffered: () => Iterable<{ readonly seq: number; readonly payload: Uint8Array }>, warn: (line: string) => void): Promise<ZmqEventPublisher> {
    const zmq = await loadZmq();
    // vLLM's default high-water mark; linger 0 so that closing never holds the process.
    const pub = new zmq.Publisher({ sendHighWaterMark: 100_000, linger: 0 });
    let router: ZmqSocket | null = null;
    try {
      if (bindsItself(cfg.endpoint)) await pub.bind(cfg.endpoint);
      else pub.connect(cfg.endpoint);
      if (cfg.replayEndpoint !== undefined) {
        router = new zmq.Router({ linger: 0 });
        await router.bind(cfg.replayEndpoint);
      }
    } catch (err) {
      pub.close();
      router?.close();
      throw new Error(`KV events: cannot open ${router ? cfg.replayEndpoint : cfg.endpoint}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return new ZmqEventPublisher(pub, router, Buffer.from(cfg.topic, "utf8"), buffered, warn);
  }

  /** The address the PUB socket bound (port 0 resolved), or null when it connects. */
  get endpoint(): string | null {
    return this.pub.lastEndpoint;
  }

  get replayEndpoint(): string | null {
    return this.router?.lastEndpoint ?? null;
  }

  /** Sends one batch; sends on a socket go one at a time, in order. */
  publish(seq: number, payload: Uint8Array): void {
    if (this.closed) return;
    const frames = [this.topic, seqBytes(seq), payload];
    this.pubChain = this.pubChain.then(() => this.pub.send(frames)).catch((err: unknown) => {
      if (!this.closed) this.warn(`radixlm: KV events: publish failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private async serveReplays(router: ZmqSocket): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return; // closed
      }
      if (frames.length !== 3 || frames[2]!.length !== 8) {
        this.warn(`radixlm: KV events: ignored a replay request of ${frames.length} frames`);
        continue;
      }
      const [id, , start] = frames as [Buffer, Buffer, Buffer];
      const from = start.readBigUInt64BE(0);
      const replies: Buffer[][] = [];
      for (const b of this.buffered()) if (BigInt(b.seq) >= from) replies.push([id, Buffer.alloc(0), seqBytes(b.seq), Buffer.from(b.payload)]);
      replies.push([id, Buffer.alloc(0), END_SEQ, Buffer.alloc(0)]);
      for (const r of replies) {
        this.replyChain = this.replyChain.then(() => router.send(r)).catch((err: unknown) => {
          if (!this.closed) this.warn(`radixlm: KV events: replay failed: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // What was published gets its chance to go before the sockets close.
    await Promise.race([Promise.all([this.pubChain, this.replyChain]), new Promise((r) => setTimeout(r, 1000).unref())]);
    this.closed = true;
    this.pub.close();
    this.router?.close();
  }
}
