// Tokenization off the calling thread: a worker (encode-worker.ts) with its own copy of the
// model's tokenizer encodes long texts, which take seconds, so that the thread that asked
// (a server's event loop) goes on meanwhile. Same tokenizer, same code: the same ids as
// encode() on the calling thread. The worker starts with the first text and keeps the
// process alive only while a text is being encoded.
import { Worker } from "node:worker_threads";
import type { EncodeOptions } from "./tokenizer.js";

export type { TokenizerSource } from "./source.js";
import type { TokenizerSource } from "./source.js";

/** The worker's `workerData`. */
export interface EncoderInit {
  readonly source: TokenizerSource;
  /** The caller's tokenizer's size: the worker's copy must have the same. */
  readonly vocabSize: number;
}

export interface EncodeRequest {
  readonly id: number;
  readonly text: string;
  readonly addSpecial: boolean;
  readonly parseSpecial: boolean;
  /** Send the ids back only when there are fewer; otherwise only their count. */
  readonly limit: number;
  /** Send the ids as the JSON text of an array (for an answer that is JSON anyway). */
  readonly json?: boolean;
}

export type EncodeReply =
  | { readonly id: number; readonly ids: Int32Array }
  | { readonly id: number; readonly count: number }
  | { readonly id: number; readonly json: Uint8Array; readonly count: number }
  | { readonly id: number; readonly error: string };

/** A text's ids as the UTF-8 bytes of a JSON array, and how many there are. */
export interface EncodedJson {
  readonly json: Uint8Array;
  readonly count: number;
}

/** A text's ids, or only their count when there were `limit` or more. */
export interface Encoded {
  readonly ids: number[] | null;
  readonly count: number;
}

/** The tokenizer thread failed (could not load the tokenizer, crashed, or was closed). */
export class EncoderThreadError extends Error {
  override name = "EncoderThreadError";
}

interface Pending {
  resolve(r: Encoded | EncodedJson): void;
  reject(err: Error): void;
}

export class EncoderThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: EncoderThreadError | null = null;

  constructor(init: EncoderInit) {
    // Resolved next to this file, in dist/ as in the tests' build.
    this.worker = new Worker(new URL("./encode-worker.js", import.meta.url), { workerData: init satisfies EncoderInit });
    this.worker.unref();
    this.worker.on("message", (r: EncodeReply) => this.answer(r));
    this.worker.on("error", (err: Error) => this.fail(`the tokenizer thread crashed: ${err.message}`));
    this.worker.on("exit", (code: number) => this.fail(`the tokenizer thread exited (code ${code})`));
  }

  /** Whether the worker is gone; a new one is needed. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Texts sent and not answered yet. */
  get queued(): number {
    return this.pending.size;
  }

  /**
   * The ids of `text`, as tokenizer.encode(text, options) gives them; with `limit`, only their
   * count when there are that many or more (a prompt that cannot fit: its millions of ids
   * need not cross to this thread). Rejects with EncoderThreadError when the worker fails.
   */
  encode(text: string, options: EncodeOptions = {}, limit = Infinity): Promise<Encoded> {
    return this.send(text, options, limit, false) as Promise<Encoded>;
  }

  /**
   * The ids of `text` as the UTF-8 bytes of a JSON array: millions of ids cost JSON.stringify
   * half a second and their encoding some more, spent on the tokenizer thread rather than
   * here; the bytes are transferred, not copied.
   */
  encodeJson(text: string, options: EncodeOptions = {}): Promise<EncodedJson> {
    return this.send(text, options, Infinity, true) as Promise<EncodedJson>;
  }

  private send(text: string, options: EncodeOptions, limit: number, json: boolean): Promise<Encoded | EncodedJson> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, text, addSpecial: options.addSpecial === true, parseSpecial: options.parseSpecial === true, limit, json } satisfies EncodeRequest);
    });
  }

  /** Ends the worker; texts still pending fail. */
  async close(): Promise<void> {
    if (this.failure) return;
    this.fail("the tokenizer thread was closed");
    await this.worker.terminate();
  }

  private answer(r: EncodeReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker.unref();
    if ("ids" in r) {
      p.resolve({ ids: toArray(r.ids), count: r.ids.length });
      return;
    }
    if ("json" in r) {
      p.resolve({ json: r.json, count: r.count });
      return;
    }
    if ("count" in r) {
      p.resolve({ ids: null, count: r.count });
      return;
    }
    // Only a tokenizer that did not load fails an encode: every later one would fail too.
    p.reject(new EncoderThreadError(`tokenizer thread: ${r.error}`));
    this.fail(`tokenizer thread: ${r.error}`);
    void this.worker.terminate();
  }

  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new EncoderThreadError(message);
    this.worker.unref();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(this.failure);
  }
}

/** The ids as a plain array: a loop into a preallocated one is several times faster than Array.from (2.5M ids: 25 ms, not 150). */
function toArray(ids: Int32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  return out;
}
