// The grammar worker: a thread that owns xgrammar for one engine, so that compiling a grammar
// (seconds for the first one on a 150k vocabulary) and computing a mask (up to tens of ms)
// never hold up the engine's event loop. It rebuilds the model's tokenizer, compiles specs,
// keeps every sample's matcher, and runs the engine's operations in the order they were
// sent (grammar-protocol.ts), computing masks whenever nothing else is waiting.
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { loadTokenizerSource } from "../tokenizer/source.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { GrammarError } from "./spec.js";
import { XgrammarCompiler, type CompiledGrammar } from "./xgrammar-compile.js";
import { SampleMatcher } from "./matcher.js";
import {
  DRAFT_SEQ, draftMemory, FORCED_COUNT, FORCED_MAX, JUMP_SEQ, MASK_SEQ, MATCHER_FAILED, matcherMemory,
  type MatcherMemory, type WorkerInit, type WorkerMessage, type WorkerOp, type WorkerReply,
} from "./grammar-protocol.js";

const init = workerData as WorkerInit;
const port = parentPort!;

const tokenizer: Promise<Tokenizer> = loadTokenizerSource(init.tokenizer).then((t) => {
  if (t.vocabSize !== init.tokenizerVocabSize) {
    throw new Error(`the grammar worker's tokenizer has ${t.vocabSize} tokens, the engine's ${init.tokenizerVocabSize} (the model file changed?)`);
  }
  return t;
});
// Failures are reported by the operations that need the tokenizer.
tokenizer.catch(() => {});

let compiler: XgrammarCompiler | null = null;
const grammars = new Map<number, CompiledGrammar>();
let nextGrammar = 1;

interface OpenMatcher {
  /** Made asynchronously; operations wait for it. */
  readonly matcher: Promise<SampleMatcher>;
  readonly memory: MatcherMemory;
  failed: boolean;
}
const matchers = new Map<number, OpenMatcher>();

async function open(grammarId: number, memory: MatcherMemory): Promise<SampleMatcher> {
  const g = grammars.get(grammarId);
  if (!g) throw new Error(`no grammar ${grammarId}`);
  const tok = await tokenizer;
  const xm = await g.instance.xg.GrammarMatcher.createGrammarMatcher(g.compiled, [...init.stopTokenIds]);
  return new SampleMatcher(xm, tok, init.vocabSize, memory.mask, new Set(init.stopTokenIds));
}

const epoch = new Int32Array(init.epoch);

let unannounced = false;

/** Writes an answer into a matcher's memory; announce() tells the engine. */
function publish(control: Int32Array, slot: number, value: number): void {
  Atomics.store(control, slot, value);
  unannounced = true;
}

/**
 * Tells the engine that answers were published: once per batch of operations and once
 * when the due masks are done, not once per answer (each notify wakes the engine's thread).
 */
function announce(): void {
  if (!unannounced) return;
  unannounced = false;
  Atomics.add(epoch, 0, 1);
  Atomics.notify(epoch, 0);
}

/** A matcher that cannot go on: the engine is told why, then its waits end. */
function failMatcher(id: number, m: OpenMatcher, err: unknown): void {
  if (m.failed) return;
  m.failed = true;
  port.postMessage({ replies: [], failed: [{ matcher: id, message: err instanceof Error ? err.message : String(err) }] } satisfies WorkerMessage);
  publish(m.memory.control, JUMP_SEQ, MATCHER_FAILED);
  publish(m.memory.control, MASK_SEQ, MATCHER_FAILED);
  publish(m.memory.control, DRAFT_SEQ, MATCHER_FAILED);
  announce();
  m.matcher.then((x) => x.dispose(), () => {});
}

/** Feeds sampled tokens; false when the matcher failed. */
function acceptAll(id: number, m: OpenMatcher, x: SampleMatcher, tokens: readonly number[]): boolean {
  for (const t of tokens) {
    // A token the grammar refuses is the engine's bug: the sample fails with it.
    if (!x.accept(t)) {
      failMatcher(id, m, new Error(`the grammar refused token ${t}`));
      return false;
    }
  }
  return true;
}

/** Per batch: the matchers whose next mask is due, and the sequence number it answers. */
type DueMasks = Map<number, number>;

