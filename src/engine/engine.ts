// The in-process API every later layer uses: submit requests, stream their tokens, abort
// them, read statistics. One loop owns the scheduler and the runner; each step runs one
// batched forward pass and turns its logits into tokens and events.
import os from "node:os";
import { loadModel, type LoadedModel } from "../model/load.js";
import type { Backend, KVDType, ModelRunner } from "../kernels/backend.js";
import { referenceBackend } from "../kernels/reference.js";
import { KVPool } from "../kvcache/pool.js";
import { RadixCache } from "../kvcache/radix-cache.js";
import { NoCache } from "../kvcache/no-cache.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { buildStepPlan, type Batch } from "../scheduler/plan.js";
import type { PolicyName } from "../scheduler/policy.js";
import { Request, type FinishReason } from "./request.js";
import { RequestStream, type EngineEvent, type GenerateResult } from "./stream.js";
import { resolveParams, type GenerateInput } from "./input.js";
import { GrammarCompiler, type Grammar, type GrammarSpec } from "../structured/grammar.js";

export interface EngineOptions {
  /** Path of an HF folder or GGUF file, or a model already loaded. */
  readonly model: string | LoadedModel;
  readonly backend?: Backend;
  /** KV pool size in tokens (default: from kvCacheMemory, else a share of free RAM). */
  readonly maxTotalTokens?: number;
  readonly kvCacheMemory?: number;
  readonly kvCacheDtype?: KVDType;
  readonly disableRadixCache?: boolean;
  readonly chunkedPrefillSize?: number;
  readonly maxRunningRequests?: number;
  readonly maxQueuedRequests?: number;
  readonly policy?: PolicyName;
  /** A step is all prefill or all decode, prefill first (SGLang's default); by default decodes share steps with prefill chunks. */
  readonly prefillFirst?: boolean;
  /** Scales the decode room held back when admitting (SGLang's schedule_conservativeness); 0 admits greedily and relies on retraction. */
  readonly scheduleConservativeness?: number;
  /** Decode grammar-forced text token by token instead of appending it at once. */
  readonly disableJumpForward?: boolean;
  /** Check pool accounting after every step (tests). */
  readonly checkInvariants?: boolean;
}

export interface EngineStats {
  readonly running: number;
  readonly queued: number;
  readonly kvCapacity: number;
  readonly kvFree: number;
  readonly kvUsage: number;
  readonly cachedTokens: number;
  readonly evictableTokens: number;
  readonly protectedTokens: number;
  readonly hitTokens: number;
  readonly queriedTokens: number;
  readonly evictedTokens: number;
  readonly cacheHitRate: number;
  readonly promptTokensTotal: number;
  readonly generatedTokensTotal: number;
  readonly steps: number;
  readonly retractions: number;
}

export class QueueFullError extends Error {
  override name = "QueueFullError";
}

/** Bytes of K+V per token slot. */
export function kvBytesPerToken(m: LoadedModel, dtype: KVDType): number {
  const c = m.config;
  return 2 * c.numLayers * c.numKvHeads * c.headDim * (dtype === "f16" ? 2 : 4);
}

export class Engine {
  private readonly pool: KVPool;
  private readonly scheduler: Scheduler;
  private readonly streams = new Map<Request, RequestStream>();
  private wake: (() => void) | null = null;
  private loopDone: Promise<void>;
  private closed = false;
  private nextId = 1;
  private steps = 0;
  private promptTotal = 0;
  private generatedTotal = 0;
  /** Logits of the last step, reused by the next one (grown on demand). */
  private logitsBuf = new Float32Array(0);
  private grammars: GrammarCompiler | null = null;

  private constructor(readonly model: LoadedModel, private readonly runner: ModelRunner, private readonly opts: EngineOptions) {
    this.pool = new KVPool(runner.kv.capacity);
    const cache = opts.disableRadixCache ? new NoCache(this.pool) : new RadixCache(this.pool);
    this.scheduler = new Scheduler(this.pool, cache, {
      chunkedPrefillSize: opts.chunkedPrefillSize ?? 512,
      maxRunningRequests: opts.maxRunningRequests ?? 64,
      policy: opts.policy ?? "lpm",
      decodeReserveRatio: 0.3 * (opts.scheduleConservativeness ?? 1),
      mixedSteps: opts.prefillFirst !== true,
    });
    this.loopDone = this.loop();
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    const model = typeof opts.model === "string" ? await loadModel(opts.model) : opts.model;
    const dtype = opts.kvCacheDtype ?? "f16";
    const perToken = kvBytesPerToken(model, dtype);
    let capacity = opts.maxTotalTokens;
    if (capacity === undefined) {
      const bytes = opts.kvCacheMemory ?? Math.min(os.freemem() * 0.25, 2 * 2 ** 30);
      capacity = Math.max(256, Math.floor(bytes / perToken));
    }
    capacity = Math.min(capacity, 1 << 24);
    const backend = opts.backend ?? referenceBackend;
    const runner = backend.createRunner(model, { capacity, dtype });
    return new Engine(model, runner, opts);
  }

