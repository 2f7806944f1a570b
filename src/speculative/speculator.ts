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
// The draft length adapts per request. Each request keeps a running estimate of how often
// its next drafted token is accepted (alpha; recent verifications count most), and draft
// token i is used only if the i before it were, with chance alpha^i. So a request drafts as
// long as that chance beats the share of a step its rows cost (step-cost.ts: about nothing
// when a step is bound by reading the weights, most of it in a big batch). A request whose
// drafts keep failing stops drafting for a while (twice as long each time), so text with
// nothing to copy loses nothing.
import type { CacheKey } from "../kvcache/prefix-cache.js";
import type { Drafter } from "../scheduler/drafter.js";
import type { Request } from "../scheduler/request.js";
import { NgramTable, saltHash } from "./ngram-table.js";
import { promptLookup } from "./prompt-lookup.js";
import { StepCost } from "./step-cost.js";

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

/** How much a verification's outcome still counts after each later one: the request's, and the engine's. */
const DECAY = 0.9;
const GLOBAL_DECAY = 0.99;
/** Drafts are never cut for cost below this chance of use: a step always costs something. */
const MIN_CHANCE = 0.05;
/** Steps a request whose drafts are not worth their rows waits before it tries one again. */
const PROBE_PAUSE = 16;

/** Per request: the decayed counts of accepted and rejected draft tokens, the failures in a row, and steps left without drafting. */
interface DraftState {
  hits: number;
  misses: number;
  fails: number;
  pause: number;
  /** A pause just ended: the next draft is a probe of one token at least. */
  paused: boolean;
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
  private readonly cost = new StepCost();
  /** The decayed counts of accepted and refused draft tokens over every request. */
  private hits = 0;
  private misses = 0;
  /** The least chance of use a drafted row needs now (the rows' share of a step). */
  private minChance = MIN_CHANCE;

  constructor(readonly maxDraft: number, private readonly tree: DraftTree | null) {
    if (!Number.isInteger(maxDraft) || maxDraft < 1 || maxDraft > MAX_DRAFT_LIMIT) throw new RangeError(`speculativeMaxDraft must be an integer in 1..${MAX_DRAFT_LIMIT}, got ${maxDraft}`);
  }

  propose(req: Request, max: number): readonly number[] {
    if (req.pool) return NONE;
    const st = this.state(req);
    if (st.pause > 0) {
      if (--st.pause === 0) st.paused = true;
      return NONE;
    }
    const k = Math.min(this.lengthFor(st), max);
    if (k <= 0) {
      // Not worth a row now; try one again after a while, in case the text changes.
      st.pause = PROBE_PAUSE;
      return NONE;
    }
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
    // Geometric: `accepted` draft tokens were taken, and the next one (if any) refused.
    st.hits = st.hits * DECAY + accepted;
    st.misses = st.misses * DECAY + (accepted < drafted ? 1 : 0);
    this.hits = this.hits * GLOBAL_DECAY + accepted;
    this.misses = this.misses * GLOBAL_DECAY + (accepted < drafted ? 1 : 0);
    if (accepted > 0) {
      st.fails = 0;
      return;
    }
    st.fails++;
    if (st.fails >= 2) st.pause = Math.min(MAX_PAUSE, 2 ** (st.fails - 1));
  }

  /**
   * The engine ran a step of `rows` rows (`plainRows` of them not drafted) in `ms`: the cost
   * model learns it, and the next drafts are cut to rows likely enough to be used.
   */
  observeStep(rows: number, plainRows: number, ms: number): void {
    this.cost.observe(rows, ms);
    this.minChance = Math.max(MIN_CHANCE, this.cost.rowShare(plainRows));
  }

  /**
   * Tokens to draft: the most whose last one is used with a chance of at least minChance;
   * 0 when not even the first is, except on a probe after a pause.
   */
  private lengthFor(st: DraftState): number {
    // Before much evidence of its own, a request is taken to be like the recent others: two
    // tokens' worth of the engine's acceptance rate, as Laplace's estimate takes one of each.
    const prior = (this.hits + 1) / (this.hits + this.misses + 2);
    const alpha = (st.hits + 2 * prior) / (st.hits + st.misses + 2);
    const probe = st.paused;
    st.paused = false;
    if (alpha < this.minChance && !probe) return 0;
    let k = 1;
    let chance = alpha * alpha;
    while (k < this.maxDraft && chance >= this.minChance) {
      k++;
      chance *= alpha;
    }
    return k;
  }

  /** A request finished: its output joins the n-gram table. */
  learn(req: Request): void {
    if (req.outputLength > 0 && !req.pool) this.ngrams.learn(this.state(req).salt, req.tokens, req.promptLength - 1);
  }

  /** The least chance of use a drafted row needs now (tests, tuning). */
  get threshold(): number {
    return this.minChance;
  }

  stats(): SpeculativeStats {
    return { draftTokens: this.drafted, acceptedTokens: this.accepted, verifySteps: this.verifies };
  }

  private state(req: Request): DraftState {
    let st = this.states.get(req);
    if (!st) {
      st = { hits: 0, misses: 0, fails: 0, pause: 0, paused: false, treeMissAt: -1, salt: saltHash(req.salt) };
      this.states.set(req, st);
    }
    return st;
  }
}

const NONE: readonly number[] = [];
