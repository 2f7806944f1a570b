// Compiled grammars for one model, on the engine's side. xgrammar runs in a worker thread
// (grammar-worker.ts), so a compile (seconds for the first one on a 150k vocabulary: the
// TokenizerInfo) never blocks the event loop. Each distinct spec is compiled once: the cache
// holds the grammar, or the error a bad spec gave. Requests turn a Grammar into per-sample
// matchers (constraint.ts). If the worker dies, the next compile starts a new one.
import fs from "node:fs";
import type { LoadedModel } from "../model/load.js";
import { GrammarWorker, GrammarWorkerError } from "./grammar-client.js";
import type { TokenizerSource } from "./grammar-protocol.js";
import { normalize, type GrammarSpec } from "./spec.js";

export { GrammarError, ebnfLiteral, type GrammarSpec } from "./spec.js";
export { GrammarWorkerError } from "./grammar-client.js";

/** A compiled grammar, shareable by any number of requests. */
export class Grammar {
  constructor(readonly spec: GrammarSpec,
    /** The worker the grammar lives in; its matchers are made there. */
    readonly worker: GrammarWorker,
    /** The grammar's id in the worker. */
    readonly id: number) {}
}

/** How the worker gets the tokenizer: from the model's file when it is still there (nothing large is copied). */
function tokenizerSource(model: LoadedModel): TokenizerSource {
  if (fs.existsSync(model.path)) return { kind: "file", path: model.path };
  if (model.format === "gguf") return { kind: "gguf", metadata: model.tokenizer.toGGUFMetadata() };
  return { kind: "json", ...model.tokenizer.toTokenizerJson() };
}

export class GrammarCompiler {
  private worker: GrammarWorker | null = null;
  private readonly cache = new Map<string, Promise<Grammar>>();
  private closed = false;
  /** A grammar no request or cache entry holds any more is freed in its worker. */
  private readonly registry = new FinalizationRegistry<{ worker: GrammarWorker; id: number }>(({ worker, id }) => worker.drop(id));
  /** Compile time of every grammar compiled so far (ms, in the worker), for stats and benchmarks. */
  readonly compileMs: number[] = [];

  constructor(private readonly model: LoadedModel, private readonly maxCached = 256) {}

  /** Compiles (or finds in the cache) the grammar of a spec; throws GrammarError when it is bad. */
  async compile(spec: GrammarSpec): Promise<Grammar> {
    if (this.closed) throw new GrammarWorkerError("the engine is closed");
    const n = normalize(spec);
    if (this.worker?.failed) {
      // Its grammars went with it.
      this.worker = null;
      this.cache.clear();
    }
    let p = this.cache.get(n.key);
    if (p) {
      // Most recently used last: the map's first entry is the one to drop when full.
      this.cache.delete(n.key);
      this.cache.set(n.key, p);
      return p;
    }
    p = this.build(n.spec);
    this.cache.set(n.key, p);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }

  /** Sends the worker what is queued (the engine, before a forward pass). */
  flush(): void {
    this.worker?.flush();
  }

  /** Ends the worker; its requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker?.close();
  }

  private async build(spec: GrammarSpec): Promise<Grammar> {
    const c = this.model.config;
    const worker = (this.worker ??= new GrammarWorker({
      tokenizer: tokenizerSource(this.model), vocabSize: c.vocabSize, stopTokenIds: c.eosTokenIds, tokenizerVocabSize: this.model.tokenizer.vocabSize,
    }));
    const { grammar, ms } = await worker.compile(spec);
    this.compileMs.push(ms);
    const g = new Grammar(spec, worker, grammar);
    this.registry.register(g, { worker, id: grammar });
    return g;
  }
}
