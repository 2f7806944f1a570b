// What one run of a program shares between its state and all the states forked from it:
// the backend, the default sampling options, one abort signal for every request the run
// makes, the requests still in flight (so a failing run can wait until they are released),
// and the token counts that give the run's cache hit rate.
import { randomUUID } from "node:crypto";
import { LangError, type GenParams, type LangBackend, type ModelFacts, type RequestUsage } from "./backend.js";
import { RoleRenderer } from "./roles.js";

/** Options of one gen: GenParams, each optional, and `stop` may be one string. */
export type GenOptions = Partial<Omit<GenParams, "stop">> & { readonly stop?: string | readonly string[] };

/** Token counts summed over every request of a run. */
export interface ProgramUsage {
  readonly requests: number;
  readonly promptTokens: number;
  /** Prompt tokens served from the prefix cache. */
  readonly cachedTokens: number;
  readonly completionTokens: number;
  /** cachedTokens / promptTokens (0 without prompt tokens). */
  readonly cacheHitRate: number;
}

export const DEFAULT_MAX_TOKENS = 128;

export class RunContext {
  readonly controller = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly runId = randomUUID().slice(0, 8);
  private nextRequest = 0;
  private counts = { requests: 0, promptTokens: 0, cachedTokens: 0, completionTokens: 0 };
  private renderer: RoleRenderer | null = null;
  /** Set once the run has returned or failed: later calls on its states are mistakes. */
  ended: string | null = null;

  constructor(readonly backend: LangBackend, readonly facts: ModelFacts, private readonly defaults: GenOptions) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * A signal for one backend request that follows the run's. The backend may leave its
   * listener on it (the engine does); a request's own signal drops them with it, where the
   * run's would collect one per request.
   */
  requestSignal<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const own = new AbortController();
    const follow = (): void => own.abort();
    if (this.signal.aborted) own.abort();
    else this.signal.addEventListener("abort", follow, { once: true });
    return work(own.signal).finally(() => this.signal.removeEventListener("abort", follow));
  }

  /** Throws if the run is over or aborted. */
  check(what: string): void {
    if (this.ended) throw new LangError(`${what}: the program ${this.ended}`);
    if (this.signal.aborted) throw new LangError(`${what}: the program was aborted`);
  }

  roles(): RoleRenderer {
    this.renderer ??= new RoleRenderer(this.facts);
    return this.renderer;
  }

  requestId(label: string): string {
    return `lang-${this.runId}-${++this.nextRequest}-${label.replace(/[^\w.-]/g, "_").slice(0, 32)}`;
  }

  params(options: GenOptions): GenParams {
    const merged = { ...this.defaults, ...options };
    const stop = merged.stop === undefined ? undefined : typeof merged.stop === "string" ? [merged.stop] : merged.stop;
    return { ...merged, stop, maxTokens: merged.maxTokens ?? DEFAULT_MAX_TOKENS, temperature: merged.temperature ?? 0 };
  }

  /** Runs a backend call as part of this run: aborted with it, waited for when it fails. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const done = (): void => {
      this.inflight.delete(work);
    };
    work.then(done, done);
    return work;
  }

  addUsage(u: RequestUsage): void {
    this.counts.requests++;
    this.counts.promptTokens += u.promptTokens;
    this.counts.cachedTokens += u.cachedTokens;
    this.counts.completionTokens += u.completionTokens;
  }

  usage(): ProgramUsage {
    const c = this.counts;
    return { ...c, cacheHitRate: c.promptTokens > 0 ? c.cachedTokens / c.promptTokens : 0 };
  }

  /** Aborts whatever is still in flight and waits until each request has let go. */
  async release(reason: string): Promise<void> {
    this.ended ??= reason;
    if (this.inflight.size > 0) this.controller.abort();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}
