// Speculative decoding without a draft model: a decoding request's next tokens are guessed
// from text the engine already holds, cheapest source first, and the model checks them all
// in one step (src/engine/verify-step.ts). On a CPU a step is bound by reading the weights,
// so k more rows cost far less than k more steps; a guess that is wrong costs its rows.
//
// Sources: (a) the request's own prompt and output (prompt-lookup.ts); (b) the radix tree:
// what other requests generated after this same context, most recently used branch first;
// (c) an n-gram table of recent outputs (ngram-table.ts). (b) is tried first: an exact
// context is surer than a suffix match, and the walk is as cheap as (a)'s scan.
//
// The draft length adapts per request: it doubles while whole drafts are accepted, falls to
// one more than what was accepted otherwise, and a request whose drafts keep failing stops
// drafting for a while (twice as long each time), so text with nothing to copy loses nothing.
import type { CacheKey } from "../kvcache/prefix-cache.js";
import type { Drafter } from "../scheduler/drafter.js";
import type { Request } from "../scheduler/request.js";
import { NgramTable, saltHash } from "./ngram-table.js";
import { promptLookup } from "./prompt-lookup.js";

export type SpeculativeMode = "ngram" | "off";

/** Default most tokens drafted per request and step. */
export const DEFAULT_MAX_DRAFT = 8;
/** The largest --speculative-max-draft: a step's rows are bounded by the chunk size anyway. */
export const MAX_DRAFT_LIMIT = 64;
/** Longest pause in drafting, in steps, after drafts that failed in a row. */
const MAX_PAUSE = 64;

export interface SpeculativeStats {
  /** Draft tokens computed for verification since the start. */
  readonly draftTokens: number;
  /** Of those, the tokens the model's own choice agreed with. */
  readonly acceptedTokens: number;
  /** Verifications: (request, step) pairs that checked a draft. */
  readonly verifySteps: number;
}

/** Per request: how many to draft next, the failures in a row, and steps left without drafting. */
interface DraftState {
  len: number;
  fails: number;
  pause: number;
  /** The cache version at the tree's last miss for this request: no use looking again before it changes. */
  treeMissAt: number;
  salt: number;
}

/** The radix tree, as far as drafting reads it. */
export interface DraftTree {
  readonly version: number;
  continuation(key: CacheKey, max: number): readonly number[];
}

export class Speculator implements Drafter {
  private readonly states = new WeakMap<Request, DraftState>();
  private readonly ngrams = new NgramTable();
  private drafted = 0;
  private accepted = 0;
  private verifies = 0;

  constructor(readonly maxDraft: number, private readonly tree: DraftTree | null) {
    if (!Number.isInteger(maxDraft) || maxDraft < 1 || maxDraft > MAX_DRAFT_LIMIT) throw new RangeError(`speculativeMaxDraft must be an integer in 1..${MAX_DRAFT_LIMIT}, got ${maxDraft}`);
  }

  propose(req: Request, max: number): readonly number[] {
    if (req.pool) return NONE;
    const st = this.state(req);
    if (st.pause > 0) {
      st.pause--;
      return NONE;
    }
    const k = Math.min(st.len, max, this.maxDraft);
    if (k <= 0) return NONE;
    // What the tree holds after this exact context (another request's output) is the surest
    // guess; the walk stops where the context leaves the tree, within its prompt for most.
    if (this.tree && this.tree.version !== st.treeMissAt) {
      const d = this.tree.continuation(req.key(), k);
      if (d.length > 0) return d;
      st.treeMissAt = this.tree.version;
    }
    const own = promptLookup(req.tokens, k);
    if (own.length > 0) return own;
    return this.ngrams.lookup(st.salt, req.tokens, k);
  }

  /** `req` verified `drafted` tokens and the model agreed with the first `accepted`. */
  verified(req: Request, drafted: number, accepted: number): void {
    this.drafted += drafted;
    this.accepted += accepted;
    this.verifies++;
    req.spec.draftTokens += drafted;
    req.spec.acceptedTokens += accepted;
    req.spec.verifySteps++;
    const st = this.state(req);
    if (accepted === drafted) st.len = Math.min(this.maxDraft, st.len * 2);
    else st.len = accepted + 1;
    if (accepted > 0) {
      st.fails = 0;
      return;
    }
    st.fails++;
    if (st.fails >= 2) st.pause = Math.min(MAX_PAUSE, 2 ** (st.fails - 1));
  }

  /** A request finished: its output joins the n-gram table. */
  learn(req: Request): void {
    if (req.outputLength > 0 && !req.pool) this.ngrams.learn(this.state(req).salt, req.tokens, req.promptLength - 1);
  }

  stats(): SpeculativeStats {
    return { draftTokens: this.drafted, acceptedTokens: this.accepted, verifySteps: this.verifies };
  }

  private state(req: Request): DraftState {
    let st = this.states.get(req);
    if (!st) {
      st = { len: Math.min(4, this.maxDraft), fails: 0, pause: 0, treeMissAt: -1, salt: saltHash(req.salt) };
      this.states.set(req, st);
    }
    return st;
  }
}

const NONE: readonly number[] = [];
