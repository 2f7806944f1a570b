// How the router picks a worker for a request. Each policy sees only the workers that may take
// a request now (healthy, breaker not open) and returns its pick with the reason, which the
// router counts in /metrics.
//
// cache-aware is SGLang's router's: when the load is imbalanced (max - min above an absolute
// threshold and max above a ratio of min) the least loaded worker takes the request; else the
// worker whose approximate tree (approx-tree.ts) matches the most of the request, if that
// match is above a share of the request; else the worker holding the least. exact does the
// same with what each worker reports it really caches (its KV events), plus the requests
// routed in the last moments that its events cannot show yet.
import { ApproxTree } from "./approx-tree.js";
import type { Worker } from "./worker.js";

export type PolicyName = "cache-aware" | "exact" | "round-robin" | "power-of-two" | "random";
export const POLICY_NAMES: readonly PolicyName[] = ["cache-aware", "exact", "round-robin", "power-of-two", "random"];

export type DecisionReason = "round_robin" | "random" | "power_of_two" | "balance" | "cache_hit" | "smallest_tree" | "least_load";

export interface RouteRequest {
  /** What the approximate tree is keyed by: the request's text as code points, or its token ids. */
  readonly keys: ArrayLike<number>;
  /** The prompt's token ids where the router can make them (exact mode needs them). */
  readonly tokenIds?: readonly number[];
  /** The request's cache_salt ("" for none): caches of different salts share nothing. */
  readonly salt: string;
}

export interface Decision {
  readonly worker: Worker;
  readonly reason: DecisionReason;
}

export interface Policy {
  readonly name: PolicyName;
  /** `workers` is never empty. */
  pick(req: RouteRequest, workers: readonly Worker[]): Decision;
  /** A worker left the pool. */
  forget?(url: string): void;
  /** Periodic upkeep (tree trimming). */
  maintain?(): void;
}

export interface CacheAwareOptions {
  /** A match above this share of the request goes to the worker that matched. */
  readonly cacheThreshold: number;
  readonly balanceAbsThreshold: number;
  readonly balanceRelThreshold: number;
  /** Keys (code points or tokens) each worker's share of the tree is trimmed to. */
  readonly maxTreeSize: number;
}

/** Our defaults beside SGLang's router's (0.3 in its paper's version, 0.5 now / 64 / 1.5 / 120 s / 2^26): the same. */
export const DEFAULT_CACHE_AWARE: CacheAwareOptions = { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, maxTreeSize: 2 ** 26 };

function leastLoaded(workers: readonly Worker[]): Worker {
  let best = workers[0]!;
  for (const w of workers) if (w.inflight < best.inflight) best = w;
  return best;
}

/** SGLang's test: the busiest has `abs` more requests than the idlest, and more than `rel` times as many. */
export function imbalanced(workers: readonly Worker[], abs: number, rel: number): boolean {
  let max = -Infinity;
  let min = Infinity;
  for (const w of workers) {
    max = Math.max(max, w.inflight);
    min = Math.min(min, w.inflight);
  }
  return max - min > abs && max > rel * min;
}

export class RoundRobin implements Policy {
  readonly name = "round-robin";
  private next = 0;
  pick(_req: RouteRequest, workers: readonly Worker[]): Decision {
    const w = workers[this.next++ % workers.length]!;
    return { worker: w, reason: "round_robin" };
  }
}

export class RandomPolicy implements Policy {
  readonly name = "random";
  constructor(private readonly random: () => number = Math.random) {}
  pick(_req: RouteRequest, workers: readonly Worker[]): Decision {
    return { worker: workers[Math.floor(this.random() * workers.length)]!, reason: "random" };
  }
}

/** Two workers at random, the less loaded of them. */
export class PowerOfTwo implements Policy {
  readonly name = "power-of-two";
  constructor(private readonly random: () => number = Math.random) {}
  pick(_req: RouteRequest, workers: readonly Worker[]): Decision {
    const a = workers[Math.floor(this.random() * workers.length)]!;
    const b = workers[Math.floor(this.random() * workers.length)]!;
    return { worker: b.inflight < a.inflight ? b : a, reason: "power_of_two" };
  }
}

