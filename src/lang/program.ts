// program(fn) wraps an async function of a state into something to run against a backend,
// once or over a batch of inputs. A run owns every request its states make: when it ends,
// by returning or by failing, whatever is still in flight is aborted and waited for.
import { LangError, type LangBackend } from "./backend.js";
import { RunContext, type GenOptions, type ProgramUsage } from "./context.js";
import { ProgramState } from "./state.js";
import type { ChatMessage } from "../tokenizer/chat-template.js";

export interface RunOptions {
  readonly backend: LangBackend;
  /** Sampling options every gen starts from (default: greedy, at most 128 tokens). */
  readonly defaults?: GenOptions;
  /** Aborts the run: its requests are cancelled and run() rejects. */
  readonly signal?: AbortSignal;
}

export interface BatchOptions extends RunOptions {
  /** Runs at most this many programs at once (default 8). */
  readonly concurrency?: number;
}

export interface ProgramResult<R> {
  /** What the program function returned. */
  readonly value: R;
  /** The final prompt text, outputs included. */
  readonly text: string;
  /** The variables the program captured on its own state. */
  readonly vars: Record<string, string>;
  readonly messages: ChatMessage[];
  /** Token counts over every request of the run, and its cache hit rate. */
  readonly usage: ProgramUsage;
  /** The state itself (get(), info()); its calls throw once the run is over. */
  readonly state: ProgramState;
}

export type ProgramFunction<A, R> = (s: ProgramState, args: A) => Promise<R>;

export class Program<A, R> {
  constructor(private readonly fn: ProgramFunction<A, R>) {}

  async run(args: A, options: RunOptions): Promise<ProgramResult<R>> {
    const { backend, signal } = options;
    if (!backend || typeof backend.generate !== "function") throw new LangError("run: give a backend (localEngine(engine) or endpoint(url))");
    if (signal?.aborted) throw new LangError("the program was aborted before it started");
    const facts = await backend.modelFacts(signal);
    const ctx = new RunContext(backend, facts, options.defaults ?? {});
    const onAbort = (): void => ctx.controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const state = new ProgramState(ctx);
    try {
      const value = await this.fn(state, args);
      // Requests the program started but never awaited are not part of its result.
      await ctx.release("has finished");
      return { value, text: state.text, vars: state.vars, messages: state.messages(), usage: ctx.usage(), state };
    } catch (err) {
      await ctx.release("has failed");
      if (signal?.aborted && !(err instanceof LangError)) throw new LangError("the program was aborted", { cause: err });
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Runs the program over each input, `concurrency` at a time; results in input order. The first failure aborts the rest. */
  async runBatch(argsList: readonly A[], options: BatchOptions): Promise<ProgramResult<R>[]> {
    const concurrency = options.concurrency ?? 8;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new LangError(`runBatch: concurrency must be an integer >= 1, got ${concurrency}`);
    const batch = new AbortController();
    const onAbort = (): void => batch.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const results: ProgramResult<R>[] = new Array(argsList.length);
    let next = 0;
    const failures: { index: number; error: unknown }[] = [];
    const worker = async (): Promise<void> => {
      while (next < argsList.length && failures.length === 0) {
        const i = next++;
        try {
          results[i] = await this.run(argsList[i]!, { ...options, signal: batch.signal });
        } catch (error) {
          failures.push({ index: i, error });
          batch.abort();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, argsList.length) }, worker));
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    const first = failures[0];
    if (first) {
      const { index, error } = first;
      const message = error instanceof Error ? error.message : String(error);
      throw new LangError(`runBatch: input ${index} failed: ${message}`, { cause: error });
    }
    return results;
  }
}

/** An LLM program: an async function that builds a prompt on `s` and calls s.gen / s.select / s.fork. */
export function program<A = void, R = void>(fn: ProgramFunction<A, R>): Program<A, R> {
  return new Program(fn);
}