  get kvCapacity(): number {
    return this.pool.capacity;
  }

  /** Compiles a JSON schema, regex, EBNF grammar or choice list (cached); throws GrammarError when it is bad. */
  compileGrammar(spec: GrammarSpec): Promise<Grammar> {
    this.grammars ??= new GrammarCompiler(this.model);
    return this.grammars.compile(spec);
  }

  /** Streams the events of one request (all of its `n` samples). */
  generate(input: GenerateInput, options: { signal?: AbortSignal } = {}): AsyncIterable<EngineEvent> {
    const stream = this.submit(input, options.signal);
    return stream.events();
  }

  /** The whole result of one request. */
  async complete(input: GenerateInput, options: { signal?: AbortSignal } = {}): Promise<GenerateResult> {
    return this.submit(input, options.signal).result();
  }

  private submit(input: GenerateInput, signal: AbortSignal | undefined): RequestStream {
    if (this.closed) throw new Error("engine is closed");
    const { ids, params, n, salt, promptLogprobsStart } = resolveParams(this.model, input);
    const limit = Math.min(this.model.config.maxPositionEmbeddings, this.pool.capacity);
    if (ids.length + params.maxNewTokens > limit) {
      throw new RangeError(`prompt (${ids.length} tokens) + max tokens (${params.maxNewTokens}) exceeds the limit of ${limit} tokens`);
    }
    const max = this.opts.maxQueuedRequests ?? Infinity;
    if (this.scheduler.waiting.length + n > max) throw new QueueFullError(`the queue is full (${max} requests waiting)`);
    const id = input.requestId ?? `req-${this.nextId++}`;
    const now = performance.now();
    // Each sample derives its own seed stream from the request's seed and its index.
    const reqs = Array.from({ length: n }, (_, i) => new Request(n === 1 ? id : `${id}-${i}`, ids, { ...params, n }, salt, now));
    // Only the first sample computes the prompt, so only it needs the prompt's logits.
    reqs[0]!.promptLogprobsStart = promptLogprobsStart;
    const constraint = input.grammar && { grammar: input.grammar, jumpForward: input.jumpForward ?? !this.opts.disableJumpForward };
    const stream = new RequestStream(this.model, reqs, () => this.abortStream(stream), promptLogprobsStart, constraint);
    for (const r of reqs) this.streams.set(r, stream);
    // The first sample computes the prompt; the others wait for it and reuse its KV.
    this.scheduler.enqueue(reqs[0]!);
    stream.parked = reqs.slice(1);
    this.promptTotal += ids.length;
    if (signal) {
      if (signal.aborted) this.abortStream(stream);
      else signal.addEventListener("abort", () => this.abortStream(stream), { once: true });
    }
    this.kick();
    return stream;
  }

  /** Aborts every sample of a request; its KV goes into the cache. */
  abort(requestId: string): boolean {
    for (const [req, stream] of this.streams) {
      if (req.id === requestId || req.id.startsWith(`${requestId}-`)) {
        this.abortStream(stream);
        return true;
      }
    }
    return false;
  }

  private abortStream(stream: RequestStream): void {
    for (const r of stream.requests) {
      if (r.status === "finished") continue;
      r.aborted = true;
      // Waiting and parked samples hold no KV; running ones are released by the loop
      // between steps, when no forward pass is using their slots.
      if (r.status === "waiting") this.finish(r, "abort");
    }
    stream.parked = [];
    this.kick();
  }

