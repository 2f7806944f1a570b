// Loads model files in a worker thread with a small heap and a time limit per file, so that a
// file which hangs the loader or exhausts memory fails its test case instead of the test run.
import { Worker } from "node:worker_threads";

export type LoadOutcome =
  /** Loaded, and a short greedy generation gave finite logits. */
  | { readonly kind: "generated"; readonly ms: number; readonly tokens: number; readonly text: string }
  | { readonly kind: "refused"; readonly ms: number; readonly name: string; readonly message: string; readonly formatError: boolean; readonly causeName: string | null }
  | { readonly kind: "nonfinite"; readonly ms: number }
  | { readonly kind: "failed after load"; readonly ms: number; readonly name: string; readonly message: string }
  | { readonly kind: "timeout"; readonly ms: number }
  /** The worker died: out of memory, or a crash. */
  | { readonly kind: "crashed"; readonly ms: number; readonly message: string };

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const INTERNAL = new Set(["TypeError", "RangeError", "ReferenceError", "InternalError"]);

/**
 * Why a mutated file's outcome is not acceptable, or null when it is: it must load and generate
 * finite logits, or be refused with one FormatError line that names the file (no internal
 * error, no raw control characters, not overlong).
 */
export function loadProblem(o: LoadOutcome, model: string, timeoutMs: number): string | null {
  switch (o.kind) {
    case "generated":
      return null;
    case "refused":
      if (!o.formatError) return `${o.name} instead of a FormatError: ${o.message}`;
      if (o.causeName !== null && INTERNAL.has(o.causeName)) return `an internal ${o.causeName} reported as the file's fault: ${o.message}`;
      if (!o.message.startsWith(`${model}: `) && !o.message.startsWith(`${model}/`)) return `does not name the model's file: ${o.message}`;
      if (CONTROL.test(o.message)) return `raw control characters: ${JSON.stringify(o.message)}`;
      if (o.message.length > 600) return `${o.message.length} characters long`;
      return null;
    case "nonfinite":
      return "generated with non-finite logits";
    case "failed after load":
      return `loaded, then generation failed: ${o.name}: ${o.message}`;
    case "timeout":
      return `no answer within ${timeoutMs} ms`;
    case "crashed":
      return `the worker died: ${o.message}`;
  }
}

export interface IsolatedLoaderOptions {
  /** Old-generation heap of the worker (default 256 MB). */
  readonly heapMb?: number;
}

export class IsolatedLoader {
  private worker: Worker | null = null;
  private nextId = 0;

  constructor(private readonly opts: IsolatedLoaderOptions = {}) {}

  private spawn(): Worker {
    const w = new Worker(new URL("./load-worker.js", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.opts.heapMb ?? 256, maxYoungGenerationSizeMb: 32 },
      stderr: true,
    });
    w.unref();
    return w;
  }

  /** Loads `path` and generates a few tokens; never throws, never waits beyond `timeoutMs`. */
  load(path: string, timeoutMs: number): Promise<LoadOutcome> {
    const w = (this.worker ??= this.spawn());
    const id = this.nextId++;
    const t0 = performance.now();
    return new Promise((resolve) => {
      const done = (o: LoadOutcome, keep: boolean): void => {
        clearTimeout(timer);
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
        if (!keep) {
          void w.terminate();
          if (this.worker === w) this.worker = null;
        }
        resolve(o);
      };
      const onMessage = (m: { id: number; outcome: LoadOutcome }): void => {
        if (m.id === id) done(m.outcome, true);
      };
      const onError = (err: Error): void => done({ kind: "crashed", ms: performance.now() - t0, message: `${err.name}: ${err.message}` }, false);
      const onExit = (code: number): void => done({ kind: "crashed", ms: performance.now() - t0, message: `worker exited with ${code}` }, false);
      const timer = setTimeout(() => done({ kind: "timeout", ms: performance.now() - t0 }, false), timeoutMs);
      w.on("message", onMessage);
      w.on("error", onError);
      w.on("exit", onExit);
      w.postMessage({ id, path });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}
