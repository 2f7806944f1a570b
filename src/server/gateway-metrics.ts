// The Gateway API Inference Extension's model-server protocol
// (kubernetes-sigs/gateway-api-inference-extension, docs/proposals/003-model-server-protocol):
// the queue, running and KV-utilization gauges an endpoint picker (EPP) scrapes, under the
// names vLLM and SGLang give them, so an EPP configured for either engine reads radixlm as it is.
//
// The semantics are theirs, and they agree with each other:
// - waiting: requests admitted to the server but not yet in the running batch (vLLM's
//   num_requests_waiting, SGLang's num_queue_reqs); ours include requests whose grammar is
//   still compiling, which wait in the same sense.
// - running: requests in the running batch (num_requests_running, num_running_reqs).
// - KV utilization: a fraction 0..1 (vLLM's kv_cache_usage_perc is a fraction despite its
//   name) of the pool held by running requests. Cached prefixes that nothing holds do not
//   count: SGLang's token_usage is (total - available - evictable) / total, and vLLM's
//   1 - free/total counts a cached block with no reference as free. Ours is EngineStats.kvUsage,
//   (capacity - free - evictable) / capacity: the radix cache's evictable tokens are free.
// - vllm:cache_config_info: an info gauge (value 1) whose labels carry block_size and
//   num_gpu_blocks, which the EPP's prefix-cache scorer uses to size its per-server index.
//   The KV pool has token slots, not blocks, and the radix cache reuses any prefix length, so
//   a block here is a nominal NOMINAL_BLOCK_SIZE tokens (vLLM's default): the EPP hashes a
//   prompt in blocks of this size and caps the blocks it matches (256 by default), so a block
//   of one token would make it match only the first 256 tokens of a prompt.
//
// vllm:lora_requests_info is left out: radixlm serves no LoRA adapters, and vLLM itself
// exports it only with --enable-lora; the EPP reads the other gauges without it.
import { Gauge, type Registry } from "prom-client";
import type { EngineStats } from "../engine/options.js";

/** The metric name families /metrics can carry. */
export const METRIC_NAME_SETS = ["radixlm", "vllm", "sglang"] as const;
export type MetricNameSet = (typeof METRIC_NAME_SETS)[number];

/** What a gateway's EPP reads by default (its flags default to vLLM's names), beside our own. */
export const DEFAULT_METRIC_NAME_SETS: readonly MetricNameSet[] = ["radixlm", "vllm"];

/** Tokens per block in vllm:cache_config_info; see the header. */
export const NOMINAL_BLOCK_SIZE = 16;

/** vLLM labels each engine core's series; a radixlm worker is one engine. */
const VLLM_ENGINE = "0";

type Read = () => EngineStats | null;

/** Registers vLLM's protocol gauges; each reads the engine when scraped. */
export function registerVllmGauges(registry: Registry, stats: Read): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: EngineStats) => number): void => {
    new Gauge({
      name, help, registers, labelNames: ["engine"],
      collect() { const s = stats(); this.set({ engine: VLLM_ENGINE }, s ? read(s) : 0); },
    });
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", (s) => s.running);
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", (s) => s.queued);
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage (cached prefixes nothing holds count as free).", (s) => s.kvUsage);
  new Gauge({
    name: "vllm:cache_config_info",
    help: `Information of the KV cache: block_size is nominal (${NOMINAL_BLOCK_SIZE} tokens; the pool has token slots), num_gpu_blocks is the pool in such blocks.`,
    registers, labelNames: ["block_size", "num_gpu_blocks", "engine"],
    collect() {
      // No series until the engine is attached: the pool's size is unknown before.
      this.reset();
      const s = stats();
      if (s) this.set({ block_size: String(NOMINAL_BLOCK_SIZE), num_gpu_blocks: String(Math.floor(s.kvCapacity / NOMINAL_BLOCK_SIZE)), engine: VLLM_ENGINE }, 1);
    },
  });
}

/** Registers SGLang's protocol gauges. */
export function registerSglangGauges(registry: Registry, stats: Read): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: EngineStats) => number): void => {
    new Gauge({ name, help, registers, collect() { const s = stats(); this.set(s ? read(s) : 0); } });
  };
  gauge("sglang:num_running_reqs", "The number of running requests.", (s) => s.running);
  gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.", (s) => s.queued);
  gauge("sglang:token_usage", "The token usage: share of the KV pool held by running requests (evictable cache counts as free).", (s) => s.kvUsage);
}

/** Parses a comma-separated list of name sets (`radixlm,vllm`); throws naming what is wrong. */
export function parseMetricNameSets(value: string): MetricNameSet[] {
  const list = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new Error(`needs at least one of ${METRIC_NAME_SETS.join(", ")}`);
  const out: MetricNameSet[] = [];
  for (const name of list) {
    const set = METRIC_NAME_SETS.find((s) => s === name);
    if (!set) throw new Error(`"${name}" is not one of ${METRIC_NAME_SETS.join(", ")}`);
    if (!out.includes(set)) out.push(set);
  }
  return out;
}
