// What each worker really caches, rebuilt from its KV events (GET /kv_events, a
// server-sent-events stream of vLLM-style block events: src/server/kv-events.ts): a set of
// block hashes per worker. A request's cached prefix on a worker is the run of its leading
// blocks (hashed as the worker hashes them, block-hash.ts) that the worker's set holds.
// A dropped stream reconnects from its last batch; a worker that restarted, or whose buffer
// moved past us, sends a resync (every block it holds), and the set starts again from it.
import { blockHashes } from "../kvcache/block-hash.js";
import type { CachedPrefixes } from "./policies.js";

/** Most blocks kept per worker: a worker's pool bounds its own, this bounds a worker gone wrong. */
const MAX_BLOCKS = 1 << 22;

interface Mirror {
  readonly url: string;
  readonly apiKey: string | undefined;
  blocks: Set<string>;
  blockSize: number;
  seed: string;
  seq: number | null;
  instance: string | null;
  ctrl: AbortController;
  connected: boolean;
}

type Event =
  | { type: "BlockStored"; block_hashes: string[] }
  | { type: "BlockRemoved"; block_hashes: string[] }
  | { type: "AllBlocksCleared" }
  | { type: "Resync"; instance?: string };

interface Batch {
  seq: number;
  events: Event[];
}

export class KvMirror implements CachedPrefixes {
  private readonly mirrors = new Map<string, Mirror>();
  /** The last request's hashes, for the workers that share its block size and seed. */
  private memo: { ids: readonly number[]; salt: string; size: number; seed: string; hashes: string[] } | null = null;

  constructor(private readonly warn: (line: string) => void = () => {}, private readonly retryMs = 1000) {}

  /** Starts following a worker's events. */
  add(url: string, apiKey: string | undefined): void {
    if (this.mirrors.has(url)) return;
    const m: Mirror = { url, apiKey, blocks: new Set(), blockSize: 0, seed: "", seq: null, instance: null, ctrl: new AbortController(), connected: false };
    this.mirrors.set(url, m);
    void this.follow(m);
  }

  remove(url: string): void {
    const m = this.mirrors.get(url);
    if (!m) return;
    m.ctrl.abort();
    this.mirrors.delete(url);
  }

  close(): void {
    for (const url of [...this.mirrors.keys()]) this.remove(url);
  }

  /** Blocks the router knows `url` holds (tests, /workers). */
  blockCount(url: string): number {
    return this.mirrors.get(url)?.blocks.size ?? 0;
  }

  /** Whether the worker's stream is up. */
  following(url: string): boolean {
    return this.mirrors.get(url)?.connected ?? false;
  }

  matched(url: string, ids: readonly number[], salt: string): number {
    const m = this.mirrors.get(url);
    if (!m || m.blockSize === 0 || m.blocks.size === 0) return 0;
    const hashes = this.hashes(ids, salt, m.blockSize, m.seed);
    let n = 0;
    while (n < hashes.length && m.blocks.has(hashes[n]!)) n++;
    return n * m.blockSize;
  }

  private hashes(ids: readonly number[], salt: string, size: number, seed: string): string[] {
    const c = this.memo;
    if (c && c.ids === ids && c.salt === salt && c.size === size && c.seed === seed) return c.hashes;
    const hashes = blockHashes(ids, size, salt, seed).map((h) => h.toString());
    this.memo = { ids, salt, size, seed, hashes };
    return hashes;
  }

  private async follow(m: Mirror): Promise<void> {
    const headers: Record<string, string> = m.apiKey ? { authorization: `Bearer ${m.apiKey}` } : {};
    while (!m.ctrl.signal.aborted) {
      try {
        if (m.blockSize === 0) {
          // The worker's block size and hash seed: its hashes are only comparable with them.
          const info = await fetch(`${m.url}/get_server_info`, { headers, signal: AbortSignal.any([m.ctrl.signal, AbortSignal.timeout(5000)]) });
          const body = (await info.json()) as { kv_events?: { block_size?: number; hash_seed?: string } };
          if (!body.kv_events?.block_size) throw new Error("it does not publish KV events (start it with --kv-events)");
          m.blockSize = body.kv_events.block_size;
          m.seed = body.kv_events.hash_seed ?? "";
        }
        const q = m.seq === null ? "" : `?since=${m.seq}${m.instance ? `&instance=${encodeURIComponent(m.instance)}` : ""}`;
        const res = await fetch(`${m.url}/kv_events${q}`, { headers, signal: m.ctrl.signal });
        if (!res.ok || !res.body) throw new Error(`GET /kv_events answered ${res.status}`);
        m.connected = true;
        for await (const data of sseData(res.body)) this.apply(m, JSON.parse(data) as Batch);
      } catch (err) {
        if (m.ctrl.signal.aborted) return;
        this.warn(`radixlm: route: KV events of ${m.url}: ${err instanceof Error ? err.message : String(err)}; retrying`);
      }
      m.connected = false;
      await new Promise((r) => setTimeout(r, this.retryMs).unref());
    }
  }

  private apply(m: Mirror, b: Batch): void {
    for (const e of b.events) {
      switch (e.type) {
        case "Resync":
          m.blocks = new Set();
          if (e.instance) m.instance = e.instance;
          break;
        case "AllBlocksCleared":
          m.blocks.clear();
          break;
        case "BlockStored":
          for (const h of e.block_hashes) if (m.blocks.size < MAX_BLOCKS) m.blocks.add(h);
          break;
        case "BlockRemoved":
          for (const h of e.block_hashes) m.blocks.delete(h);
          break;
      }
    }
    if (Number.isInteger(b.seq)) m.seq = b.seq;
  }
}

/** The data of each server-sent event of a body (comments skipped). */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true }).replace(/\r\n/g, "\n");
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(l.startsWith("data: ") ? 6 : 5)).join("\n");
      if (data !== "") yield data;
    }
  }
}
