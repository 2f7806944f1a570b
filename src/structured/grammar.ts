// Compiled grammars for one model, on the engine's side. xgrammar runs in worker threads
// (grammar-worker.ts), so a compile never blocks the event loop; a grammar lives in the
// worker that compiled it, with the matchers of the requests it constrains. Compiles are
// bounded: a spec larger than the size limit is refused before any work, a compile that runs
// past the time limit is stopped by replacing its worker, one that no request waits for any
// more is stopped the same way, and at most `workers` compile at once (each in its own
// worker), the rest queue. Each distinct spec is compiled once: the cache holds the grammar,
// or the error a bad spec gave, and answers at once. A worker that dies takes its grammars
// with it; the next compile of those specs starts afresh.
import { tokenizerSource, type LoadedModel } from "../model/load.js";
import { GrammarWorker, GrammarWorkerError } from "./grammar-client.js";
import { GrammarError, normalize, type GrammarSpec } from "./spec.js";

export { GrammarError, ebnfLiteral, type GrammarSpec } from "./spec.js";
export { GrammarWorkerError } from "./grammar-client.js";

/** A compiled grammar, shareable by any number of requests. */
export class Grammar {
  constructor(readonly spec: GrammarSpec,
    /** The worker the grammar lives in; its matchers are made there. */
    readonly worker: GrammarWorker,
    /** The grammar's id in the worker. */
    readonly id: number) {}
}

export interface GrammarLimits {
  /** Longest a compile may take (ms); past it the request is refused and the worker replaced. Default 10 s. */
  readonly compileTimeoutMs?: number;
  /** Largest spec compiled, in characters of its normalized text (a schema's JSON, a grammar's text). Default 64 Ki. */
  readonly maxSpecChars?: number;
  /** Compiles at once, each in its own worker. Default 2. */
  readonly workers?: number;
}

export const DEFAULT_GRAMMAR_LIMITS: Required<GrammarLimits> = { compileTimeoutMs: 10_000, maxSpecChars: 64 * 1024, workers: 2 };

/** One compile: the callers waiting for it, and the worker running it once started. */
interface Job {
  readonly key: string;
  readonly spec: GrammarSpec;
  readonly promise: Promise<Grammar>;
  resolve(g: Grammar): void;
  reject(err: Error): void;
  waiters: number;
  worker: GrammarWorker | null;
  settled: boolean;
}

interface Entry {
  readonly promise: Promise<Grammar>;
  /** The compiled grammar once there is one (its worker may die). */
  grammar: Grammar | null;
  job: Job | null;
}

export class GrammarCompiler {
  private readonly limits: Required<GrammarLimits>;
  private readonly workers: GrammarWorker[] = [];
  /** Workers compiling now, and what. */
  private readonly running = new Map<GrammarWorker, Job>();
  private readonly queue: Job[] = [];
  private readonly cache = new Map<string, Entry>();
  private closed = false;
  /** A grammar no request or cache entry holds any more is freed in its worker. */
  private readonly registry = new FinalizationRegistry<{ worker: GrammarWorker; id: number }>(({ worker, id }) => worker.drop(id));
  /** Compile time of every grammar compiled so far (ms, in the worker), for stats and benchmarks. */
  readonly compileMs: number[] = [];

  constructor(private readonly model: LoadedModel, limits: GrammarLimits = {}, private readonly maxCached = 256) {
    this.limits = { ...DEFAULT_GRAMMAR_LIMITS, ...limits };
  }

  /** The first check of a spec, without compiling: throws GrammarError when it is malformed or over the size limit. */
  check(spec: GrammarSpec): { key: string; spec: GrammarSpec } {
    const n = normalize(spec);
    const size = n.key.length;
    if (size > this.limits.maxSpecChars) {
      throw new GrammarError(spec.kind, `the grammar is too large: ${size} characters, over the limit of ${this.limits.maxSpecChars} (--max-grammar-chars)`);
    }
    return n;
  }

  /**
   * Compiles (or finds in the cache) the grammar of a spec; throws GrammarError when it is
   * bad, too large or takes too long. When `signal` aborts and no one else waits for the
   * compile, it stops.
   */
  compile(spec: GrammarSpec, signal?: AbortSignal): Promise<Grammar> {
    if (this.closed) return Promise.reject(new GrammarWorkerError("the engine is closed"));
    let n: { key: string; spec: GrammarSpec };
    try {
      n = this.check(spec);
    } catch (err) {
      return Promise.reject(err);
    }
    let entry = this.cache.get(n.key);
    if (entry?.grammar?.worker.failed) {
      // Its grammar went with its worker.
      this.cache.delete(n.key);
      entry = undefined;
    }
    if (entry) {
      // Most recently used last: the map's first entry is the one to drop when full.
      this.cache.delete(n.key);
      this.cache.set(n.key, entry);
    } else {
      entry = this.start(n.key, n.spec);
    }
    const job = entry.job;
    if (!job || job.settled || !signal) return entry.promise;
    job.waiters++;
    const leave = (): void => {
      if (--job.waiters === 0 && !job.settled) this.cancel(job);
    };
    if (signal.aborted) {
      leave();
      return entry.promise;
    }
    signal.addEventListener("abort", leave, { once: true });
    void entry.promise.then(() => signal.removeEventListener("abort", leave), () => signal.removeEventListener("abort", leave));
    return entry.promise;
  }

