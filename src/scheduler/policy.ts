// The order in which waiting requests are considered for admission.
import type { Request } from "./request.js";

export type PolicyName = "lpm" | "fcfs" | "dfs-weight";

export interface Candidate {
  readonly req: Request;
  /** Tokens of the request the cache holds now. */
  readonly matched: number;
  /** Identity of the cache node the match ended at (groups requests sharing a prefix). */
  readonly node: number;
}

/**
 * lpm: longest cached prefix first (most reuse per admitted token), ties by arrival.
 * fcfs: arrival order.
 * dfs-weight: requests that share a cache node run together, the node with the most
 * waiting requests first (an approximation of SGLang's DFS over the tree by weight), so a
 * shared prefix is computed once and reused while it is hot.
 */
export function orderCandidates(policy: PolicyName, cands: Candidate[]): Candidate[] {
  const byArrival = (a: Candidate, b: Candidate): number => a.req.arrival - b.req.arrival;
  if (policy === "fcfs") return cands.sort(byArrival);
  if (policy === "lpm") return cands.sort((a, b) => b.matched - a.matched || byArrival(a, b));
  const weight = new Map<number, number>();
  const first = new Map<number, number>();
  for (const c of cands) {
    weight.set(c.node, (weight.get(c.node) ?? 0) + 1);
    if (!first.has(c.node)) first.set(c.node, c.req.arrival);
  }
  return cands.sort((a, b) =>
    weight.get(b.node)! - weight.get(a.node)! || first.get(a.node)! - first.get(b.node)! || a.node - b.node || byArrival(a, b));
}
