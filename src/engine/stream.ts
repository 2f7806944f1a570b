// The caller's side of one request: turns sampled tokens into text deltas (UTF-8 safe,
// stop strings held back until they can't match), checks stop conditions, and delivers
// events to an async iterator or a final result.
import type { LoadedModel } from "../model/load.js";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer.js";
import { Sampler, type SampleResult } from "../sampling/sampler.js";
import { StopMatcher } from "../sampling/stop.js";
import { logSumExp } from "../sampling/logprobs.js";
import { Constraint } from "../structured/constraint.js";
import type { Grammar } from "../structured/grammar.js";
import type { FinishReason, Request } from "./request.js";

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
  readonly topLogprobs?: readonly { token: number; logprob: number }[];
}

export type EngineEvent =
  /** `promptLogprobs`: on the request's first token, when the input asked for them. */
  | { readonly type: "token"; readonly index: number; readonly tokenId: number; readonly text: string; readonly logprob?: TokenLogprob; readonly promptLogprobs?: PromptLogprobs }
  /** `text` is the last delta (text held back until the end), not the whole output. */
  | { readonly type: "finish"; readonly index: number; readonly reason: FinishReason; readonly text: string; readonly usage: Usage; readonly promptLogprobs?: PromptLogprobs };

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

/** log P(prompt token at `start + i` | the tokens before it), for i = 0.. (the model's own, temperature 1). */
export interface PromptLogprobs {
  readonly start: number;
  readonly tokenIds: readonly number[];
  readonly logprobs: readonly number[];
}

export interface GenerateResult {
  readonly samples: SampleOutput[];
  readonly usage: Usage;
  /** When the input asked for promptLogprobsStart. */
  readonly promptLogprobs?: PromptLogprobs;
}

class SampleState {
  readonly sampler: Sampler;
  readonly detok: IncrementalDetokenizer;
  readonly stop: StopMatcher;
  readonly tokenIds: number[] = [];
  readonly logprobs: TokenLogprob[] = [];
  /** The grammar's matcher, when the request is constrained. */
  readonly constraint: Constraint | undefined;
  text = "";
  finishReason: FinishReason | null = null;
  constructor(model: LoadedModel, req: Request, index: number, constraint: StreamConstraint | undefined) {
    this.sampler = new Sampler(req.params, {
      promptTokens: req.tokens.slice(0, req.promptLength),
      vocabSize: model.config.vocabSize,
      eosTokenIds: model.config.eosTokenIds,
      sampleIndex: index,
    });
    this.detok = new IncrementalDetokenizer(model.tokenizer, { skipSpecial: true });
    this.stop = new StopMatcher(req.params.stop ?? []);
    this.constraint = constraint && new Constraint(constraint.grammar, constraint.jumpForward);
  }
}

/** How a request is constrained: its grammar, and whether forced text skips model calls. */
export interface StreamConstraint {
  readonly grammar: Grammar;
  readonly jumpForward: boolean;
}

export class RequestStream {
  /** Samples of n > 1 that wait until the first one has computed the prompt. */
  parked: Request[] = [];
  private readonly states = new Map<Request, SampleState>();
  private readonly queue: EngineEvent[] = [];
  private notify: (() => void) | null = null;
  private error: unknown = null;
  private done = 0;

  private readonly prompt: { start: number; tokenIds: number[]; logprobs: number[]; sent: boolean } | null;

  private readonly jumps: boolean;

  constructor(model: LoadedModel, readonly requests: readonly Request[], private readonly onCancel: () => void, promptLogprobsStart = -1,
    constraint?: StreamConstraint) {
    requests.forEach((r, i) => this.states.set(r, new SampleState(model, r, i, constraint)));
    this.jumps = constraint?.jumpForward ?? false;
    const first = requests[0]!;
    this.prompt = promptLogprobsStart < 1 ? null : {
      start: promptLogprobsStart,
      tokenIds: first.tokens.slice(promptLogprobsStart, first.promptLength),
      logprobs: new Array<number>(first.promptLength - promptLogprobsStart).fill(Number.NaN),
      sent: false,
    };
  }

  /** The logits of prompt position `pos`: the logprob of the token after it. */
  onPromptLogits(req: Request, pos: number, logits: Float32Array): void {
    if (!this.prompt) return;
    const i = pos + 1 - this.prompt.start;
    let max = -Infinity;
    for (let j = 0; j < logits.length; j++) if (logits[j]! > max) max = logits[j]!;
    this.prompt.logprobs[i] = logits[req.tokens[pos + 1]!]! - logSumExp(logits, logits.length, max);
  }

