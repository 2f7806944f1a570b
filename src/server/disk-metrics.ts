// The disk tier's Prometheus metrics (radixlm:disk_cache_*), read from engine.diskStats() when
// scraped. They are registered only when the attached engine has a disk tier (serve
// --cache-dir): a server without one carries no series that could only ever read 0. The
// tier="disk" part of radixlm:cached_tokens_total is in metrics.ts beside the "ram" part.
import type { Registry } from "prom-client";
import { mirrorOf } from "./prom-mirror.js";
import type { DiskTierStats } from "../engine/disk-tier.js";

type Read = () => DiskTierStats | null;

export function registerDiskMetrics(registers: Registry[], stats: Read): void {
  const { total, gauge } = mirrorOf(registers, stats);
  total("radixlm:disk_cache_written_tokens_total", "Tokens of KV written to the disk tier.", (s) => s.writtenTokens);
  total("radixlm:disk_cache_written_bytes_total", "Bytes of KV written to the disk tier.", (s) => s.writtenBytes);
  total("radixlm:disk_cache_loaded_tokens_total", "Tokens of KV loaded back from the disk tier for waiting requests (the hits they served are radixlm:cached_tokens_total{tier=\"disk\"}).", (s) => s.loadedTokens);
  total("radixlm:disk_cache_loaded_bytes_total", "Bytes of KV loaded back from the disk tier.", (s) => s.loadedBytes);
  total("radixlm:disk_cache_prefetched_bytes_total", "Bytes read ahead from the disk tier for queued requests, before their loads.", (s) => s.prefetchedBytes);
  total("radixlm:disk_cache_loads_total", "Loads from the disk tier (one per waiting request's continuation), failed ones included.", (s) => s.loads);
  total("radixlm:disk_cache_load_failures_total", "Loads from the disk tier that failed (a missing or damaged item): the request computed its prefix instead.", (s) => s.failedLoads);
  // A sum beside the loads' count, as a summary's _sum and _count: the mean is their ratio.
  total("radixlm:disk_cache_load_seconds_total", "Wall time of loads from the disk tier (read, checksum, copy into the pool), summed; failed ones included.", (s) => s.loadMsTotal / 1000);
  gauge("radixlm:disk_cache_tokens", "Tokens the radix cache holds on disk only (evicted from the pool, loadable).", (s) => s.diskOnlyTokens);
  gauge("radixlm:disk_cache_bytes", "Bytes of the disk tier's segment files.", (s) => s.storeFileBytes);
  gauge("radixlm:disk_cache_max_bytes", "The bound on the disk tier's segment files (--cache-disk-size).", (s) => s.storeMaxBytes);
  gauge("radixlm:disk_cache_items", "Items (radix node runs) in the disk tier's store.", (s) => s.storeItems);
  gauge("radixlm:disk_cache_pinned_tokens", "Tokens of the disk tier pinned by saved sessions.", (s) => s.pinnedTokens);
}
