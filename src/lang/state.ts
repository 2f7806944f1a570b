// The state a program writes to: the prompt text so far, the variables its gens and
// selects captured, and the chat turns. Every gen sees the whole text as its prompt, so
// the backend's prefix cache reuses whatever an earlier call of the program computed.
// A state runs one call at a time; fork() makes states that run side by side.
import type { ChatMessage } from "../tokenizer/chat-template.js";
import { errorText, LangError, type FinishReason, type GenParams, type RequestUsage } from "./backend.js";
import type { GenOptions, RunContext } from "./context.js";
import { GenHandle } from "./gen-handle.js";
import type { Role } from "./roles.js";

/** What one gen or select left behind, besides its text. */
export interface CallInfo {
  readonly finishReason: FinishReason;
  readonly usage: RequestUsage;
  /** For a select: each option's summed log-probability, in the order given. */
  readonly scores?: readonly number[];
  /** For a select: how many tokens of each option were scored. */
  readonly scoredTokens?: readonly number[];
}

export interface SelectOptions {
  /** "sum" (default): the most likely option; "mean": the best mean log-probability per token (SGLang's default). */
  readonly method?: "sum" | "mean";
}

interface OpenTurn {
  readonly role: Role;
  /** Where the turn's content starts in the text. */
  readonly start: number;
  readonly suffix: string;
  /** The template shows the content only with a later turn (roles.ts): no gen runs inside. */
  readonly hidden: boolean;
}

type Content = string | ((s: ProgramState) => Promise<void>);

export class ProgramState {
  private textSoFar = "";
  private readonly captured = new Map<string, string>();
  private readonly infos = new Map<string, CallInfo>();
  private history: ChatMessage[] = [];
  private turn: OpenTurn | null = null;
  /** The text as the turns alone left it: where a whole-conversation template's next turn may start over. */
  private turnsEnd = "";
  private busy: string | null = null;
  /** A fork's first request waits until the shared prefix is computed. */
  private prefixReady: Promise<unknown> | null = null;

  /** @internal States are made by program runs and by fork(). */
  constructor(private readonly ctx: RunContext, from?: ProgramState) {
    if (from) {
      this.textSoFar = from.textSoFar;
      for (const [k, v] of from.captured) this.captured.set(k, v);
      this.history = [...from.history];
      this.turn = from.turn;
      this.turnsEnd = from.turnsEnd;
    }
  }

  /** The prompt so far. */
  get text(): string {
    return this.textSoFar;
  }

  /** A captured variable (a gen's output, a select's choice, or one set()); throws if there is none. */
  get(name: string): string {
    const v = this.captured.get(name);
    if (v === undefined) throw new LangError(`no variable "${name}" (captured: ${[...this.captured.keys()].join(", ") || "none"})`);
    return v;
  }

  /** Stores a variable without touching the prompt (results collected from forks, say). */
  set(name: string, value: string): this {
    this.captured.set(name, value);
    return this;
  }

  has(name: string): boolean {
    return this.captured.has(name);
  }

  /** All captured variables. */
  get vars(): Record<string, string> {
    return Object.fromEntries(this.captured);
  }

  /** Finish reason, token counts and scores of the gen or select that captured `name`. */
  info(name: string): CallInfo | undefined {
    return this.infos.get(name);
  }

  /** The chat turns so far, the open one included. */
  messages(): ChatMessage[] {
    const out = [...this.history];
    if (this.turn) out.push({ role: this.turn.role, content: this.textSoFar.slice(this.turn.start) });
    return out;
  }

  private ready(what: string): void {
    this.ctx.check(what);
    if (this.busy) throw new LangError(`${what}: this state is still running ${this.busy}; await it first (or fork the state)`);
  }

  /** A gen or select needs the prompt the template shows. */
  private shown(what: string): void {
    if (this.turn?.hidden) throw new LangError(`${what}: the chat template shows a ${this.turn.role} turn only once the next turn is added; end the turn first`);
  }

  /** Adds text to the prompt. */
  append(text: string): this {
    this.ready("append");
    this.textSoFar += text;
    return this;
  }

  system(content: string): this;
  system(block: (s: ProgramState) => Promise<void>): Promise<this>;
  system(content: Content): this | Promise<this> {
    return this.role("system", content);
  }

  user(content: string): this;
  user(block: (s: ProgramState) => Promise<void>): Promise<this>;
  user(content: Content): this | Promise<this> {
    return this.role("user", content);
  }

  assistant(content: string): this;
  assistant(block: (s: ProgramState) => Promise<void>): Promise<this>;
  assistant(content: Content): this | Promise<this> {
    return this.role("assistant", content);
  }

  /** A whole turn: its text, or a block that appends and generates inside it. */
  role(role: Role, content: Content): this | Promise<this> {
    this.beginRole(role);
    if (typeof content === "string") return this.append(content).endRole();
    return content(this).then(() => this.endRole());
  }

  /** Opens a turn: writes the role's prefix as the chat template renders it here. */
  beginRole(role: Role): this {
    this.ready(`${role} turn`);
    if (this.turn) throw new LangError(`cannot open a ${role} turn inside the open ${this.turn.role} turn; end it first`);
    const r = this.ctx.roles().roleText(role, this.history);
    if (r.text !== undefined) {
      // The template renders whole conversations: the turn starts over from its render.
      if (this.textSoFar !== this.turnsEnd) {
        throw new LangError(`cannot open a ${role} turn: this chat template rewrites the earlier turns when one is added, so text written outside a turn cannot be kept; write it inside a turn`);
      }
      this.textSoFar = r.text;
    } else {
      this.textSoFar += r.prefix;
    }
    this.turn = { role, start: this.textSoFar.length, suffix: r.suffix, hidden: r.hidden === true };
    return this;
  }

