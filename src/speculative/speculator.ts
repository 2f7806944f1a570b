// Speculative decoding without a draft model: a decoding request's next tokens are guessed
// from text the engine already holds, cheapest source first, and the model checks them all
// in one step (src/engine/verify-step.ts). On a CPU a step is bound by reading the weights,
// so k more rows cost far less than k more steps; a guess that is wrong costs its rows.
//
// Sources: (a) the request's own prompt and output (prompt-lookup.ts); (b) the radix tree:
// what other requests generated after this same context, most recently used branch first;
// (c) an n-gram table of recent outputs (ngram-table.ts). A prediction the client sent
// (OpenAI's predicted outputs) is followed first, then (b): an exact context is surer than a
// suffix match, and the walk is as cheap as (a)'s scan.
//
// The draft length adapts per request and source. Each request keeps, per source and draft
// position, a running estimate of how often a drafted token is accepted when the ones before
// it were (acceptance.ts; recent verifications count most, the engine's recent rates for that
// source stand in before there are any), and draft token i is used with the product of those
// chances up to i. So a request drafts as long as that chance beats the share of a step its
// rows cost (step-cost.ts: about nothing when a step is bound by reading the weights, most of
// it in a big batch); a source not worth even one row gets a one-token probe now and then. A
// request whose drafts keep failing stops drafting for a while (twice as long each time), so
// text with nothing to copy loses nothing.
import type { CacheKey } from "../kvcache/prefix-cache.js";
import type { Drafter } from "../scheduler/drafter.js";
import type { Request } from "../scheduler/request.js";
import { Acceptance, draftLength } from "./acceptance.js";
import { NgramTable, saltHash } from "./ngram-table.js";
import { followCorpus, promptLookup } from "./prompt-lookup.js";
import { StepCost } from "./step-cost.js";

export type SpeculativeMode = "ngram" | "off";

/** Throws a RangeError unless `n` is a draft length the engine takes (1..MAX_DRAFT_LIMIT). */
export function checkMaxDraft(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_DRAFT_LIMIT) throw new RangeError(`speculativeMaxDraft must be an integer in 1..${MAX_DRAFT_LIMIT}, got ${n}`);
}

/** Default most tokens drafted per request and step. */
export const DEFAULT_MAX_DRAFT = 16;
/** The largest --speculative-max-draft: a step's rows are bounded by the chunk size anyway. */
export const MAX_DRAFT_LIMIT = 64;

/** How much a verification's outcome still counts after each later one: the request's, and the engine's. */
const DECAY = 0.9;
const GLOBAL_DECAY = 0.99;
/** Drafts are never cut for cost below this chance of use: a step always costs something. */
const MIN_CHANCE = 0.05;
/** Steps a request drafts nothing from a source not worth its rows, before it tries one token again. */
const PROBE_AFTER = 16;
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

/** Where a draft came from: the request's predicted output, the radix tree, the request's own text, the n-gram table. */
type Source = 0 | 1 | 2 | 3;
/**
 * Each source's acceptance before any evidence: the client's own prediction, and a whole
 * context matched in the tree (a sure guess for greedy decoding), are trusted most.
 */
const PRIOR = [0.8, 0.8, 0.5, 0.5] as const;

/** Per request: acceptance by source, the source of the draft in flight, failures in a row, and steps left without drafting. */
interface DraftState {
  readonly bySource: readonly [Acceptance, Acceptance, Acceptance, Acceptance];
  /** Where in the prediction the last draft from it started, and the request's length then (0: none yet). */
  predictionAt: number;
  predictionLength: number;
  source: Source;
  /** Steps since a source not worth its rows last had a probe. */
  sinceProbe: number;
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
  private readonly cost = new StepCost();
  /** Acceptance over every request, by source: a new request's prior. */
  private readonly bySource: DraftState["bySource"];
  /** The least chance of use a drafted row needs now (the rows' share of a step). */
  private minChance = MIN_CHANCE;

  constructor(readonly maxDraft: number, private readonly tree: DraftTree | null) {
    checkMaxDraft(maxDraft);
    this.bySource = this.sources();
  }

  private sources(): DraftState["bySource"] {
    const m = this.maxDraft;
    return [new Acceptance(m), new Acceptance(m), new Acceptance(m), new Acceptance(m)];
  }

  propose(req: Request, max: number): readonly number[] {
    if (req.pool) return NONE;
    const st = this.state(req);
    if (st.pause > 0) {
      st.pause--;
      return NONE;
    }
    const probe = ++st.sinceProbe >= PROBE_AFTER;
    // What the tree holds after this exact context (another request's output) is the surest
    // guess; the walk stops where the context leaves the tree, within its prompt for most.
    for (const source of [0, 1, 2, 3] as const) {
      const worth = this.lengthFor(st, source);
      // A source not worth even one row gets a one-token probe now and then.
      const k = Math.min(worth > 0 ? worth : probe ? 1 : 0, max);
      if (k <= 0) continue;
      const d = this.draftFrom(source, req, st, k);
      if (d.length === 0) continue;
      st.source = source;
      if (worth === 0) st.sinceProbe = 0;
      return d;
    }
    return NONE;
  }

  private draftFrom(source: Source, req: Request, st: DraftState, k: number): readonly number[] {
    if (source === 0) {
      if (req.prediction.length === 0) return NONE;
      // Expected to go on where the last draft started, past what the request appended since.
      const next = st.predictionLength > 0 ? st.predictionAt + (req.tokens.length - st.predictionLength) : 0;
      const f = followCorpus(req.prediction, next, req.tokens, k);
      if (!f || f.draft.length === 0) return NONE;
      st.predictionAt = f.at;
      st.predictionLength = req.tokens.length;
      return f.draft;
    }
    if (source === 2) return promptLookup(req.tokens, k);
    if (source === 3) return this.ngrams.lookup(st.salt, req.tokens, k);
    if (!this.tree || this.tree.version === st.treeMissAt) return NONE;
    const d = this.tree.continuation(req.key(), k);
    if (d.length === 0) st.treeMissAt = this.tree.version;
    return d;
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
    st.bySource[st.source].add(drafted, accepted, DECAY);
    this.bySource[st.source].add(drafted, accepted, GLOBAL_DECAY);
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
   * Tokens to draft from `source`: the most whose last one is used with a chance of at least
   * minChance; 0 when not even the first is, unless `probe` (one token, to learn again).
   */
  private lengthFor(st: DraftState, source: Source): number {
    // Before much evidence of its own, a request is taken to be like the recent others.
    return draftLength(st.bySource[source], this.bySource[source], PRIOR[source], this.maxDraft, this.minChance);
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
      st = {
        bySource: this.sources(), predictionAt: 0, predictionLength: 0, source: 2, sinceProbe: 0, fails: 0, pause: 0,
        treeMissAt: -1, salt: saltHash(req.salt),
      };
      this.states.set(req, st);
    }
    return st;
  }
}

const NONE: readonly number[] = [];
