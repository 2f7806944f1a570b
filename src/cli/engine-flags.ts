// The engine flags shared by every command that runs one (bench offline, serve).
import type { Command } from "commander";
import type { EngineOptions } from "../engine/engine.js";
import type { LoadedModel } from "../model/load.js";
import type { PolicyName } from "../scheduler/policy.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";
import { selectBackend } from "../kernels/select.js";
import { DEFAULT_MAX_DRAFT, MAX_DRAFT_LIMIT, type SpeculativeMode } from "../speculative/speculator.js";

export interface EngineFlagValues {
  backend?: string;
  threads?: string;
  maxTotalTokens?: string;
  kvCacheMemory?: string;
  kvCacheDtype?: string;
  disableRadixCache?: boolean;
  chunkedPrefillSize?: string;
  maxRunningRequests?: string;
  maxQueuedRequests?: string;
  schedulePolicy?: string;
  prefillFirst?: boolean;
  grammarCompileTimeout?: string;
  maxGrammarChars?: string;
  grammarWorkers?: string;
  generationConfig?: string;
  speculative?: string;
  speculativeMaxDraft?: string;
}

export function engineFlags(c: Command): Command {
  return c
    .option("--backend <name>", "auto, native or reference", "auto")
    .option("--threads <n>", "compute threads (default: all cores)")
    .option("--max-total-tokens <n>", "KV pool size in tokens")
    .option("--kv-cache-memory <bytes>", "KV pool size in bytes (when --max-total-tokens is not given)")
    .option("--kv-cache-dtype <type>", "f16 or f32", "f16")
    .option("--disable-radix-cache", "no prefix reuse")
    .option("--chunked-prefill-size <n>", "most tokens computed per step", "512")
    .option("--max-running-requests <n>", "most requests in one batch", "64")
    .option("--max-queued-requests <n>", "most requests waiting; more are rejected")
    .option("--schedule-policy <name>", "lpm, fcfs or dfs-weight", "lpm")
    .option("--prefill-first", "steps are all prefill or all decode, prefill first (SGLang's default); otherwise decodes ride along with prefill chunks")
    .option("--grammar-compile-timeout <seconds>", "longest a grammar (json_schema, regex, ebnf, tools) may compile; past it the request gets a 400", "10")
    .option("--max-grammar-chars <n>", "largest grammar spec compiled (characters of its JSON or text); larger is a 400", String(64 * 1024))
    .option("--grammar-workers <n>", "grammar compiles at once, each in its own worker thread", "2")
    .option("--generation-config <mode>", "auto: a request's unset sampling fields take the model's defaults (generation_config.json, GGUF general.sampling.*); none: radixlm's", "auto")
    .option("--speculative <mode>", SPECULATIVE_HELP, "ngram")
    .option("--speculative-max-draft <n>", SPECULATIVE_MAX_DRAFT_HELP, String(DEFAULT_MAX_DRAFT));
}

export const SPECULATIVE_HELP = "ngram: draft tokens from the request's own text, the radix tree and recent outputs, and verify them in the batch (outputs are bitwise the same); off: one token per step";
export const SPECULATIVE_MAX_DRAFT_HELP = `most tokens drafted per request and step (1..${MAX_DRAFT_LIMIT})`;

/** --speculative and --speculative-max-draft, checked. */
export function speculativeOptions(mode = "ngram", maxDraft = String(DEFAULT_MAX_DRAFT)): { speculative: SpeculativeMode; speculativeMaxDraft: number } {
  if (mode !== "ngram" && mode !== "off") throw new UsageError(`--speculative must be ngram or off, got "${mode}"`);
  const n = parseIntArg("--speculative-max-draft", maxDraft, 1);
  if (n > MAX_DRAFT_LIMIT) throw new UsageError(`--speculative-max-draft must be at most ${MAX_DRAFT_LIMIT}, got ${n}`);
  return { speculative: mode, speculativeMaxDraft: n };
}

export async function engineOptionsFrom(o: EngineFlagValues, _model: LoadedModel): Promise<Omit<EngineOptions, "model">> {
  const policy = o.schedulePolicy ?? "lpm";
  if (!["lpm", "fcfs", "dfs-weight"].includes(policy)) throw new UsageError(`--schedule-policy must be lpm, fcfs or dfs-weight, got "${policy}"`);
  const dtype = o.kvCacheDtype ?? "f16";
  if (dtype !== "f16" && dtype !== "f32") throw new UsageError(`--kv-cache-dtype must be f16 or f32, got "${dtype}"`);
  const backendName = o.backend ?? "auto";
  if (!["auto", "native", "reference"].includes(backendName)) throw new UsageError(`--backend must be auto, native or reference, got "${backendName}"`);
  const threads = o.threads === undefined ? undefined : parseIntArg("--threads", o.threads, 1);
  const generationConfig = o.generationConfig ?? "auto";
  if (generationConfig !== "auto" && generationConfig !== "none") throw new UsageError(`--generation-config must be auto or none, got "${generationConfig}"`);
  const speculative = speculativeOptions(o.speculative, o.speculativeMaxDraft);
  return {
    backend: selectBackend(backendName as "auto" | "native" | "reference", threads),
    maxTotalTokens: o.maxTotalTokens === undefined ? undefined : parseIntArg("--max-total-tokens", o.maxTotalTokens, 16),
    kvCacheMemory: o.kvCacheMemory === undefined ? undefined : parseIntArg("--kv-cache-memory", o.kvCacheMemory, 1),
    kvCacheDtype: dtype,
    disableRadixCache: o.disableRadixCache === true,
    chunkedPrefillSize: parseIntArg("--chunked-prefill-size", o.chunkedPrefillSize ?? "512", 1),
    maxRunningRequests: parseIntArg("--max-running-requests", o.maxRunningRequests ?? "64", 1),
    maxQueuedRequests: o.maxQueuedRequests === undefined ? undefined : parseIntArg("--max-queued-requests", o.maxQueuedRequests, 1),
    policy: policy as PolicyName,
    prefillFirst: o.prefillFirst === true,
    generationConfig,
    ...speculative,
    grammarLimits: {
      compileTimeoutMs: 1000 * parseFloatArg("--grammar-compile-timeout", o.grammarCompileTimeout ?? "10", 0.001),
      maxSpecChars: parseIntArg("--max-grammar-chars", o.maxGrammarChars ?? String(64 * 1024), 1),
      workers: parseIntArg("--grammar-workers", o.grammarWorkers ?? "2", 1),
    },
  };
}