  /** Closes the open turn with the role's suffix. */
  endRole(): this {
    const turn = this.turn;
    if (!turn) throw new LangError("endRole: no turn is open");
    this.ready(`end of the ${turn.role} turn`);
    this.history.push({ role: turn.role, content: this.textSoFar.slice(turn.start) });
    this.textSoFar += turn.suffix;
    this.turnsEnd = this.textSoFar;
    this.turn = null;
    return this;
  }

  /**
   * Generates from the prompt so far, appends the output and captures it as `name`. Await
   * the handle for the text, or iterate it to stream the text as it comes.
   */
  gen(name: string, options: GenOptions = {}): GenHandle {
    this.ready(`gen "${name}"`);
    this.shown(`gen "${name}"`);
    const params = this.ctx.params(options);
    this.busy = `gen "${name}"`;
    return new GenHandle((push) => this.ctx.track(this.runGen(name, params, push)).finally(() => (this.busy = null)));
  }

  private async runGen(name: string, params: GenParams, push: (text: string) => void): Promise<string> {
    const what = `gen "${name}"`;
    try {
      await this.prefixReady;
      let out = "";
      const req = { text: this.textSoFar, params, requestId: this.ctx.requestId(name) };
      const finish = await this.ctx.requestSignal(async (signal) => {
        for await (const e of this.ctx.backend.generate(req, signal)) {
          if (e.type === "finish") {
            this.ctx.addUsage(e.usage);
            return { finishReason: e.reason, usage: e.usage };
          }
          out += e.text;
          push(e.text);
        }
        return null;
      });
      if (!finish) throw new LangError(`the ${this.ctx.backend.name} ended the request without finishing it`);
      if (finish.finishReason === "abort" || this.ctx.signal.aborted) throw new LangError("the request was aborted");
      this.textSoFar += out;
      this.captured.set(name, out);
      this.infos.set(name, finish);
      return out;
    } catch (err) {
      throw failed(what, err, this.ctx.signal.aborted);
    }
  }

  /** Appends the option the model finds most likely here and captures it as `name`. */
  async select(name: string, options: readonly string[], how: SelectOptions = {}): Promise<string> {
    const what = `select "${name}"`;
    this.ready(what);
    this.shown(what);
    if (!Array.isArray(options) || options.length === 0) throw new LangError(`${what}: give at least one option`);
    for (const o of options) if (typeof o !== "string" || o === "") throw new LangError(`${what}: options must be non-empty strings, got ${JSON.stringify(o)}`);
    this.busy = what;
    try {
      return await this.ctx.track(this.runSelect(name, options, how.method ?? "sum"));
    } catch (err) {
      throw failed(what, err, this.ctx.signal.aborted);
    } finally {
      this.busy = null;
    }
  }

  private async runSelect(name: string, options: readonly string[], method: "sum" | "mean"): Promise<string> {
    await this.prefixReady;
    const id = this.ctx.requestId(name);
    const scores = await this.ctx.requestSignal((signal) => this.ctx.backend.scoreContinuations(this.textSoFar, options, id, signal));
    let best = 0;
    const value = (i: number): number => (method === "sum" ? scores[i]!.logprob : scores[i]!.logprob / Math.max(1, scores[i]!.tokens));
    for (let i = 1; i < options.length; i++) if (value(i) > value(best)) best = i;
    const usage = { promptTokens: 0, cachedTokens: 0, completionTokens: 0 };
    for (const sc of scores) {
      this.ctx.addUsage(sc.usage);
      usage.promptTokens += sc.usage.promptTokens;
      usage.cachedTokens += sc.usage.cachedTokens;
    }
    const choice = options[best]!;
    this.textSoFar += choice;
    this.captured.set(name, choice);
    this.infos.set(name, { finishReason: "stop", usage, scores: scores.map((sc) => sc.logprob), scoredTokens: scores.map((sc) => sc.tokens) });
    return choice;
  }

  /**
   * `n` states that continue from this one, for the program to run side by side. The shared
   * prompt is computed once first, so every branch finds it in the prefix cache.
   */
  fork(n: number): ProgramState[] {
    this.ready("fork");
    if (!Number.isInteger(n) || n < 1) throw new LangError(`fork: n must be an integer >= 1, got ${n}`);
    const forks = Array.from({ length: n }, () => new ProgramState(this.ctx, this));
    let ready = this.prefixReady;
    if (n > 1 && this.textSoFar !== "") {
      const prefix = this.textSoFar;
      const after = this.prefixReady ?? Promise.resolve();
      ready = this.ctx.track(after.then(async () => {
        const id = this.ctx.requestId("fork");
        this.ctx.addUsage(await this.ctx.requestSignal((signal) => this.ctx.backend.cachePrefix(prefix, id, signal)));
      }));
      // A failure surfaces in each branch's next call.
      ready.catch(() => {});
    }
    for (const f of forks) f.prefixReady = ready;
    return forks;
  }
}

/** The error a call rejects with: named for the call, and "aborted" when the whole run was. */
function failed(what: string, err: unknown, aborted: boolean): LangError {
  if (err instanceof LangError && err.message.startsWith(what)) return err;
  if (aborted) return new LangError(`${what}: the program was aborted`, { cause: err });
  return new LangError(`${what} failed: ${errorText(err)}`, { cause: err });
}
