// Admission candidates: the waiting requests matched against the cache, in policy order.
// prepare() matches them while the previous step's forward pass runs, so that work overlaps
// it. Matches only order admissions (admit() matches again, so a stale one never changes what
// is computed), and are dropped when the cache changed in between (a finished prefill chunk
// adds entries): lpm must see those matches, or it admits a stranger ahead of the requests that
// share the prefix just computed.
import type { CacheManager } from "./cache-manager.js";
import { orderCandidates, type Candidate, type PolicyName } from "./policy.js";
import type { Request } from "./request.js";

/** Shared tokens beyond the cached ones that make a request wait for another's prefill. */
const IN_BATCH_PREFIX_THRESHOLD = 32;

/**
 * Whether a prefill under way (or admitted this step) among `running` is computing a prefix
 * `c` shares beyond what the cache holds: then it waits a step and reuses that prefix instead
 * of computing it again (SGLang's in-batch prefix check). A request loading its prefix from
 * disk counts: the waiting one takes the loaded prefix from the cache.
 */
export function sharesUncachedPrefix(running: readonly Request[], c: Candidate): boolean {
  for (const r of running) {
    if (r.computed >= r.promptLength || r.salt !== c.req.salt) continue;
    let n = 0;
    const limit = Math.min(r.promptLength, c.req.tokens.length - 1);
    while (n < limit && r.tokens[n] === c.req.tokens[n]) n++;
    if (n >= c.matched + IN_BATCH_PREFIX_THRESHOLD) return true;
  }
  return false;
}

export class Candidates {
  private prepared: Candidate[] | null = null;
  /** The cache's version when `prepared` was matched. */
  private preparedVersion = -1;

  constructor(private readonly kv: CacheManager, private readonly policy: PolicyName) {}

  prepare(waiting: readonly Request[]): void {
    this.prepared = waiting.map((req) => this.candidate(req));
    this.preparedVersion = this.kv.version;
  }

  /** The waiting requests in admission order (the prepared matches when still fresh). */
  take(waiting: readonly Request[]): Candidate[] {
    const still = new Set(waiting);
    const fresh = this.prepared !== null && this.preparedVersion === this.kv.version;
    const ready = fresh ? this.prepared!.filter((c) => still.has(c.req)) : [];
    this.prepared = null;
    const seen = new Set(ready.map((c) => c.req));
    for (const req of waiting) if (!seen.has(req)) ready.push(this.candidate(req));
    return orderCandidates(this.policy, ready);
  }

  private candidate(req: Request): Candidate {
    const m = this.kv.match(req);
    return { req, matched: m.slots.length, node: m.handle.id };
  }
}
