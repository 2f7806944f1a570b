// The messages between the engine's thread and the grammar worker (grammar-worker.ts).
// The engine sends batches of operations (one postMessage per tick, however many requests
// ask); the worker runs them in order. Compiles are answered by message. A sample's matcher
// answers through memory the two threads share (MatcherMemory): the worker writes the mask
// of the sample's next token there, and the tokens a jump-forward took, then publishes the
// sequence number of the operation they follow, which the engine waits on (Atomics). So a
// mask costs no message back, and the worker computes it ahead, while the engine is busy
// with the forward pass, right after it was sent the sampled token.
import type { GrammarSpec } from "./spec.js";

export type { TokenizerSource } from "../tokenizer/source.js";
import type { TokenizerSource } from "../tokenizer/source.js";

/** The worker's `workerData`. */
export interface WorkerInit {
  readonly tokenizer: TokenizerSource;
  /** The model's vocabulary (embedding rows): the mask's width. */
  readonly vocabSize: number;
  /** Tokens that end a grammar once it is complete (the model's EOS ids). */
  readonly stopTokenIds: readonly number[];
  /** The engine's tokenizer's size: the worker's copy must have the same. */
  readonly tokenizerVocabSize: number;
  /**
   * One Int32 the worker increments, and notifies, after it published anything in a
   * matcher's memory: the engine waits on it once for all its samples, not once per sample.
   */
  readonly epoch: SharedArrayBuffer;
}

export type WorkerOp =
  | { readonly op: "compile"; readonly id: number; readonly spec: GrammarSpec }
  /** Loads the tokenizer and xgrammar's vocabulary (seconds for a large one); answered when done. */
  | { readonly op: "warm"; readonly id: number }
  /** A compiled grammar no handle refers to any more. */
  | { readonly op: "drop"; readonly grammar: number }
  /** A sample's matcher, answering in `memory` (see matcherMemory); its first mask has sequence number 0. */
  | { readonly op: "open"; readonly matcher: number; readonly grammar: number; readonly memory: SharedArrayBuffer }
  /** Sampled tokens, in order; then the mask of the next token, published as `seq`. */
  | { readonly op: "accept"; readonly matcher: number; readonly tokens: readonly number[]; readonly seq: number }
  /**
   * Sampled tokens, then the tokens of the text the grammar forces (at most `budget`),
   * published as `seq` in the jump slot; then the mask after them, published as `seq`.
   */
  | { readonly op: "jump"; readonly matcher: number; readonly tokens: readonly number[]; readonly budget: number; readonly seq: number }
  /**
   * Speculative decoding: sampled tokens, then the masks along a draft (draftMemory: mask j is
   * the one after draft[0..j)) up to the first draft token the grammar refuses, and how many
   * it allows, published as `seq` in the draft slot. The matcher ends after the sampled tokens.
   */
  | { readonly op: "draft"; readonly matcher: number; readonly tokens: readonly number[]; readonly draft: readonly number[]; readonly seq: number;
    readonly memory: SharedArrayBuffer }
  | { readonly op: "free"; readonly matcher: number }
  /** Live matchers and grammars (tests: aborted requests must free theirs). */
  | { readonly op: "stats"; readonly id: number };

export interface WorkerStats {
  readonly matchers: number;
  readonly grammars: number;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly grammar: number; readonly ms: number }
  | { readonly id: number; readonly ok: true; readonly warm: true }
  | { readonly id: number; readonly ok: true; readonly stats: WorkerStats }
  /** `grammarError`: the spec is bad (a GrammarError of that kind); otherwise the worker failed. */
  | { readonly id: number; readonly ok: false; readonly message: string; readonly grammarError?: GrammarSpec["kind"] };

/** What the worker posts: answers, and matchers that failed (their memory says MATCHER_FAILED). */
export interface WorkerMessage {
  readonly replies: readonly WorkerReply[];
  readonly failed?: readonly { readonly matcher: number; readonly message: string }[];
}

/** Int32 slots at the start of a matcher's memory. */
export const MASK_SEQ = 0;
export const JUMP_SEQ = 1;
export const FORCED_COUNT = 2;
export const DRAFT_SEQ = 3;
const HEADER = 4;
/** The most tokens one jump-forward takes; the rest of a longer forced text goes token by token. */
export const FORCED_MAX = 256;
/** Sequence values that end a wait: not yet written, the matcher failed, the worker is gone. */
export const SEQ_NONE = -1;
export const MATCHER_FAILED = -2;
export const WORKER_GONE = -3;

/** Views of a matcher's memory: the slots above, the forced tokens, and the mask (bit i = token i allowed). */
export interface MatcherMemory {
  readonly control: Int32Array;
  readonly forced: Int32Array;
  readonly mask: Uint32Array;
}

export function matcherMemoryBytes(maskWords: number): number {
  return 4 * (HEADER + FORCED_MAX + maskWords);
}

/** A draft's masks: how many draft tokens the grammar allows, and the masks, `maskWords` each. */
export interface DraftMemory {
  readonly allowed: Int32Array;
  readonly masks: Uint32Array;
}

export function draftMemoryBytes(maskWords: number, draftTokens: number): number {
  return 4 * (HEADER + maskWords * (draftTokens + 1));
}

export function draftMemory(buffer: SharedArrayBuffer): DraftMemory {
  return { allowed: new Int32Array(buffer, 0, 1), masks: new Uint32Array(buffer, 4 * HEADER) };
}

export function matcherMemory(buffer: SharedArrayBuffer): MatcherMemory {
  return {
    control: new Int32Array(buffer, 0, HEADER),
    forced: new Int32Array(buffer, 4 * HEADER, FORCED_MAX),
    mask: new Uint32Array(buffer, 4 * (HEADER + FORCED_MAX)),
  };
}
