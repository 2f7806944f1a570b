// The in-process API every later layer uses: submit requests, stream their tokens, abort
// them, read statistics. One loop owns the scheduler and the runner; each step (step.ts)
// reads top to bottom: schedule, run the forward pass, sample, postprocess, emit.
import os from "node:os";
import { loadModel, type LoadedModel } from "../model/load.js";
import type { ModelRunner } from "../kernels/backend.js";
import { referenceBackend } from "../kernels/reference.js";
import { KVPool } from "../kvcache/pool.js";
import { radixCacheWithEvents } from "../kvcache/kv-events.js";
import { NoCache } from "../kvcache/no-cache.js";
import { Sampler } from "../sampling/sampler.js";
import { Scheduler, type OutputEvent } from "../scheduler/scheduler.js";
import { Request } from "../scheduler/request.js";
import { Grammar, type GrammarSpec } from "../structured/grammar.js";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer.js";
import type { EngineEvent, GenerateResult, RequestStream } from "./stream.js";
import { kvBytesPerToken, QueueFullError, statsOf, type EngineOptions, type EngineStats, type SubmitOptions } from "./options.js";

export { kvBytesPerToken, QueueFullError, type EngineOptions, type EngineStats, type SubmitOptions } from "./options.js";
import { Submission } from "./submission.js";
import { ChatRenderer } from "./chat.js";
import type { GenerationDefaults } from "../model/generation-defaults.js";
import { checkSequenceCount, InputError, resolveInput, type GenerateInput, type ResolvedInput } from "./input.js";
import { CacheTiers } from "./cache-tiers.js";
import { GrammarIntake } from "./grammar-intake.js";
import type { DiskTierStats } from "./disk-tier.js";
import { embed, rerank, type EmbedInput, type EmbedOptions, type EmbedResult, type RerankOptions, type RerankResult } from "./embed.js";
import { checkMaxDraft, DEFAULT_MAX_DRAFT, Speculator } from "../speculative/speculator.js";
import { EngineStep } from "./step.js";
import { FinishedLog, requestInfo, type FinishedRequest, type RequestInfo } from "./request-info.js";
import type { RadixCache } from "../kvcache/radix-cache.js";
import type { LocatedPath, RadixCacheView, ViewOptions } from "../kvcache/radix-view.js";

export type { FinishedRequest, RequestInfo } from "./request-info.js";


export class Engine {
  private readonly pool: KVPool;
  private readonly scheduler: Scheduler;
  /** Submissions in flight, by their exact id. */
  private readonly submissions = new Map<string, Submission>();
  private wake: (() => void) | null = null;
  private loopDone: Promise<void>;
  private closed = false;
  private nextId = 1;
  private promptTotal = 0;
  /** The disk tier and pinned prefixes (cache-tiers.ts); null without the radix cache. */
  readonly cacheTiers: CacheTiers | null;
  private readonly intake: GrammarIntake;
  /** Speculative decoding's drafts and counts; null with it off. */
  private readonly speculator: Speculator | null;
  /** One step of the loop: schedule, forward, sample, verify, postprocess (step.ts). */
  private readonly stepper: EngineStep;
  /** Most tokens of prompt + output one request may hold. */
  readonly contextLength: number;
  /** The sampling fields a request gets when it leaves them out: the model's, or none (generationConfig "none"). */
  readonly generationDefaults: GenerationDefaults;
  /** The model's chat template, which renders `messages` inputs (and the server's chat requests). */
  readonly chat: ChatRenderer;
  /** The radix tree, for views only (null without it); and the last requests that finished. */
  private readonly radix: RadixCache | null;
  private readonly finishedLog = new FinishedLog();