  /** The prompt logprobs the first time they are asked for, then undefined. */
  private takePrompt(): PromptLogprobs | undefined {
    if (!this.prompt || this.prompt.sent) return undefined;
    this.prompt.sent = true;
    return this.promptResult();
  }

  private promptResult(): PromptLogprobs | undefined {
    if (!this.prompt) return undefined;
    return { start: this.prompt.start, tokenIds: this.prompt.tokenIds, logprobs: this.prompt.logprobs };
  }

  /**
   * For a constrained sample, computes the mask of its next token (call it, and await it,
   * before onLogits; the engine does so while the forward pass runs). Null when unconstrained.
   */
  prepare(req: Request): Promise<void> | null {
    return this.states.get(req)?.constraint?.prepare() ?? null;
  }

  /** Samples the next token; returns why the request ends, or null to go on. */
  onLogits(req: Request, logits: Float32Array): FinishReason | null {
    const st = this.states.get(req)!;
    const c = st.constraint;
    const r: SampleResult = st.sampler.sample(logits, c ? { mask: c.nextMask() } : undefined);
    const lp: TokenLogprob | undefined = req.params.logprobs ? { token: r.token, logprob: r.logprob, topLogprobs: r.topLogprobs } : undefined;
    return this.append(req, st, r.token, lp);
  }

  /**
   * Jump-forward, after onLogits went on: appends the text the grammar forces now, as
   * token-by-token decoding would have sampled it (each the only allowed token:
   * log-probability 0). The grammar worker finds and accepts those tokens. Null when the
   * sample does not jump forward; else why the request ends, or null to go on.
   */
  jumpForward(req: Request): Promise<FinishReason | null> | null {
    const st = this.states.get(req);
    const c = st?.constraint;
    if (!st || !c || !this.jumps || st.finishReason || c.terminated) return null;
    return c.takeForced(req.params.maxNewTokens - req.outputLength).then((forced) => {
      if (st.finishReason || req.aborted) return null;
      for (const id of forced) {
        const only = req.params.logprobs ? { token: id, logprob: 0, ...((req.params.topLogprobs ?? 0) > 0 ? { topLogprobs: [{ token: id, logprob: 0 }] } : {}) } : undefined;
        const why = this.append(req, st, id, only, false);
        if (why) return why;
      }
      return null;
    });
  }

  /**
   * Appends one output token: matcher (unless it took the token itself), stop checks, text,
   * event. Returns why the request ends.
   */
  private append(req: Request, st: SampleState, id: number, lp: TokenLogprob | undefined, toMatcher = true): FinishReason | null {
    const p = req.params;
    st.sampler.accept(id);
    if (toMatcher) st.constraint?.accept(id);
    req.tokens.push(id);
    const n = req.outputLength;
    // The sampler never picks EOS or a stop token before min_new_tokens. A grammar that is
    // complete allows only EOS, which ends it even with ignore_eos.
    if (st.sampler.isStopToken(id) || st.constraint?.terminated) return "stop";
    st.tokenIds.push(id);
    if (lp) st.logprobs.push(lp);
    const delta = st.detok.push(id);
    const { emit, stopped } = st.stop.push(delta);
    st.text += emit;
    // The prompt is computed by now: this is its last row's logits, or a later one's.
    const promptLogprobs = this.takePrompt();
    this.push({ type: "token", index: this.index(req), tokenId: id, text: emit, logprob: lp, ...(promptLogprobs ? { promptLogprobs } : {}) });
    if (stopped) return "stop";
    if (n >= p.maxNewTokens) return "length";
    return null;
  }

  onFinish(req: Request, reason: FinishReason): void {
    const st = this.states.get(req)!;
    if (st.finishReason) return;
    st.finishReason = reason;
    st.constraint?.dispose();
    // Release what was held back: an incomplete UTF-8 tail, a partial stop-string match.
    let tail = "";
    if (!st.stop.stopped) {
      const r = st.stop.push(st.detok.flush());
      tail = r.emit + (r.stopped ? "" : st.stop.flush());
    }
    st.text += tail;
    this.done++;
    // Prompt logprobs not yet sent with a token (the first sample stopped at once) go here.
    const promptLogprobs = reason === "abort" ? undefined : this.takePrompt();
    this.push({ type: "finish", index: this.index(req), reason, text: tail, usage: this.usage(), ...(promptLogprobs ? { promptLogprobs } : {}) });
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
    const promptLogprobs = this.promptResult();
    return promptLogprobs ? { samples, usage: this.usage(), promptLogprobs } : { samples, usage: this.usage() };
  }
}
