// The caller's end of one submission: a queue of events and the iterator that reads it.
// It decides nothing: the engine's step puts in what the scheduler's postprocess produced.
import type { FinishReason, PromptLogprobs, TokenLogprob } from "../scheduler/request.js";
import type { SpeculativeStats } from "../speculative/speculator.js";

export type { FinishReason, PromptLogprobs, TokenLogprob } from "../scheduler/request.js";

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  /** Speculative decoding: drafted tokens the model agreed with (output it skipped steps for), and those it did not. */
  readonly acceptedDraftTokens: number;
  readonly rejectedDraftTokens: number;
}

/** One sample's speculative decoding (the same counts the engine keeps in total). */
export type SpeculativeCounts = SpeculativeStats;

/** One sample's whole output. */
export interface SampleOutput {
  readonly text: string;
  readonly tokenIds: number[];
  readonly finishReason: FinishReason;
  readonly logprobs: TokenLogprob[];
  /** Why it failed (finishReason "error"). */
  readonly error?: Error;
  /** Its speculative decoding (all zero with it off). */
  readonly speculative?: SpeculativeCounts;
  /** A pooling input's result: its pooled hidden state, and the logits it asked for. */
  readonly pooled?: { readonly hidden: Float32Array; readonly logits?: Float32Array };
}

/**
 * `index`: the output's place in its submission (prompt-major, then sample); `part`: which
 * prompt of the submission it samples. `promptLogprobs`: once per prompt, on its first
 * event, when the input asked for them.
 */
export type EngineEvent =
  | { readonly type: "token"; readonly index: number; readonly part: number; readonly tokenId: number; readonly text: string;
    readonly logprob?: TokenLogprob; readonly promptLogprobs?: PromptLogprobs }
  /** `text` is the last delta (text held back until the end); `output` the sample's whole output; `usage` that of its prompt. */
  | { readonly type: "finish"; readonly index: number; readonly part: number; readonly reason: FinishReason; readonly text: string;
    readonly usage: Usage; readonly output: SampleOutput; readonly promptLogprobs?: PromptLogprobs };

export interface GenerateResult {
  readonly samples: SampleOutput[];
  readonly usage: Usage;
  /** When the input asked for promptLogprobsStart. */
  readonly promptLogprobs?: PromptLogprobs;
}

export class RequestStream {
  private readonly queue: EngineEvent[] = [];
  private notify: (() => void) | null = null;
  private open: number;
  private reading = false;

  /** `outputs`: how many samples the submission has; `onCancel`: a reader that stops early aborts them. */
  constructor(readonly id: string, readonly outputs: number, private readonly onCancel: () => void) {
    this.open = outputs;
  }

  push(e: EngineEvent): void {
    if (e.type === "finish") this.open--;
    this.queue.push(e);
    const n = this.notify;
    this.notify = null;
    n?.();
  }

  get finished(): boolean {
    return this.open === 0;
  }

  /** Every event as it comes, until each sample has finished. A failed sample finishes with reason "error". */
  async *events(): AsyncGenerator<EngineEvent> {
    if (this.reading) throw new Error("a request's events can be read once");
    this.reading = true;
    let completed = false;
    try {
      for (;;) {
        while (this.queue.length > 0) yield this.queue.shift()!;
        if (this.finished) {
          completed = true;
          return;
        }
        await new Promise<void>((r) => (this.notify = r));
      }
    } finally {
      // A consumer that stops reading (break, disconnect) cancels the request.
      if (!completed) this.onCancel();
    }
  }

  /** The events, and then, if a sample failed, its error (thrown after its last event). */
  async *eventsOrThrow(): AsyncGenerator<EngineEvent> {
    let error: Error | undefined;
    for await (const e of this.events()) {
      if (e.type === "finish" && e.output.error) error ??= e.output.error;
      yield e;
    }
    if (error) throw error;
  }

  /** The whole result (of a one-prompt submission); rejects with a failed sample's error. */
  async result(): Promise<GenerateResult> {
    const samples: SampleOutput[] = new Array(this.outputs);
    let usage: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, acceptedDraftTokens: 0, rejectedDraftTokens: 0 };
    let promptLogprobs: PromptLogprobs | undefined;
    for await (const e of this.eventsOrThrow()) {
      promptLogprobs ??= e.promptLogprobs;
      if (e.type !== "finish") continue;
      samples[e.index] = e.output;
      usage = e.usage;
    }
    return promptLogprobs ? { samples, usage, promptLogprobs } : { samples, usage };
  }
}