  private constructor(readonly model: LoadedModel, private readonly runner: ModelRunner, private readonly opts: EngineOptions) {
    this.pool = new KVPool(runner.kv.capacity);
    const radix = opts.disableRadixCache ? null : radixCacheWithEvents(opts.kvEvents);
    const cache = radix ?? new NoCache();
    this.radix = radix;
    this.scheduler = new Scheduler(this.pool, cache, {
      chunkedPrefillSize: opts.chunkedPrefillSize ?? 512,
      maxRunningRequests: opts.maxRunningRequests ?? 64,
      policy: opts.policy ?? "lpm",
      decodeReserveRatio: 0.3 * (opts.scheduleConservativeness ?? 1),
      mixedSteps: opts.prefillFirst !== true,
      waitForSharedPrefill: opts.disableRadixCache !== true,
    });
    const maxDraft = opts.speculativeMaxDraft ?? DEFAULT_MAX_DRAFT;
    // Checked with speculation off too: a bad value is a mistake either way.
    checkMaxDraft(maxDraft);
    this.speculator = (opts.speculative ?? "ngram") !== "ngram" || model.headless ? null : new Speculator(maxDraft, radix);
    if (this.speculator) this.scheduler.setDrafter(this.speculator);
    this.contextLength = Math.min(model.config.maxPositionEmbeddings, this.pool.capacity);
    this.intake = new GrammarIntake(model, opts.grammarLimits, {
      scheduler: this.scheduler, closed: () => this.closed, kick: () => this.kick(), emit: (events) => this.emit(events),
    });
    const host = { warm: (ids: readonly number[], salt: string) => this.warm(ids, salt), kick: () => this.kick(), warn: (l: string) => void process.stderr.write(l + "\n") };
    this.cacheTiers = radix ? new CacheTiers(radix, this.scheduler, runner, opts.diskStore ?? null, host, this.pool.capacity) : null;
    this.stepper = new EngineStep(model, runner, this.scheduler, this.speculator, {
      emit: (events) => this.emit(events), kick: () => this.kick(), flushGrammar: () => this.intake.flush(), tiersStep: () => this.cacheTiers?.step(),
    });
    this.generationDefaults = opts.generationConfig === "none" ? {} : model.generationDefaults;
    this.chat = new ChatRenderer(model);
    this.loopDone = this.loop();
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    if (opts.generationConfig !== undefined && opts.generationConfig !== "auto" && opts.generationConfig !== "none") {
      throw new TypeError(`generationConfig must be "auto" or "none", got ${JSON.stringify(opts.generationConfig)}`);
    }
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

  /** Submissions in flight. */
  get inflight(): number {
    return this.submissions.size;
  }

  /** Compiles a JSON schema, regex, EBNF grammar or choice list (cached); throws GrammarError when it is bad. */
  compileGrammar(spec: GrammarSpec, signal?: AbortSignal): Promise<Grammar> {
    return this.intake.compiler().compile(spec, signal);
  }

  /** Streams the events of one request (all of its `n` samples); throws a failed sample's error after its events. */
  generate(input: GenerateInput, options: { signal?: AbortSignal } = {}): AsyncIterable<EngineEvent> {
    return this.submit([input], { requestId: input.requestId, signal: options.signal }).eventsOrThrow();
  }

  /** The whole result of one request; rejects with a failed sample's error. */
  async complete(input: GenerateInput, options: { signal?: AbortSignal } = {}): Promise<GenerateResult> {
    return this.submit([input], { requestId: input.requestId, signal: options.signal }).result();
  }

  /**
   * The embedding vectors of texts or token-id lists, pooled as the model says (pooling.ts),
   * computed through the scheduler and the radix cache like any request.
   */
  embed(inputs: readonly EmbedInput[], options: EmbedOptions = {}): Promise<EmbedResult> {
    return embed(this, inputs, options);
  }

  /**
   * Runs one token through the model (a one-token generation, or a one-token embedding for a
   * model without an LM head): the server's warm-up and /health_generate.
   */
  async probe(options: { signal?: AbortSignal; requestId?: string } = {}): Promise<boolean> {
    const inputIds = [this.model.config.bosTokenId ?? 0];
    if (this.model.headless) return (await this.submit([{ inputIds, pool: { type: "last" } }], options).result()).samples[0]!.finishReason === "stop";
    return (await this.complete({ inputIds, params: { maxNewTokens: 1, ignoreEos: true } }, options)).samples[0]!.finishReason !== "abort";
  }

  /** How relevant each document is to the query (embed.ts: a classifier head, or the model's yes/no). */
  rerank(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<RerankResult> {
    return rerank(this, query, documents, options);
  }

  /**
   * Submits one or more prompts (each with its `n` samples) under one id, all or nothing:
   * every input is checked first (InputError, SamplingParamError), and a queue that cannot
   * take them all now refuses them all (QueueFullError). Events are numbered across the
   * submission; a sample that fails finishes with reason "error" and ends its siblings.
   */
  submit(inputs: readonly GenerateInput[], options: SubmitOptions = {}): RequestStream {
    if (this.closed) throw new Error("engine is closed");
    if (inputs.length === 0) throw new InputError("prompt", "Give at least one prompt.");
    const resolved = inputs.map((input, i) => resolveInput(this.model, this, input, inputs.length > 1 ? i : undefined));
    // A grammar given as a spec is checked (form, size) now; it compiles once queued.
    for (const r of resolved) if (r.grammar && !(r.grammar instanceof Grammar)) this.intake.compiler().check(r.grammar);
    const id = options.requestId ?? this.newId();
    if (this.submissions.has(id)) throw new InputError("request_id", `A request with id '${id}' is already running.`, "duplicate_id");
    const total = resolved.reduce((a, r) => a + r.n, 0);
    const max = this.opts.maxQueuedRequests ?? Infinity;
    checkSequenceCount(total, max);
    const queued = this.scheduler.queued + this.intake.waiting;
    if (queued + total > max) throw new QueueFullError(`the queue is full (${queued} of ${max} requests waiting)`);
    const now = performance.now();
    let index = 0;
    const parts = resolved.map((r, part) => Array.from({ length: r.n }, (_, i) => this.request(r, id, total === 1 ? id : `${id}-${index}`, index++, part, i, now)));
    const sub: Submission = new Submission(id, parts, () => this.abortSubmission(sub));
    this.submissions.set(id, sub);
    for (const [i, samples] of parts.entries()) {
      this.promptTotal += resolved[i]!.ids.length;
      const grammar = resolved[i]!.grammar;
      const after = resolved[i]!.grammarAfter;
      if (grammar instanceof Grammar || grammar === undefined) this.intake.enqueue(samples, grammar, after);
      else this.intake.compileThenEnqueue(sub.cancelled, samples, grammar, after);
    }
    this.cacheTiers?.prefetch();
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => this.abortSubmission(sub);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        sub.detach = () => signal.removeEventListener("abort", onAbort);
      }
    }
    this.kick();
    return sub.stream;
  }

