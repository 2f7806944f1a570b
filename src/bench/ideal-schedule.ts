// What a workload allows when every computed token costs the same, as on a CPU, where a
// decode row costs about what a prefill row does. These figures say how far the measured
// ratios of `bench offline` are from what any scheduler could reach on such hardware.
import type { Workload } from "./workloads.js";

export interface IdealRatios {
  /** Tokens computed without a cache over tokens computed with an ideal one (prompts and outputs). */
  readonly throughput: number;
  /**
   * Mean time to first token without a cache over the mean with an ideal one, each in its
   * best order (shortest prefill first; with the cache, whichever prompt has the fewest
   * uncached tokens left), counting prefill tokens only. Null for workloads with several
   * steps per chain, whose later prompts depend on when earlier outputs arrive.
   */
  readonly ttft: number | null;
}

/** Above this many prompts the best-order estimate (quadratic in prompts) is skipped. */
const MAX_ORDERED_PROMPTS = 4096;

/**
 * `hitTokens` and `promptTokens`: the ideal cache's counts for the prompts as they were
 * sent; `outputTokens`: every generated token (a decode row each).
 */
export function idealRatios(w: Workload, promptTokens: number, hitTokens: number, outputTokens: number): IdealRatios {
  const computed = promptTokens - hitTokens + outputTokens;
  const throughput = computed > 0 ? (promptTokens + outputTokens) / computed : 1;
  const single = w.chains.every((c) => c.length === 1);
  if (!single || w.chains.length === 0 || w.chains.length > MAX_ORDERED_PROMPTS) return { throughput, ttft: null };
  const prompts = w.chains.map((c) => c[0]!.tokens);
  const cached = bestOrderMeanTtft(prompts);
  return { throughput, ttft: cached > 0 ? shortestFirstMeanTtft(prompts) / cached : null };
}

/** Without a cache: prompts in order of length, each finishing when its last token is computed. */
export function shortestFirstMeanTtft(prompts: readonly (readonly number[])[]): number {
  const lens = prompts.map((p) => p.length).sort((a, b) => a - b);
  let t = 0;
  let sum = 0;
  for (const n of lens) {
    t += n;
    sum += t;
  }
  return sum / lens.length;
}

/**
 * With an ideal cache: repeatedly the prompt with the fewest tokens not yet computed (at
 * least one: its last token gives the first output). Greedy; for groups of prompts that
 * share a prefix this is the best order (each group's prefix, then its prompts, cheapest
 * first).
 */
export function bestOrderMeanTtft(prompts: readonly (readonly number[])[]): number {
  const n = prompts.length;
  const matched = new Array<number>(n).fill(0);
  const done = new Array<boolean>(n).fill(false);
  let t = 0;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    let best = -1;
    let bestCost = Infinity;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      const cost = prompts[i]!.length - Math.min(matched[i]!, prompts[i]!.length - 1);
      if (cost < bestCost) {
        bestCost = cost;
        best = i;
      }
    }
    done[best] = true;
    t += bestCost;
    sum += t;
    // What the chosen prompt computed is now cached for the others.
    const p = prompts[best]!;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      const q = prompts[i]!;
      let l = 0;
      const lim = Math.min(p.length, q.length);
      while (l < lim && p[l] === q[l]) l++;
      if (l > matched[i]!) matched[i] = l;
    }
  }
  return n > 0 ? sum / n : 0;
}
