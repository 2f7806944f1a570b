// One submission in flight: its requests (by prompt, then sample) and the stream they
// report to. Turns what the scheduler produced for its requests into the caller's events.
import type { OutputEvent } from "../scheduler/scheduler.js";
import type { Request } from "../scheduler/request.js";
import { RequestStream, type SampleOutput, type Usage } from "./stream.js";
import { pooledOutput } from "./pool-step.js";

export class Submission {
  readonly stream: RequestStream;
  private open: number;
  /** Undoes what tied the submission to its caller (an abort signal's listener). */
  detach: () => void = () => {};
  private readonly controller = new AbortController();

  constructor(readonly id: string, readonly parts: readonly (readonly Request[])[], onCancel: () => void) {
    this.open = parts.reduce((a, p) => a + p.length, 0);
    this.stream = new RequestStream(id, this.open, onCancel);
  }

  /** Aborts when the submission is aborted (a grammar compile for it stops then). */
  get cancelled(): AbortSignal {
    return this.controller.signal;
  }

  cancel(): void {
    this.controller.abort();
  }

  get requests(): Request[] {
    return this.parts.flat();
  }

  /** Every sample has finished. */
  get done(): boolean {
    return this.open === 0;
  }

  /** Puts one of its requests' events on the stream. */
  deliver(e: OutputEvent): void {
    const req = e.req;
    const samples = this.parts[req.part]!;
    const first = samples[0]!;
    // The prompt's logprobs go with its first event (not with an abort or a failure).
    const withPrompt = first.promptLogprobs !== null && !first.promptLogprobsSent &&
      (e.kind === "token" || (req.finishReason !== "abort" && req.finishReason !== "error"));
    if (withPrompt) first.promptLogprobsSent = true;
    const promptLogprobs = withPrompt ? { promptLogprobs: first.promptLogprobs! } : {};
    if (e.kind === "token") {
      this.stream.push({ type: "token", index: req.index, part: req.part, tokenId: e.tokenId, text: e.text, ...(e.logprob ? { logprob: e.logprob } : {}), ...promptLogprobs });
      return;
    }
    this.open--;
    this.stream.push({ type: "finish", index: req.index, part: req.part, reason: req.finishReason!, text: e.text, usage: usageOf(samples), output: outputOf(req), ...promptLogprobs });
  }
}

function usageOf(samples: readonly Request[]): Usage {
  let completion = 0;
  let accepted = 0;
  let drafted = 0;
  for (const r of samples) {
    completion += r.outputLength - (r.endedOnStopToken ? 1 : 0);
    accepted += r.spec.acceptedTokens;
    drafted += r.spec.draftTokens;
  }
  const first = samples[0]!;
  return { promptTokens: first.promptLength, completionTokens: completion, cachedTokens: Math.max(0, first.cachedPromptTokens), acceptedDraftTokens: accepted, rejectedDraftTokens: drafted - accepted };
}

function outputOf(req: Request): SampleOutput {
  const out: SampleOutput = { text: req.text, tokenIds: req.outputIds, finishReason: req.finishReason!, logprobs: req.logprobs, speculative: { ...req.spec } };
  const pooled = req.finishReason === "stop" ? pooledOutput(req) : undefined;
  return req.error ? { ...out, error: req.error } : pooled ? { ...out, pooled } : out;
}