  private reapAborted(): void {
    for (const r of [...this.scheduler.running]) if (r.aborted) this.finish(r, "abort");
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.reapAborted();
      if (this.closed && this.scheduler.idle) break;
      const batch = this.scheduler.schedule();
      if (!batch) {
        if (this.closed) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        await this.step(batch);
      } catch (err) {
        this.failBatch(batch, err);
      }
      if (this.opts.checkInvariants) this.scheduler.checkAccounting();
      // Let I/O in between steps (HTTP requests, aborts, health checks).
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private async step(batch: Batch): Promise<void> {
    const plan = buildStepPlan(batch);
    // Steps never overlap and the previous one's logits are consumed by now, so one buffer
    // serves every step; fresh arrays per step would pile up faster than V8 collects them.
    const need = plan.logitRows.length * this.model.config.vocabSize;
    if (this.logitsBuf.length < need) this.logitsBuf = new Float32Array(Math.max(need, this.logitsBuf.length * 2));
    // The grammar worker computes masks while the backend computes the logits.
    const masks = this.prepareMasks(batch);
    const forward = this.runner.forward(plan, this.logitsBuf);
    // While the backend computes (off this thread, for the native one), match the waiting
    // requests for the next step's admissions.
    this.scheduler.prepare();
    const logits = await forward;
    for (const [req, err] of await masks) this.failStream(req, err);
    this.steps++;
    this.scheduler.complete(batch);
    const vocab = this.model.config.vocabSize;
    // Jump-forward of the constrained samples that go on (the grammar worker finds the forced text).
    const jumps: Promise<unknown>[] = [];
    let row = 0;
    for (const e of batch.entries) {
      const req = e.req;
      const stream = this.streams.get(req)!;
      const [lo, hi] = req.promptLogitRange(e.start, e.start + e.count);
      for (let p = lo; p < hi; p++, row++) {
        if (!req.aborted) stream.onPromptLogits(req, p, logits.subarray(row * vocab, (row + 1) * vocab));
      }
      if (!e.wantLogits) {
        if (req.aborted) this.finish(req, "abort");
        continue;
      }
      const rowLogits = logits.subarray(row * vocab, (row + 1) * vocab);
      row++;
      if (req.aborted) {
        this.finish(req, "abort");
        continue;
      }
      if (stream.parked.length > 0 && req.computed >= req.promptLength) {
        // The prompt is cached now: the other samples start from it.
        for (const p of stream.parked) this.scheduler.enqueue(p);
        stream.parked = [];
      }
      const reason = stream.onLogits(req, rowLogits);
      this.generatedTotal++;
      if (reason) {
        this.finish(req, reason);
        continue;
      }
      const jump = stream.jumpForward(req);
      if (jump) jumps.push(jump.then((why) => why && this.finish(req, why), (err: unknown) => this.failStream(req, err)));
    }
    if (jumps.length > 0) await Promise.all(jumps);
  }

  /**
   * Grammar masks of the rows this step samples, computed by the grammar worker while the
   * forward pass runs; the requests whose mask failed (never rejects).
   */
  private async prepareMasks(batch: Batch): Promise<[Request, unknown][]> {
    const asked: Promise<[Request, unknown] | null>[] = [];
    for (const e of batch.entries) {
      const p = e.wantLogits ? this.streams.get(e.req)?.prepare(e.req) : null;
      if (p) asked.push(p.then(() => null, (err: unknown) => [e.req, err]));
    }
    if (asked.length === 0) return [];
    this.grammars?.flush();
    return (await Promise.all(asked)).filter((f) => f !== null);
  }

  /** A request whose grammar failed (its worker died): the error goes to its stream, and every sample ends. */
  private failStream(req: Request, err: unknown): void {
    const stream = this.streams.get(req);
    if (!stream) return;
    stream.fail(req, err);
    this.abortStream(stream);
  }

  private failBatch(batch: Batch, err: unknown): void {
    for (const e of batch.entries) {
      const stream = this.streams.get(e.req);
      stream?.fail(e.req, err);
      this.finish(e.req, "abort");
    }
  }

  private finish(req: Request, reason: FinishReason): void {
    if (req.status === "finished") return;
    this.scheduler.release(req);
    const stream = this.streams.get(req);
    this.streams.delete(req);
    stream?.onFinish(req, reason);
  }

  stats(): EngineStats {
    const s = this.scheduler.cache.stats();
    const used = this.pool.capacity - this.pool.freeCount - s.evictableTokens;
    return {
      running: this.scheduler.running.length,
      queued: this.scheduler.waiting.length,
      kvCapacity: this.pool.capacity,
      kvFree: this.pool.freeCount,
      kvUsage: used / this.pool.capacity,
      cachedTokens: s.cachedTokens,
      evictableTokens: s.evictableTokens,
      protectedTokens: s.protectedTokens,
      hitTokens: s.hitTokens,
      queriedTokens: s.queriedTokens,
      evictedTokens: s.evictedTokens,
      cacheHitRate: s.queriedTokens > 0 ? s.hitTokens / s.queriedTokens : 0,
      promptTokensTotal: this.promptTotal,
      generatedTokensTotal: this.generatedTotal,
      steps: this.steps,
      retractions: this.scheduler.retractions,
    };
  }

  /** Owned-slot accounting (tests): throws if free + evictable + protected + owned != capacity. */
  checkAccounting(): void {
    this.scheduler.checkAccounting();
  }

  /** Drops every cached entry no request is using; false while requests run (as SGLang). */
  flushCache(): boolean {
    if (!this.scheduler.idle) return false;
    this.scheduler.cache.flush();
    return true;
  }

  /** Stops taking requests, aborts what is left, and waits for the loop to end. */
  async close(): Promise<void> {
    if (this.closed) return this.loopDone;
    this.closed = true;
    for (const stream of new Set(this.streams.values())) this.abortStream(stream);
    this.kick();
    await this.loopDone;
    await this.grammars?.close();
    this.runner.close();
  }
}