  private start(key: string, spec: GrammarSpec): Entry {
    let resolve!: (g: Grammar) => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<Grammar>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A rejection is the caller's to see; the cache keeps it without an unhandled warning.
    promise.catch(() => {});
    const job: Job = { key, spec, promise, resolve, reject, waiters: 0, worker: null, settled: false };
    const entry: Entry = { promise, grammar: null, job };
    this.cache.set(key, entry);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    this.queue.push(job);
    this.pump();
    return entry;
  }

  /** Starts queued compiles while a worker is free: an idle one serving the fewest requests, or a new one. */
  private pump(): void {
    while (this.queue.length > 0) {
      for (let i = this.workers.length - 1; i >= 0; i--) if (this.workers[i]!.failed) this.workers.splice(i, 1);
      const idle = this.workers.filter((w) => !this.running.has(w)).sort((a, b) => a.openMatchers - b.openMatchers);
      let worker = idle[0];
      if (!worker && this.workers.length < this.limits.workers) {
        const c = this.model.config;
        worker = new GrammarWorker({
          tokenizer: tokenizerSource(this.model), vocabSize: c.vocabSize, stopTokenIds: c.eosTokenIds, tokenizerVocabSize: this.model.tokenizer.vocabSize,
        });
        this.workers.push(worker);
      }
      if (!worker) return;
      this.run(this.queue.shift()!, worker);
    }
  }

  private run(job: Job, worker: GrammarWorker): void {
    job.worker = worker;
    this.running.set(worker, job);
    // The time limit is the compile's own: a new worker first loads its vocabulary.
    worker.warm().then(() => this.compileOn(job, worker), (err: unknown) => this.settle(job, null, err instanceof Error ? err : new Error(String(err))));
  }

  private compileOn(job: Job, worker: GrammarWorker): void {
    if (job.settled) return;
    const limit = this.limits.compileTimeoutMs;
    const timer = setTimeout(() => {
      this.settle(job, null, new GrammarError(job.spec.kind, `compiling the grammar took longer than ${limit / 1000} s (--grammar-compile-timeout); it is too complex`));
      // xgrammar cannot be interrupted: the worker goes, and a new one takes its place.
      void worker.terminate("the grammar worker was replaced after a compile ran past its time limit");
    }, limit);
    timer.unref();
    worker.compile(job.spec).then(({ grammar, ms }) => {
      clearTimeout(timer);
      this.compileMs.push(ms);
      const g = new Grammar(job.spec, worker, grammar);
      this.registry.register(g, { worker, id: grammar });
      this.settle(job, g, null);
    }, (err: unknown) => {
      clearTimeout(timer);
      this.settle(job, null, err instanceof Error ? err : new Error(String(err)));
    });
  }

  private settle(job: Job, grammar: Grammar | null, err: Error | null): void {
    if (job.settled) return;
    job.settled = true;
    if (job.worker && this.running.get(job.worker) === job) this.running.delete(job.worker);
    const entry = this.cache.get(job.key);
    if (entry?.job === job) {
      entry.job = null;
      entry.grammar = grammar;
      // A bad spec stays cached (the same spec again fails at once); a worker's failure does not.
      if (err && !(err instanceof GrammarError)) this.cache.delete(job.key);
    }
    if (grammar) job.resolve(grammar);
    else job.reject(err!);
    this.pump();
  }

  /** No one waits for this compile any more: it stops (a running one by replacing its worker). */
  private cancel(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.cache.get(job.key)?.job === job) this.cache.delete(job.key);
    const worker = job.worker;
    this.settle(job, null, new GrammarWorkerError("the compile was cancelled: no request waits for it"));
    if (worker) void worker.terminate("the grammar worker was replaced: the compile it ran was cancelled");
  }

  /** Sends every worker what is queued for it (the engine, before a forward pass). */
  flush(): void {
    for (const w of this.workers) w.flush();
  }

  /** Compiles running now (tests, stats). */
  get compiling(): number {
    return this.running.size;
  }

  /** Workers alive now (tests, stats). */
  get workerCount(): number {
    return this.workers.filter((w) => !w.failed).length;
  }

  /** Ends the workers; their requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, null, new GrammarWorkerError("the engine is closed"));
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
