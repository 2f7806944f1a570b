// One HTTP request's engine work: one or more prompts, each with n samples, submitted under
// one abort signal. Events of all prompts come out merged and numbered by choice
// (prompt * n + sample); each choice's text, tokens and logprobs accumulate as they pass,
// and the request's latencies go to the metrics.
import { randomUUID } from "node:crypto";
import type { FastifyReply } from "fastify";
import { DEFAULT_SAMPLING, checkSamplingParams, type SamplingParams } from "../sampling/params.js";
import type { FinishReason } from "../engine/request.js";
import type { EngineEvent, PromptLogprobs, TokenLogprob, Usage } from "../engine/stream.js";
import { badRequest, toApiError, type ParamNames } from "./errors.js";
import type { Serving } from "./serving.js";
import type { Grammar } from "../structured/grammar.js";

export interface GenerationSpec {
  /** Request id: /abort_request takes it; the engine ids derive from it. */
  readonly id: string;
  readonly prompts: readonly (readonly number[])[];
  readonly params: Partial<SamplingParams>;
  readonly n: number;
  readonly cacheSalt?: string;
  /** performance.now() when the HTTP request arrived (TTFT and end-to-end latency start here). */
  readonly arrival: number;
  /** Return the logprobs of each prompt's tokens from this position on (>= 1). */
  readonly promptLogprobsStart?: number;
  /** Constrains every choice's output. */
  readonly grammar?: Grammar;
  /** With a grammar: whether forced text skips model calls (default: the engine's setting). */
  readonly jumpForward?: boolean;
}

export interface ChoiceState {
  text: string;
  readonly tokenIds: number[];
  readonly logprobs: TokenLogprob[];
  finishReason: FinishReason | null;
}

export interface ChoiceEvent {
  readonly choice: number;
  readonly prompt: number;
  readonly event: EngineEvent;
}

type Pulled = { i: number; r?: IteratorResult<EngineEvent>; err?: unknown };

export class Generation {
  readonly choices: ChoiceState[];
  private readonly usages: Usage[];
  /** Per prompt, when asked for. */
  readonly promptLogprobs: (PromptLogprobs | undefined)[];
  private readonly controller = new AbortController();
  private readonly iters: AsyncIterator<EngineEvent>[] = [];
  private readonly lastToken: number[];
  private readonly firstSeen: boolean[];
  private started = false;

  /** Submits every prompt; throws an ApiError (and leaves nothing running) when the engine refuses. */
  constructor(private readonly serving: Serving, readonly spec: GenerationSpec, names: ParamNames = {}) {
    const count = spec.prompts.length * spec.n;
    this.choices = Array.from({ length: count }, () => ({ text: "", tokenIds: [], logprobs: [], finishReason: null }));
    this.usages = spec.prompts.map((p) => ({ promptTokens: p.length, completionTokens: 0, cachedTokens: 0 }));
    this.lastToken = new Array<number>(count).fill(-1);
    this.promptLogprobs = spec.prompts.map(() => undefined);
    this.firstSeen = new Array<boolean>(spec.prompts.length).fill(false);
    if (serving.inflight.has(spec.id)) throw badRequest("rid", `A request with id '${spec.id}' is already running.`);
    try {
      checkSamplingParams({ ...DEFAULT_SAMPLING, ...spec.params, n: spec.n }, serving.model.config.vocabSize);
      const engine = serving.engine;
      spec.prompts.forEach((ids, i) => {
        const requestId = spec.prompts.length === 1 ? spec.id : `${spec.id}-p${i}`;
        const input = { inputIds: ids, params: spec.params, n: spec.n, cacheSalt: spec.cacheSalt, requestId, promptLogprobsStart: spec.promptLogprobsStart,
          grammar: spec.grammar, jumpForward: spec.jumpForward };
        this.iters.push(engine.generate(input, { signal: this.controller.signal })[Symbol.asyncIterator]());
      });
    } catch (err) {
      this.controller.abort();
      throw toApiError(err, names);
    }
    serving.register(spec.id, this);
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** Stops every sample at once; their events still end with a finish of reason "abort". */
  abort(): void {
    this.controller.abort();
  }

  /** The usage of one prompt (all of its samples). */
  promptUsage(prompt: number): Usage {
    return this.usages[prompt]!;
  }

  /** The summed usage of every prompt. */
  get usage(): Usage {
    let promptTokens = 0;
    let completionTokens = 0;
    let cachedTokens = 0;
    for (const u of this.usages) {
      promptTokens += u.promptTokens;
      completionTokens += u.completionTokens;
      cachedTokens += u.cachedTokens;
    }
    return { promptTokens, completionTokens, cachedTokens };
  }

  /** The events of all prompts as they come. Stopping early aborts what is left. */
  async *events(): AsyncGenerator<ChoiceEvent> {
    if (this.started) throw new Error("a generation's events can be read once");
    this.started = true;
    const pending = new Map<number, Promise<Pulled>>();
    // Never rejects: a failure is carried as a value, so no rejection goes unhandled.
    const pull = (i: number): void => {
      pending.set(i, this.iters[i]!.next().then((r) => ({ i, r }), (err: unknown) => ({ i, err })));
    };
    this.iters.forEach((_, i) => pull(i));
    let completed = false;
    try {
      while (pending.size > 0) {
        const p = await Promise.race(pending.values());
        pending.delete(p.i);
        if (p.err !== undefined) throw toApiError(p.err);
        if (p.r!.done) continue;
        pull(p.i);
        const event = p.r!.value;
        const choice = p.i * this.spec.n + event.index;
        this.account(p.i, choice, event);
        yield { choice, prompt: p.i, event };
      }
      completed = true;
    } finally {
      if (!completed) {
        this.abort();
        for (const it of this.iters) it.return?.().catch(() => undefined);
      }
      this.serving.unregister(this.spec.id);
      this.serving.metrics.observeRequest(performance.now() - this.spec.arrival, this.worstReason(completed));
    }
  }

  /** Reads every event (for responses sent whole). */
  async run(): Promise<void> {
    for await (const _ of this.events()) {
      // accumulated by account()
    }
  }

  private account(prompt: number, choice: number, e: EngineEvent): void {
    const now = performance.now();
    const c = this.choices[choice]!;
    const metrics = this.serving.metrics;
    if (!this.firstSeen[prompt]) {
      this.firstSeen[prompt] = true;
      metrics.observeTtft(now - this.spec.arrival);
    } else if (e.type === "token" && this.lastToken[choice]! >= 0) {
      metrics.observeItl(now - this.lastToken[choice]!);
    }
    if (e.promptLogprobs) this.promptLogprobs[prompt] = e.promptLogprobs;
    if (e.type === "token") {
      this.lastToken[choice] = now;
      c.text += e.text;
      c.tokenIds.push(e.tokenId);
      if (e.logprob) c.logprobs.push(e.logprob);
    } else {
      c.text += e.text;
      c.finishReason = e.reason;
      this.usages[prompt] = e.usage;
    }
  }

  private worstReason(completed: boolean): FinishReason {
    if (!completed || this.choices.some((c) => c.finishReason === "abort" || c.finishReason === null)) return "abort";
    return this.choices.some((c) => c.finishReason === "length") ? "length" : "stop";
  }
}

/** performance.now() when the request arrived (fastify times it from its first hook). */
export function arrivalOf(reply: FastifyReply): number {
  return performance.now() - reply.elapsedTime;
}

/** A request id: the prefix and 24 random hex digits. */
export function newId(prefix: string): string {
  return prefix + randomUUID().replace(/-/g, "").slice(0, 24);
}
