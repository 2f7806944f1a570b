// Speculative decoding's side of the scheduler: a decoding request's draft, with slots for its
// rows, and after verification the rows the model disagreed with given back. Drafted rows never
// retract anyone: a draft the pool cannot hold is simply not made.
import type { CacheManager } from "./cache-manager.js";
import type { Drafter } from "./drafter.js";
import type { Request } from "./request.js";

export class DraftSlots {
  drafter: Drafter | null = null;

  constructor(private readonly kv: CacheManager) {}

  /**
   * Draft tokens one step may carry, on top of its chunk: a sixteenth of a chunk while
   * prefills wait (their steps, and so first tokens, take that much longer at most); else a
   * whole chunk.
   */
  budget(chunk: number, prefills: boolean): number {
    if (!this.drafter) return 0;
    return prefills ? Math.max(1, Math.floor(chunk / 16)) : chunk;
  }

  /** A draft for `req` (at most `budget` tokens) with its slots, the pending token's too, allocated; null for none. */
  draftFor(req: Request, budget: number): readonly number[] | null {
    // The token sampled from the last draft row counts toward max_new_tokens too.
    const max = Math.min(budget, req.params.maxNewTokens - req.outputLength - 1);
    if (max <= 0 || !this.drafter) return null;
    let draft = this.drafter.propose(req, max);
    if (draft.length > max) draft = draft.slice(0, max);
    if (draft.length === 0 || !this.kv.grow(req, 1 + draft.length)) return null;
    return draft;
  }

  /** The rows before `computed` hold the request's real tokens (the drafts agreed with so far), so their KV is its own. */
  verified(req: Request, computed: number): void {
    if (computed > req.allocated) throw new Error(`draft verified past the slots allocated (${computed} > ${req.allocated})`);
    req.computed = computed;
  }

  /** The slots of the rows past what verification kept go back to the pool. */
  settle(req: Request): void {
    if (req.allocated > req.computed) this.kv.trim(req);
  }
}