/** Runs one operation; the answer, when the operation has an id. */
async function run(op: WorkerOp, due: DueMasks): Promise<WorkerReply | null> {
  switch (op.op) {
    case "warm":
      compiler ??= new XgrammarCompiler(await tokenizer, init.vocabSize, init.stopTokenIds);
      await compiler.warm();
      return { id: op.id, ok: true, warm: true };
    case "compile": {
      const t0 = performance.now();
      compiler ??= new XgrammarCompiler(await tokenizer, init.vocabSize, init.stopTokenIds);
      const compiled = await compiler.compile(op.spec);
      const id = nextGrammar++;
      grammars.set(id, compiled);
      return { id: op.id, ok: true, grammar: id, ms: performance.now() - t0 };
    }
    case "drop":
      grammars.get(op.grammar)?.compiled.dispose();
      grammars.delete(op.grammar);
      return null;
    case "open": {
      const memory = matcherMemory(op.memory);
      const m: OpenMatcher = { matcher: open(op.grammar, memory), memory, failed: false };
      matchers.set(op.matcher, m);
      await m.matcher.catch((err: unknown) => failMatcher(op.matcher, m, err));
      due.set(op.matcher, 0);
      return null;
    }
    case "accept": {
      const m = matchers.get(op.matcher);
      if (!m || m.failed) return null;
      if (acceptAll(op.matcher, m, await m.matcher, op.tokens)) due.set(op.matcher, op.seq);
      return null;
    }
    case "jump": {
      const m = matchers.get(op.matcher);
      if (!m || m.failed) return null;
      const x = await m.matcher;
      if (!acceptAll(op.matcher, m, x, op.tokens)) return null;
      const forced = x.takeForced(Math.min(op.budget, FORCED_MAX));
      m.memory.forced.set(forced);
      m.memory.control[FORCED_COUNT] = forced.length;
      publish(m.memory.control, JUMP_SEQ, op.seq);
      due.set(op.matcher, op.seq);
      return null;
    }
    case "draft": {
      const m = matchers.get(op.matcher);
      if (!m || m.failed) return null;
      const x = await m.matcher;
      if (!acceptAll(op.matcher, m, x, op.tokens)) return null;
      const d = draftMemory(op.memory);
      try {
        d.allowed[0] = await x.draftMasks(op.draft, d.masks);
      } catch (err) {
        failMatcher(op.matcher, m, err);
        return null;
      }
      publish(m.memory.control, DRAFT_SEQ, op.seq);
      return null;
    }
    case "free": {
      const m = matchers.get(op.matcher);
      matchers.delete(op.matcher);
      due.delete(op.matcher);
      if (m && !m.failed) (await m.matcher).dispose();
      return null;
    }
    case "stats":
      return { id: op.id, ok: true, stats: { matchers: matchers.size, grammars: grammars.size } };
  }
}

/** Computes a due mask and publishes it. */
async function computeMask(id: number, seq: number): Promise<void> {
  const m = matchers.get(id);
  if (!m || m.failed) return;
  try {
    await (await m.matcher).prepare();
    publish(m.memory.control, MASK_SEQ, seq);
  } catch (err) {
    failMatcher(id, m, err);
  }
}

async function computeMasks(due: DueMasks): Promise<void> {
  for (const [id, seq] of [...due]) {
    due.delete(id);
    await computeMask(id, seq);
  }
}

function failure(op: WorkerOp, err: unknown): WorkerReply | null {
  if (!("id" in op)) return null;
  const message = err instanceof Error ? err.message : String(err);
  return err instanceof GrammarError ? { id: op.id, ok: false, message, grammarError: err.kind } : { id: op.id, ok: false, message };
}

/** Runs a batch's operations in order; the masks they make due are left in `due`. */
async function runBatch(ops: readonly WorkerOp[], due: DueMasks): Promise<void> {
  let replies: WorkerReply[] = [];
  const flush = (): void => {
    if (replies.length > 0) port.postMessage({ replies } satisfies WorkerMessage);
    replies = [];
  };
  for (const op of ops) {
    // A compile (or a warm-up) can take seconds: what is done before it is answered first, masks included.
    if (op.op === "compile" || op.op === "warm") {
      flush();
      await computeMasks(due);
      announce();
    }
    let reply: WorkerReply | null;
    try {
      reply = await run(op, due);
    } catch (err) {
      reply = failure(op, err);
    }
    if (reply) replies.push(reply);
    if (op.op === "compile" || op.op === "warm") flush();
  }
  flush();
}

// Sampled tokens and jump-forwards come first, whenever they were sent: the engine waits on
// them now, and on a mask only after its next forward pass. So between two masks the worker
// takes every message that arrived (receiveMessageOnPort: without waiting for an event).
const inbox: (readonly WorkerOp[])[] = [];
const due: DueMasks = new Map();
let pumping = false;

async function pump(): Promise<void> {
  pumping = true;
  try {
    for (;;) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) inbox.push(m.message as readonly WorkerOp[]);
      const ops = inbox.shift();
      if (ops) {
        await runBatch(ops, due);
        announce();
        continue;
      }
      const next = due.entries().next();
      if (next.done) return;
      due.delete(next.value[0]);
      await computeMask(next.value[0], next.value[1]);
      if (due.size === 0) announce();
    }
  } finally {
    pumping = false;
    announce();
  }
}

port.on("message", (ops: readonly WorkerOp[]) => {
  inbox.push(ops);
  if (!pumping) void pump();
});
