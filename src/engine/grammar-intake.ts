// Where a submission's samples enter the scheduler: at once, each with its own matcher when
// the grammar is compiled already; or after their grammar compiles (on the compiler's worker
// threads), waiting outside every queue and batch meanwhile. An abort of the submission stops a
// compile no one else waits for; a grammar that does not compile (bad, too complex, too slow)
// fails its samples.
import type { LoadedModel } from "../model/load.js";
import type { OutputEvent, Scheduler } from "../scheduler/scheduler.js";
import type { Request } from "../scheduler/request.js";
import { Constraint } from "../structured/constraint.js";
import { GrammarCompiler, type Grammar, type GrammarLimits, type GrammarSpec } from "../structured/grammar.js";

export interface IntakeHost {
  readonly scheduler: Scheduler;
  /** The engine stopped taking work: a compile that ends after it enqueues nothing. */
  closed(): boolean;
  kick(): void;
  emit(events: readonly OutputEvent[]): void;
}

export class GrammarIntake {
  private grammars: GrammarCompiler | null = null;
  /** Samples waiting for their grammar to compile. */
  private readonly compiling = new Set<Request>();

  constructor(private readonly model: LoadedModel, private readonly limits: GrammarLimits | undefined, private readonly host: IntakeHost) {}

  /** The compiler, started on first use (its workers cost nothing until a grammar comes). */
  compiler(): GrammarCompiler {
    this.grammars ??= new GrammarCompiler(this.model, this.limits);
    return this.grammars;
  }

  /** Samples waiting for a compile. */
  get waiting(): number {
    return this.compiling.size;
  }

  /** Compiles running now, and the workers they run in. */
  get compiles(): number {
    return this.grammars?.compiling ?? 0;
  }

  get workers(): number {
    return this.grammars?.workerCount ?? 0;
  }

  /** Sends what the workers batched up (masks for this step). */
  flush(): void {
    this.grammars?.flush();
  }

  /** Queues one prompt's samples, each with its own matcher of the grammar (from `after` on, when given). */
  enqueue(samples: readonly Request[], grammar: Grammar | undefined, after: readonly number[] = []): void {
    if (grammar) for (const r of samples) r.constraint = new Constraint(grammar, r.jumpForward, after);
    this.host.scheduler.enqueue(samples);
  }

  /** The samples wait for `spec` to compile (`cancelled`: the submission's abort), then are queued; or fail. */
  compileThenEnqueue(cancelled: AbortSignal, samples: readonly Request[], spec: GrammarSpec, after: readonly number[]): void {
    for (const r of samples) {
      r.status = "compiling";
      this.compiling.add(r);
    }
    const done = (): boolean => {
      for (const r of samples) this.compiling.delete(r);
      return samples.every((r) => r.status === "compiling" && !r.aborted);
    };
    this.compiler().compile(spec, cancelled).then((grammar) => {
      if (!done() || this.host.closed()) return;
      for (const r of samples) r.status = "waiting";
      this.enqueue(samples, grammar, after);
      this.host.kick();
    }, (err: unknown) => {
      if (!done()) return;
      this.host.emit(samples.flatMap((r) => this.host.scheduler.fail(r, err)));
    });
  }

  /** An aborted sample no longer waits for its compile. */
  drop(r: Request): void {
    this.compiling.delete(r);
  }

  async close(): Promise<void> {
    await this.grammars?.close();
  }
}
