// One HTTP request's engine work: one or more prompts, each with n samples, submitted to
// the engine as one all-or-nothing submission under the request's id. Its events come out
// numbered by choice (prompt * n + sample); each finish carries its choice's whole output,
// and the request's latencies go to the metrics.
import { randomUUID } from "node:crypto";
import type { FastifyReply } from "fastify";
import type { GenerateInput } from "../engine/input.js";
import type { EngineEvent, FinishReason, PromptLogprobs, RequestStream, SampleOutput, Usage } from "../engine/stream.js";
import { ApiError, toApiError, type ParamNames } from "./errors.js";
import type { Serving } from "./serving.js";

export interface GenerationSpec {
  /** Request id: /abort_request takes it. */
  readonly id: string;
  /** One engine input per prompt, each with its ids, parameters, n, salt and grammar. */
  readonly inputs: readonly GenerateInput[];
  /** performance.now() when the HTTP request arrived (TTFT and end-to-end latency start here). */
  readonly arrival: number;
}

export interface ChoiceEvent {
  readonly choice: number;
  readonly prompt: number;
  readonly event: EngineEvent;
}

export class Generation {
  /** Each choice's whole output, once it finished. */
  readonly outputs: (SampleOutput | undefined)[];
  private readonly usages: Usage[];
  /** Per prompt, when asked for. */
  readonly promptLogprobs: (PromptLogprobs | undefined)[];
  private readonly controller = new AbortController();
  private readonly stream: RequestStream;
  private readonly iter: AsyncGenerator<EngineEvent>;
  private readonly lastToken: number[];
  private readonly firstSeen: boolean[];
  private head: IteratorResult<EngineEvent> | null = null;
  private started = false;
  private readonly untrack: () => void;

  /** Submits every prompt; throws an ApiError (and leaves nothing queued) when the engine refuses any. */
  constructor(private readonly serving: Serving, readonly spec: GenerationSpec, private readonly names: ParamNames = {}) {
    try {
      this.stream = serving.engine.submit(spec.inputs, { requestId: spec.id, signal: this.controller.signal });
    } catch (err) {
      throw toApiError(err, names);
    }
    this.iter = this.stream.events();
    this.outputs = new Array<SampleOutput | undefined>(this.stream.outputs).fill(undefined);
    this.usages = spec.inputs.map(() => ({ promptTokens: 0, completionTokens: 0, cachedTokens: 0, acceptedDraftTokens: 0, rejectedDraftTokens: 0 }));
    this.promptLogprobs = spec.inputs.map(() => undefined);
    this.lastToken = new Array<number>(this.stream.outputs).fill(-1);
    this.firstSeen = new Array<boolean>(spec.inputs.length).fill(false);
    this.untrack = serving.track(this);
  }

  /** Choices in all (prompts x n). */
  get count(): number {
    return this.outputs.length;
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
    const sum = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, acceptedDraftTokens: 0, rejectedDraftTokens: 0 };
    for (const u of this.usages) {
      sum.promptTokens += u.promptTokens;
      sum.completionTokens += u.completionTokens;
      sum.cachedTokens += u.cachedTokens;
      sum.acceptedDraftTokens += u.acceptedDraftTokens;
      sum.rejectedDraftTokens += u.rejectedDraftTokens;
    }
    return sum;
  }

  /**
   * Waits for the first event, so a stream opens only once something went right: a request
   * that fails before anything was sent throws its ApiError (400 or 500), as a whole
   * response does.
   */
  async firstEvent(): Promise<void> {
    if (this.head || this.started) return;
    this.head = await this.iter.next();
    const e = this.head.done ? null : this.head.value;
    if (e?.type === "finish" && e.output.error) {
      const err = toApiError(e.output.error, this.names);
      await this.run();
      throw err;
    }
  }

  /** The events of all prompts as they come. Stopping early aborts what is left. */
  async *events(): AsyncGenerator<ChoiceEvent> {
    if (this.started) throw new Error("a generation's events can be read once");
    this.started = true;
    let completed = false;
    try {
      for (;;) {
        const r = this.head ?? (await this.iter.next());
        this.head = null;
        if (r.done) break;
        const event = r.value;
        this.account(event);
        yield { choice: event.index, prompt: event.part, event };
      }
      completed = true;
    } finally {
      if (!completed) {
        this.abort();
        await this.iter.return(undefined);
      }
      this.untrack();
      this.serving.metrics.observeRequest(performance.now() - this.spec.arrival, this.worstReason(completed));
    }
  }

  /** Reads every event (for responses sent whole). */
  async run(): Promise<void> {
    for await (const _ of this.events()) {
      // accumulated by account()
    }
  }

  /** After run(): the first failed choice's error as the API answers it, or null. */
  failure(): ApiError | null {
    const failed = this.outputs.find((o) => o?.error);
    return failed ? toApiError(failed.error, this.names) : null;
  }

  private account(e: EngineEvent): void {
    const now = performance.now();
    const metrics = this.serving.metrics;
    if (!this.firstSeen[e.part]) {
      this.firstSeen[e.part] = true;
      metrics.observeTtft(now - this.spec.arrival);
    } else if (e.type === "token" && this.lastToken[e.index]! >= 0) {
      metrics.observeItl(now - this.lastToken[e.index]!);
    }
    if (e.promptLogprobs) this.promptLogprobs[e.part] = e.promptLogprobs;
    if (e.type === "token") {
      this.lastToken[e.index] = now;
    } else {
      this.outputs[e.index] = e.output;
      this.usages[e.part] = e.usage;
    }
  }

  private worstReason(completed: boolean): FinishReason {
    const reasons = this.outputs.map((o) => o?.finishReason);
    if (reasons.includes("error")) return "error";
    if (!completed || reasons.includes("abort") || reasons.includes(undefined)) return "abort";
    return reasons.includes("length") ? "length" : "stop";
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
