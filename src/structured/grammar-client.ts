// The engine's side of the grammar worker (grammar-worker.ts): sends operations, batched
// into one message per tick, and matches the answers to their promises. A worker that
// crashes or exits fails every pending and later call, and every wait on a matcher, with
// one clear error; the process goes on. The worker keeps the process alive only while
// something waits for it.
import { Worker } from "node:worker_threads";
import { GrammarError, type GrammarSpec } from "./spec.js";
import {
  DRAFT_SEQ, JUMP_SEQ, MASK_SEQ, WORKER_GONE,
  type WorkerInit, type WorkerMessage, type WorkerOp, type WorkerReply, type WorkerStats,
} from "./grammar-protocol.js";

/** The grammar worker failed (crashed, exited or was closed); the requests it served fail with it. */
export class GrammarWorkerError extends Error {
  override name = "GrammarWorkerError";
}

type Reply = Extract<WorkerReply, { ok: true }>;

/** Atomics.waitAsync (ES2024; in Node since 16), typed here as the ES2022 library lacks it. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

interface Waiter {
  settled(): boolean;
  resolve(): void;
}

interface Pending {
  resolve(r: Reply): void;
  reject(err: Error): void;
}

/** Op shapes without the id the client assigns. */
type Call = WorkerOp extends infer O ? (O extends { id: number } ? Omit<O, "id"> : never) : never;

export class GrammarWorker {
  /** The mask's width in 32-bit words. */
  readonly maskWords: number;
  readonly stopTokenIds: ReadonlySet<number>;
  private readonly worker: Worker;
  private queued: WorkerOp[] = [];
  private flushing = false;
  private readonly pending = new Map<number, Pending>();
  private nextCall = 1;
  private nextMatcher = 1;
  private failure: GrammarWorkerError | null = null;
  private warmed: Promise<void> | null = null;
  /** The control slots of open matchers (woken when the worker dies). */
  private readonly controls = new Map<number, Int32Array>();
  /** Why matchers failed, from the worker; waiters of the failure not yet told. */
  private readonly matcherFailures = new Map<number, string>();
  private readonly failureWaiters = new Map<number, (message: string) => void>();
  /** Waits in progress (each holds the process alive). */
  private holds = 0;
  /** Bumped by the worker after it published anything (grammar-protocol.ts). */
  private readonly epoch = new Int32Array(new SharedArrayBuffer(4));
  private readonly waiters: Waiter[] = [];
  private watching = false;

  constructor(init: Omit<WorkerInit, "epoch">) {
    this.maskWords = (init.vocabSize + 31) >>> 5;
    this.stopTokenIds = new Set(init.stopTokenIds);
    // Resolved next to this file, in dist/ as in the tests' build.
    this.worker = new Worker(new URL("./grammar-worker.js", import.meta.url), { workerData: { ...init, epoch: this.epoch.buffer } satisfies WorkerInit });
    this.worker.unref();
    this.worker.on("message", (m: WorkerMessage) => {
      for (const f of m.failed ?? []) this.matcherFailed(f.matcher, f.message);
      this.answer(m.replies);
    });
    this.worker.on("error", (err: Error) => this.fail(`the grammar worker crashed: ${err.message}`));
    this.worker.on("exit", (code: number) => this.fail(`the grammar worker exited unexpectedly (code ${code})`));
  }

  /** Whether the worker is gone; a new one is needed for new grammars. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Matchers open in this worker (requests it serves). */
  get openMatchers(): number {
    return this.controls.size;
  }

  /**
   * Ends the worker now, whatever it is doing (a compile that ran past its limit, or one no
   * request waits for any more): its calls and matchers fail with `message`.
   */
  async terminate(message: string): Promise<void> {
    if (this.failure) return;
    this.fail(message);
    await this.worker.terminate();
  }

  /** Why the worker is gone (null while it runs). */
  get error(): GrammarWorkerError | null {
    return this.failure;
  }

  /** Compiles a normalized spec; the grammar's id in the worker and the compile time (ms). */
  async compile(spec: GrammarSpec): Promise<{ grammar: number; ms: number }> {
    const r = await this.call({ op: "compile", spec });
    if (!("grammar" in r)) throw new Error("grammar worker: bad answer to compile");
    return { grammar: r.grammar, ms: r.ms };
  }

  /** Resolves once the worker has its tokenizer and xgrammar's vocabulary (done once). */
  warm(): Promise<void> {
    this.warmed ??= this.call({ op: "warm" }).then(() => undefined);
    return this.warmed;
  }

  drop(grammar: number): void {
    this.send({ op: "drop", grammar });
  }

  /** A new matcher of `grammar` answering in `memory` (grammar-protocol.ts); returns its id. */
  open(grammar: number, memory: SharedArrayBuffer, control: Int32Array): number {
    const matcher = this.nextMatcher++;
    if (this.failure) {
      Atomics.store(control, MASK_SEQ, WORKER_GONE);
      Atomics.store(control, JUMP_SEQ, WORKER_GONE);
      Atomics.store(control, DRAFT_SEQ, WORKER_GONE);
      return matcher;
    }
    this.controls.set(matcher, control);
    this.send({ op: "open", matcher, grammar, memory });
    return matcher;
  }