  private newId(): string {
    let id: string;
    do id = `req-${this.nextId++}`;
    while (this.submissions.has(id));
    return id;
  }

  /** Sample `sample` of one checked input. Only the first computes the prompt, so only it needs the prompt's logits. */
  private request(r: ResolvedInput, parentId: string, id: string, index: number, part: number, sample: number, arrival: number): Request {
    const jumpForward = r.grammar !== undefined && (r.jumpForward ?? !this.opts.disableJumpForward);
    return new Request({
      id, parentId, index, part, prompt: r.ids, params: r.params, salt: r.salt, arrival,
      // Each sample derives its own seed stream from the request's seed and its index.
      sampler: new Sampler(r.params, { promptTokens: r.ids, vocabSize: this.model.config.vocabSize, eosTokenIds: this.model.config.eosTokenIds, sampleIndex: sample }),
      detokenizer: new IncrementalDetokenizer(this.model.tokenizer, { skipSpecial: true }),
      jumpForward,
      promptLogprobsStart: sample === 0 ? r.promptLogprobsStart : -1,
      ...(r.pool ? { pool: r.pool } : {}),
      ...(r.prediction.length > 0 ? { prediction: r.prediction } : {}),
    });
  }

  /** Aborts every sample of the submission with this exact id; false when there is none. */
  abort(requestId: string): boolean {
    const sub = this.submissions.get(requestId);
    if (!sub) return false;
    this.abortSubmission(sub);
    return true;
  }

  /** Aborts everything in flight; returns how many submissions. */
  abortAll(): number {
    const all = [...this.submissions.values()];
    for (const sub of all) this.abortSubmission(sub);
    return all.length;
  }

