// The bound (bound.ts) of a `bench serve` run against a radixlm server on this machine: its
// /get_server_info names the model file and the engine's settings, and the kernels are
// measured here with the same backend and threads, after the run, while the server idles.
import { selectBackend } from "../kernels/select.js";
import { loadModel } from "../model/load.js";
import { meanSharedPrefix, measureKernelCosts, workloadBound, type WorkloadBound } from "./bound.js";
import type { ServeReport } from "./serve-report.js";
import type { Workload } from "./workloads.js";

/** The engine settings a radixlm server reports under `engine` in /get_server_info. */
export interface ServerEngine {
  readonly backend: "native" | "reference";
  readonly threads: number;
  readonly kvCacheDtype: "f16" | "f32";
  readonly chunkedPrefillSize: number;
  readonly maxRunningRequests: number;
}

/** The settings out of /get_server_info's `engine` field; null where they are missing or odd. */
export function serverEngine(info: Record<string, unknown> | null): ServerEngine | null {
  const e = info?.engine;
  if (!e || typeof e !== "object") return null;
  const v = e as Record<string, unknown>;
  const int = (x: unknown, most: number): number | null => (typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= most ? x : null);
  // Bounds on what a server may make this process allocate or start.
  const threads = int(v.threads, 256), chunk = int(v.chunked_prefill_size, 65536), running = int(v.max_running_requests, 4096);
  if ((v.backend !== "native" && v.backend !== "reference") || (v.kv_cache_dtype !== "f16" && v.kv_cache_dtype !== "f32")) return null;
  if (threads === null || chunk === null || running === null) return null;
  return { backend: v.backend, threads, kvCacheDtype: v.kv_cache_dtype, chunkedPrefillSize: chunk, maxRunningRequests: running };
}

/** The run's bound, or null when the report lacks what it needs (what the server cached). */
export async function serveBound(modelPath: string, engine: ServerEngine, r: ServeReport, w: Workload): Promise<WorkloadBound | null> {
  const n = r.requests.completed;
  if (n === 0 || r.cached_tokens === null || r.attended_positions === null) return null;
  const computed = r.input_tokens - r.cached_tokens;
  const model = await loadModel(modelPath);
  try {
    const costs = await measureKernelCosts(model, selectBackend(engine.backend, engine.threads), {
      chunk: engine.chunkedPrefillSize,
      perRequest: Math.max(1, Math.round(computed / n)),
      prefix: Math.round(r.cached_tokens / n),
      batch: Math.min(engine.maxRunningRequests, r.max_concurrency ?? Infinity, w.chains.length),
      context: Math.round(r.input_tokens / n + r.output_tokens / n / 2),
      sharedPrefix: meanSharedPrefix(w.chains.map((c) => c[0]?.tokens ?? [])),
    }, engine.kvCacheDtype);
    return workloadBound(computed, r.attended_positions, r.output_tokens, costs);
  } finally {
    model.close();
  }
}