  // A step's sampled tokens go together at the end of the tick: one message, one wake-up
  // (sending each at once starts the worker earlier but costs more than it saves).
  accept(matcher: number, tokens: readonly number[], seq: number): void {
    this.send({ op: "accept", matcher, tokens, seq });
  }

  jump(matcher: number, tokens: readonly number[], budget: number, seq: number): void {
    this.send({ op: "jump", matcher, tokens, budget, seq });
  }

  draft(matcher: number, tokens: readonly number[], draft: readonly number[], seq: number, memory: SharedArrayBuffer): void {
    this.send({ op: "draft", matcher, tokens, draft, seq, memory });
  }

  free(matcher: number): void {
    this.controls.delete(matcher);
    this.matcherFailures.delete(matcher);
    this.send({ op: "free", matcher });
  }

  /** Why a matcher failed (its memory said MATCHER_FAILED): the worker's message, which may still be on its way. */
  matcherFailure(matcher: number): Promise<GrammarWorkerError> {
    const known = this.matcherFailures.get(matcher);
    if (known !== undefined) return Promise.resolve(new GrammarWorkerError(`grammar worker: ${known}`));
    if (this.failure) return Promise.resolve(this.failure);
    return new Promise((resolve) => this.failureWaiters.set(matcher, (m) => resolve(new GrammarWorkerError(m))));
  }

  /**
   * Resolves once `settled()` holds, checked whenever the worker published something. All
   * of the engine's waits share one Atomics wait, so a step's samples cost one wake-up.
   */
  waitUntil(settled: () => boolean): Promise<void> {
    if (settled()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ settled, resolve });
      this.watch();
    });
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    this.hold();
    const step = (): void => {
      for (;;) {
        const seen = Atomics.load(this.epoch, 0);
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.settled()) {
            this.waiters.splice(i, 1);
            w.resolve();
          }
        }
        if (this.waiters.length === 0) {
          this.watching = false;
          this.release();
          return;
        }
        const r = waitAsync(this.epoch, 0, seen);
        if (r.async) {
          void r.value.then(step);
          return;
        }
      }
    };
    step();
  }

  /** Keeps the process alive while the engine waits on a matcher's memory (a wait alone does not). */
  hold(): void {
    if (this.holds++ === 0 && this.pending.size === 0) this.worker.ref();
  }

  release(): void {
    if (--this.holds === 0 && this.pending.size === 0) this.worker.unref();
  }

  async stats(): Promise<WorkerStats> {
    const r = await this.call({ op: "stats" });
    if (!("stats" in r)) throw new Error("grammar worker: bad answer to stats");
    return r.stats;
  }

  /** Sends what is queued now rather than at the end of the tick (the engine, before a forward pass). */
  flush(): void {
    this.flushing = false;
    if (this.queued.length === 0 || this.failure) return;
    const ops = this.queued;
    this.queued = [];
    this.worker.postMessage(ops);
  }

  /** Ends the worker; calls still pending fail. */
  async close(): Promise<void> {
    if (this.failure) return;
    this.fail("the engine is closed");
    await this.worker.terminate();
  }

  /** Tests only: ends the worker as a crash would, without closing it. */
  async crashForTests(): Promise<void> {
    await this.worker.terminate();
  }

  private send(op: WorkerOp): void {
    if (this.failure) return;
    this.queued.push(op);
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(() => {
        if (this.flushing) this.flush();
      });
    }
  }

  private call(op: Call): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextCall++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0 && this.holds === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.send({ ...op, id } as WorkerOp);
    });
  }

  private answer(replies: readonly WorkerReply[]): void {
    for (const r of replies) {
      const p = this.pending.get(r.id);
      if (!p) continue;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(r.grammarError ? new GrammarError(r.grammarError, r.message) : new GrammarWorkerError(`grammar worker: ${r.message}`));
    }
    if (this.pending.size === 0 && this.holds === 0) this.worker.unref();
  }

  private matcherFailed(matcher: number, message: string): void {
    const w = this.failureWaiters.get(matcher);
    this.failureWaiters.delete(matcher);
    if (w) w(`grammar worker: ${message}`);
    else if (this.controls.has(matcher)) this.matcherFailures.set(matcher, message);
  }

  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new GrammarWorkerError(message);
    this.queued = [];
    const pending = [...this.pending.values()];
    this.pending.clear();
    if (this.holds === 0) this.worker.unref();
    for (const p of pending) p.reject(this.failure);
    for (const w of this.failureWaiters.values()) w(this.failure.message);
    this.failureWaiters.clear();
    // Waits on matchers end, and see that the worker is gone.
    for (const c of this.controls.values()) {
      Atomics.store(c, MASK_SEQ, WORKER_GONE);
      Atomics.store(c, JUMP_SEQ, WORKER_GONE);
      Atomics.store(c, DRAFT_SEQ, WORKER_GONE);
    }
    this.controls.clear();
    Atomics.add(this.epoch, 0, 1);
    Atomics.notify(this.epoch, 0);
  }
}