  private abortSubmission(sub: Submission): void {
    const all = sub.requests;
    for (const r of all) if (r.status !== "finished") r.aborted = true;
    // Waiting and parked samples hold no KV; running ones are released by the loop between
    // steps, when no forward pass is using their slots.
    const events: OutputEvent[] = [];
    for (const r of all) {
      if (r.status === "running" || r.status === "finished") continue;
      this.intake.drop(r);
      events.push(...this.scheduler.finish(r, "abort"));
    }
    sub.cancel();
    this.emit(events);
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.emit(this.scheduler.reapAborted());
      if (this.closed && this.scheduler.idle) break;
      if (!(await this.stepper.run())) {
        if (this.closed) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (this.opts.checkInvariants) this.scheduler.checkAccounting();
      // Let I/O in between steps (HTTP requests, aborts, health checks).
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Delivers what the scheduler produced to each submission's stream. */
  private emit(events: readonly OutputEvent[]): void {
    for (const e of events) {
      const sub = this.submissions.get(e.req.parentId);
      if (!sub) continue;
      sub.deliver(e);
      if (e.kind !== "finish") continue;
      this.speculator?.learn(e.req);
      this.finishedLog.add(e.req);
      // A failure ends the whole submission: its other samples are aborted.
      if (e.req.finishReason === "error") this.abortSubmission(sub);
      if (sub.done && this.submissions.get(sub.id) === sub) {
        this.submissions.delete(sub.id);
        sub.detach();
      }
    }
  }

  stats(): EngineStats {
    const spec = this.speculator?.stats();
    return statsOf(this.scheduler.cacheStats(), this.pool.capacity, this.pool.freeCount, {
      running: this.scheduler.running.length,
      queued: this.scheduler.queued + this.intake.waiting,
      promptTokensTotal: this.promptTotal,
      generatedTokensTotal: this.stepper.generated,
      steps: this.stepper.steps,
      retractions: this.scheduler.retractions,
      grammarCompiles: this.intake.compiles,
      grammarWorkers: this.intake.workers,
      specDraftTokens: spec?.draftTokens ?? 0,
      specAcceptedTokens: spec?.acceptedTokens ?? 0,
      specVerifySteps: spec?.verifySteps ?? 0,
    });
  }

  /** A read-only picture of the radix tree's largest part (radix-view.ts); null without the radix cache. */
  cacheView(opts: ViewOptions): RadixCacheView | null {
    return this.radix?.view(opts) ?? null;
  }

  /** Where the ids of namespace `salt` run in the radix tree, changing nothing; null without the radix cache. */
  locate(ids: ArrayLike<number>, salt = ""): LocatedPath | null {
    return this.radix?.locate({ ids, salt }) ?? null;
  }

  /** Every sample in flight (queued, compiling its grammar, running), oldest first. */
  requests(): RequestInfo[] {
    const now = performance.now();
    const out: RequestInfo[] = [];
    for (const sub of this.submissions.values()) for (const r of sub.requests) if (r.status !== "finished") out.push(requestInfo(r, now));
    return out;
  }

  /** One of the last requests to finish (a few dozen are kept), by the id it was submitted under. */
  finishedRequest(id: string): FinishedRequest | undefined {
    return this.finishedLog.get(id);
  }

  /** The store dropped a disk item (its onEvict). */
  forgetDiskItem(key: string): void {
    this.cacheTiers?.forgetDiskItem(key);
  }

  /**
   * The prefix `ids` (namespace `salt`) into the KV pool: loaded where the disk tier holds it,
   * computed where not (a request with max_new_tokens 0, which only computes and caches its prompt).
   */
  async warm(ids: readonly number[], salt = ""): Promise<{ cachedTokens: number }> {
    const r = await this.complete({ inputIds: [...ids], params: { maxNewTokens: 0 }, cacheSalt: salt });
    const s = r.samples[0]!;
    if (s.finishReason === "error") throw s.error ?? new Error("the prefix could not be computed");
    if (s.finishReason === "abort") throw new Error("the engine stopped");
    return { cachedTokens: r.usage.cachedTokens };
  }

  /** The disk tier's counts; null without one. */
  diskStats(): DiskTierStats | null {
    return this.cacheTiers?.diskStats() ?? null;
  }

  /** Owned-slot accounting (tests): throws if free + evictable + protected + owned != capacity. */
  checkAccounting(): void {
    this.scheduler.checkAccounting();
  }

  /** Drops every cached entry no request is using; false while requests run (as SGLang); `disk`: the disk store's items too. */
  flushCache(opts: { readonly disk?: boolean } = {}): boolean {
    // Pins go first: a flush drops every entry no request uses, pinned or not.
    if (this.scheduler.idle) this.cacheTiers?.flushing();
    const done = this.scheduler.flushCache();
    if (done && opts.disk) this.cacheTiers?.flushedDisk();
    return done;
  }

  /** Stops taking requests, aborts what is left, and waits for the loop to end. */
  async close(): Promise<void> {
    if (this.closed) return this.loopDone;
    this.closed = true;
    this.abortAll();
    this.kick();
    await this.loopDone;
    await this.cacheTiers?.close();
    await this.intake.close();
    this.runner.close();
  }
}