export class CacheAware implements Policy {
  readonly name = "cache-aware";
  readonly tree: ApproxTree;
  constructor(private readonly opts: CacheAwareOptions = DEFAULT_CACHE_AWARE, now?: () => number) {
    this.tree = new ApproxTree(now);
  }

  pick(req: RouteRequest, workers: readonly Worker[]): Decision {
    const d = this.choose(req, workers);
    this.tree.insert(req.keys, d.worker.url);
    return d;
  }

  private choose(req: RouteRequest, workers: readonly Worker[]): Decision {
    if (imbalanced(workers, this.opts.balanceAbsThreshold, this.opts.balanceRelThreshold)) return { worker: leastLoaded(workers), reason: "balance" };
    const m = this.tree.match(req.keys, new Set(workers.map((w) => w.url)));
    const rate = req.keys.length > 0 ? m.matched / req.keys.length : 0;
    if (m.tenant !== null && rate > this.opts.cacheThreshold) return { worker: workers.find((w) => w.url === m.tenant)!, reason: "cache_hit" };
    const smallest = this.tree.smallest(workers.map((w) => w.url));
    return { worker: workers.find((w) => w.url === smallest) ?? workers[0]!, reason: "smallest_tree" };
  }

  forget(url: string): void {
    this.tree.removeTenant(url);
  }

  maintain(): void {
    this.tree.trim(this.opts.maxTreeSize);
  }
}

/** What the workers really cache, from their KV events (kv-mirror.ts). */
export interface CachedPrefixes {
  /** Leading tokens of `ids` (in `salt`'s namespace) that `worker` reports cached. */
  matched(worker: string, ids: readonly number[], salt: string): number;
}

/**
 * Routes on the workers' reported caches. A request routed in the last `pendingMs` counts as
 * cached on its worker too (its prefill may not have been reported yet), so that a burst of
 * requests sharing a new prefix goes to one worker instead of all of them.
 */
export class Exact implements Policy {
  readonly name = "exact";
  private recent = new ApproxTree();
  private older = new ApproxTree();
  private rotated: number;

  constructor(private readonly cached: CachedPrefixes, private readonly opts: CacheAwareOptions = DEFAULT_CACHE_AWARE,
    private readonly pendingMs = 5_000, private readonly now: () => number = Date.now) {
    this.rotated = now();
  }

  pick(req: RouteRequest, workers: readonly Worker[]): Decision {
    if (this.now() - this.rotated >= this.pendingMs) this.rotate();
    const d = this.choose(req, workers);
    this.recent.insert(req.tokenIds ?? req.keys, `${d.worker.url}\u0000${req.salt}`);
    return d;
  }

  private rotate(): void {
    this.older = this.recent;
    this.recent = new ApproxTree();
    this.rotated = this.now();
  }

  private choose(req: RouteRequest, workers: readonly Worker[]): Decision {
    if (imbalanced(workers, this.opts.balanceAbsThreshold, this.opts.balanceRelThreshold)) return { worker: leastLoaded(workers), reason: "balance" };
    const ids = req.tokenIds ?? Array.from(req.keys);
    let best: Worker | null = null;
    let bestMatch = 0;
    for (const w of workers) {
      const tenant = `${w.url}\u0000${req.salt}`;
      const m = Math.max(
        req.tokenIds ? this.cached.matched(w.url, req.tokenIds, req.salt) : 0,
        this.recent.matchFor(ids, tenant), this.older.matchFor(ids, tenant));
      if (m > bestMatch || (m === bestMatch && best !== null && m > 0 && w.inflight < best.inflight)) {
        best = w;
        bestMatch = m;
      }
    }
    if (best && ids.length > 0 && bestMatch / ids.length > this.opts.cacheThreshold) return { worker: best, reason: "cache_hit" };
    return { worker: leastLoaded(workers), reason: "least_load" };
  }
}

export function makePolicy(name: PolicyName, opts: CacheAwareOptions, cached: CachedPrefixes | null): Policy {
  switch (name) {
    case "cache-aware": return new CacheAware(opts);
    case "exact":
      if (!cached) throw new Error("the exact policy needs the workers' KV events");
      return new Exact(cached, opts);
    case "round-robin": return new RoundRobin();
    case "power-of-two": return new PowerOfTwo();
    case "random": return new RandomPolicy();
  }
}
