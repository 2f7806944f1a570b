// What an engine is made with, what it reports, and how a submission is refused: the
// engine's option and result records.
import type { CacheStats } from "../kvcache/prefix-cache.js";
import type { DiskStore } from "../kvcache/disk-store.js";
import type { LoadedModel } from "../model/load.js";
import type { Backend, KVDType } from "../kernels/backend.js";
import type { PolicyName } from "../scheduler/policy.js";
import type { GrammarLimits } from "../structured/grammar.js";
import type { KvEventSink } from "../kvcache/kv-events.js";
import type { SpeculativeMode } from "../speculative/speculator.js";

export interface EngineOptions {
  /** Path of an HF folder or GGUF file, or a model already loaded. */
  readonly model: string | LoadedModel;
  readonly backend?: Backend;
  /** KV pool size in tokens (default: from kvCacheMemory, else a share of free RAM). */
  readonly maxTotalTokens?: number;
  readonly kvCacheMemory?: number;
  readonly kvCacheDtype?: KVDType;
  readonly disableRadixCache?: boolean;
  readonly chunkedPrefillSize?: number;
  readonly maxRunningRequests?: number;
  /** Most requests (samples) waiting at once; a submission that can never fit is refused as bad input. */
  readonly maxQueuedRequests?: number;
  readonly policy?: PolicyName;
  /** A step is all prefill or all decode, prefill first (SGLang's default); by default decodes share steps with prefill chunks. */
  readonly prefillFirst?: boolean;
  /** Scales the decode room held back when admitting (SGLang's schedule_conservativeness); 0 admits greedily and relies on retraction. */
  readonly scheduleConservativeness?: number;
  /** Bounds on grammar compiles: time, spec size, compiles at once. */
  readonly grammarLimits?: GrammarLimits;
  /** Decode grammar-forced text token by token instead of appending it at once. */
  readonly disableJumpForward?: boolean;
  /**
   * Where a request's sampling defaults come from (vLLM's --generation-config): "auto" (the
   * default), the model's generation_config.json or GGUF general.sampling.* keys under the
   * request's own fields; "none", radixlm's alone (greedy, no cuts).
   */
  readonly generationConfig?: "auto" | "none";
  /** Check pool accounting after every step (tests). */
  readonly checkInvariants?: boolean;
  /** Where the radix cache's block events go (KV events for llm-d and the router); none by default. */
  readonly kvEvents?: KvEventSink;
  /**
   * The disk tier behind the radix cache (disk-tier.ts): evicted runs stay on disk and are
   * loaded back instead of computed. The store's onEvict must call Engine.forgetDiskItem.
   */
  readonly diskStore?: DiskStore;
  /**
   * Speculative decoding (src/speculative): "ngram" drafts tokens from the request's own
   * text, the radix tree and recent outputs, and verifies them in the batch; outputs are
   * bitwise the same either way (the default: it gains on the edit benchmark and loses no
   * throughput on the others). "off" decodes one token per step.
   */
  readonly speculative?: SpeculativeMode;
  /** Most tokens drafted per request and step (default 16). */
  readonly speculativeMaxDraft?: number;
}

export interface EngineStats {
  readonly running: number;
  readonly queued: number;
  readonly kvCapacity: number;
  readonly kvFree: number;
  readonly kvUsage: number;
  readonly cachedTokens: number;
  readonly evictableTokens: number;
  readonly protectedTokens: number;
  readonly hitTokens: number;
  /** Of hitTokens, those the disk tier loaded back for the request that used them (0 without one); the rest came from RAM. */
  readonly diskHitTokens: number;
  readonly queriedTokens: number;
  readonly evictedTokens: number;
  /** Cache namespaces (distinct cache salts) holding entries. */
  readonly cacheNamespaces: number;
  readonly cacheHitRate: number;
  readonly promptTokensTotal: number;
  readonly generatedTokensTotal: number;
  readonly steps: number;
  readonly retractions: number;
  /** Grammar compiles running now, and the workers they run in. */
  readonly grammarCompiles: number;
  readonly grammarWorkers: number;
  /** Speculative decoding: draft tokens verified, those accepted, and verifications (0 with it off). */
  readonly specDraftTokens: number;
  readonly specAcceptedTokens: number;
  readonly specVerifySteps: number;
}

/** The engine's own counts, beside the cache's and the pool's. */
export type EngineCounts = Pick<EngineStats, "running" | "queued" | "promptTokensTotal" | "generatedTokensTotal" | "steps" | "retractions" | "grammarCompiles" | "grammarWorkers" | "specDraftTokens" | "specAcceptedTokens" | "specVerifySteps">;

/** The stats of a pool of `capacity` slots, `free` of them free, whose cache reports `s`. */
export function statsOf(s: CacheStats, capacity: number, free: number, counts: EngineCounts): EngineStats {
  const used = capacity - free - s.evictableTokens;
  return {
    ...counts,
    kvCapacity: capacity,
    kvFree: free,
    kvUsage: used / capacity,
    cachedTokens: s.cachedTokens,
    evictableTokens: s.evictableTokens,
    protectedTokens: s.protectedTokens,
    hitTokens: s.hitTokens,
    diskHitTokens: s.diskHitTokens ?? 0,
    queriedTokens: s.queriedTokens,
    evictedTokens: s.evictedTokens,
    cacheNamespaces: s.namespaces,
    cacheHitRate: s.queriedTokens > 0 ? s.hitTokens / s.queriedTokens : 0,
  };
}

/** The queue is full now; the same request may fit later (a server answers 429). */
export class QueueFullError extends Error {
  override name = "QueueFullError";
}

export interface SubmitOptions {
  /** The id abort() finds the submission by; unique among those in flight. Made up when absent. */
  readonly requestId?: string;
  readonly signal?: AbortSignal;
}

/** Bytes of K+V per token slot. */
export function kvBytesPerToken(m: LoadedModel, dtype: KVDType): number {
  const c = m.config;
  return 2 * c.numLayers * c.numKvHeads * c.headDim * (dtype === "f16" ? 2 : 4);
}
