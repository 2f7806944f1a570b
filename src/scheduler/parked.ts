// The samples of an n > 1 request that wait, outside the queue, for their first sibling to
// cache the prompt; then they start from the cache instead of computing it n times.
import type { Request } from "./request.js";

export class ParkedSamples {
  private readonly behind = new Map<Request, Request[]>();
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Parks `rest` behind `first`. */
  park(first: Request, rest: readonly Request[]): void {
    if (rest.length === 0) return;
    for (const r of rest) r.status = "parked";
    this.behind.set(first, [...rest]);
    this.n += rest.length;
  }

  /** Takes out the samples parked behind `first` (none: empty). */
  release(first: Request): Request[] {
    const rest = this.behind.get(first);
    if (!rest) return [];
    this.behind.delete(first);
    this.n -= rest.length;
    return rest;
  }

  /** Takes one parked sample out, wherever it waits. */
  remove(req: Request): void {
    for (const [first, rest] of this.behind) {
      const i = rest.indexOf(req);
      if (i < 0) continue;
      rest.splice(i, 1);
      this.n--;
      if (rest.length === 0) this.behind.delete(first);
      return;
    }
  }

  /** The parked samples that were aborted. */
  aborted(): Request[] {
    const out: Request[] = [];
    for (const rest of this.behind.values()) for (const r of rest) if (r.aborted) out.push(r);
    return out;
  }
}
