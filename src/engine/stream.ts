// The caller's side of one request: turns sampled tokens into text deltas (UTF-8 safe,
// stop strings held back until they can't match), checks stop conditions, and delivers
// events to an async iterator or a final result.
import type { LoadedModel } from "../model/load.js";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer.js";
import { Sampler, type SampleResult } from "../sampling/sampler.js";
import { StopMatcher } from "../sampling/stop.js";
import type { FinishReason, Request } from "./request.js";

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
  readonly topLogprobs?: readonly { token: number; logprob: number }[];
}

export type EngineEvent =
  | { readonly type: "token"; readonly index: number; readonly tokenId: number; readonly text: string; readonly logprob?: TokenLogprob }
  /** `text` is the last delta (text held back until the end), not the whole output. */
  | { readonly type: "finish"; readonly index: number; readonly reason: FinishReason; readonly text: string; readonly usage: Usage };

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
}

export interface SampleOutput {
  readonly text: string;
  readonly tokenIds: number[];
  readonly finishReason: FinishReason;
  readonly logprobs: TokenLogprob[];
}

export interface GenerateResult {
  readonly samples: SampleOutput[];
  readonly usage: Usage;
}

class SampleState {
  readonly sampler: Sampler;
  readonly detok: IncrementalDetokenizer;
  readonly stop: StopMatcher;
  readonly tokenIds: number[] = [];
  readonly logprobs: TokenLogprob[] = [];
  text = "";
  finishReason: FinishReason | null = null;
  constructor(model: LoadedModel, req: Request, index: number) {
    this.sampler = new Sampler(req.params, {
      promptTokens: req.tokens.slice(0, req.promptLength),
      vocabSize: model.config.vocabSize,
      eosTokenIds: model.config.eosTokenIds,
      sampleIndex: index,
    });
    this.detok = new IncrementalDetokenizer(model.tokenizer, { skipSpecial: true });
    this.stop = new StopMatcher(req.params.stop ?? []);
  }
}

export class RequestStream {
  /** Samples of n > 1 that wait until the first one has computed the prompt. */
  parked: Request[] = [];
  private readonly states = new Map<Request, SampleState>();
  private readonly queue: EngineEvent[] = [];
  private notify: (() => void) | null = null;
  private error: unknown = null;
  private done = 0;

  constructor(model: LoadedModel, readonly requests: readonly Request[], private readonly onCancel: () => void) {
    requests.forEach((r, i) => this.states.set(r, new SampleState(model, r, i)));
  }

  /** Samples the next token; returns why the request ends, or null to go on. */
  onLogits(req: Request, logits: Float32Array): FinishReason | null {
    const st = this.states.get(req)!;
    const p = req.params;
    const r: SampleResult = st.sampler.sample(logits);
    const id = r.token;
    st.sampler.accept(id);
    req.tokens.push(id);
    const n = req.outputLength;
    // The sampler never picks EOS or a stop token before min_new_tokens.
    if (st.sampler.isStopToken(id)) return "stop";
    st.tokenIds.push(id);
    const lp: TokenLogprob | undefined = p.logprobs ? { token: id, logprob: r.logprob, topLogprobs: r.topLogprobs } : undefined;
    if (lp) st.logprobs.push(lp);
    const delta = st.detok.push(id);
    const { emit, stopped } = st.stop.push(delta);
    st.text += emit;
    this.push({ type: "token", index: this.index(req), tokenId: id, text: emit, logprob: lp });
    if (stopped) return "stop";
    if (n >= p.maxNewTokens) return "length";
    return null;
  }

  onFinish(req: Request, reason: FinishReason): void {
    const st = this.states.get(req)!;
    if (st.finishReason) return;
    st.finishReason = reason;
    // Release what was held back: an incomplete UTF-8 tail, a partial stop-string match.
    let tail = "";
    if (!st.stop.stopped) {
      const r = st.stop.push(st.detok.flush());
      tail = r.emit + (r.stopped ? "" : st.stop.flush());
    }
    st.text += tail;
    this.done++;
    this.push({ type: "finish", index: this.index(req), reason, text: tail, usage: this.usage() });
  }

  fail(_req: Request, err: unknown): void {
    this.error ??= err;
  }

  private index(req: Request): number {
    return this.requests.indexOf(req);
  }

  private usage(): Usage {
    let completion = 0;
    for (const st of this.states.values()) completion += st.tokenIds.length;
    const first = this.requests[0]!;
    return { promptTokens: first.promptLength, completionTokens: completion, cachedTokens: Math.max(0, first.cachedPromptTokens) };
  }

  private push(e: EngineEvent): void {
    this.queue.push(e);
    const n = this.notify;
    this.notify = null;
    n?.();
  }

  get finished(): boolean {
    return this.done === this.requests.length;
  }

  async *events(): AsyncGenerator<EngineEvent> {
    let completed = false;
    try {
      for (;;) {
        while (this.queue.length > 0) yield this.queue.shift()!;
        if (this.error) throw this.error instanceof Error ? this.error : new Error(String(this.error));
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

  async result(): Promise<GenerateResult> {
    for await (const _e of this.events()) {
      // drain
    }
    const samples = this.requests.map((r) => {
      const st = this.states.get(r)!;
      return { text: st.text, tokenIds: st.tokenIds, finishReason: st.finishReason ?? "abort", logprobs: st.logprobs };
    });
    return { samples, usage: this.usage() };
  }
}
