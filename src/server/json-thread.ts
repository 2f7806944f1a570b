// JSON bodies parsed off the event loop. A 30 MB body costs JSON.parse some 60 ms and the
// garbage collector as much again; eight at once held /health for over a second. Big bodies
// go to a worker (json-worker.ts) as the socket's chunks, transferred rather than copied (a
// copy into one buffer here took as long as the parse); the parsed value
// comes back by structured clone, which for the usual big body (one long prompt string) is a
// memory copy. The worker starts with the first big body and keeps the process alive only
// while one is being parsed; a worker that dies is replaced for the next body.
import { Worker } from "node:worker_threads";

export interface JsonRequest {
  readonly id: number;
  readonly chunks: readonly Uint8Array[];
}

export type JsonReply =
  | { readonly id: number; readonly value: unknown }
  | { readonly id: number; readonly error: string };

/** The text is not JSON; `message` says where. */
export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class JsonThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /**
   * The value of the UTF-8 JSON text in `chunks`, in order (undefined when it is only
   * whitespace), with `__proto__` keys dropped. The chunks' memory moves to the worker (a
   * socket's chunks each own theirs; one that shares its buffer is copied) and they are
   * detached here. Rejects with JsonSyntaxError for text that is not JSON, or Error when the
   * worker failed.
   */
  parse(chunks: readonly Uint8Array[]): Promise<unknown> {
    const worker = this.start();
    const id = this.nextId++;
    const own = chunks.map((c) => (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength && c.buffer instanceof ArrayBuffer ? c : c.slice()));
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, chunks: own } satisfies JsonRequest, own.map((c) => c.buffer as ArrayBuffer));
    });
  }

  /** Ends the worker; bodies still pending fail. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.fail(w, "the JSON thread was closed");
    await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // Resolved next to this file, in dist/ as in the tests' build.
    const w = new Worker(new URL("./json-worker.js", import.meta.url));
    w.unref();
    w.on("message", (r: JsonReply) => this.answer(w, r));
    w.on("error", (err: Error) => this.fail(w, `the JSON thread crashed: ${err.message}`));
    w.on("exit", (code: number) => this.fail(w, `the JSON thread exited (code ${code})`));
    this.worker = w;
    return w;
  }

  private answer(w: Worker, r: JsonReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) w.unref();
    if ("error" in r) p.reject(new JsonSyntaxError(r.error));
    else p.resolve(r.value);
  }

  private fail(w: Worker, message: string): void {
    if (this.worker !== w) return;
    this.worker = null;
    w.unref();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new Error(message));
  }
}
