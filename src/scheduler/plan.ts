// Flattens one scheduled batch into the StepPlan a backend runs, with the map from each
// row of logits back to its request: sampling reads this map, nothing recomputes it.
import type { StepPlan } from "../kernels/backend.js";
import type { Request } from "./request.js";

export interface BatchEntry {
  readonly req: Request;
  /** First token (position) computed this step. */
  readonly start: number;
  /** Tokens computed this step. */
  readonly count: number;
  /** The chunk reaches the end of the known tokens, so its last row's logits are sampled. */
  readonly wantLogits: boolean;
  /**
   * Speculative decoding: tokens guessed to follow the request's pending one, computed in the
   * rows after it (`count` is 1 + their number) and verified against those rows' logits.
   */
  readonly draft?: readonly number[];
}

export interface Batch {
  readonly entries: readonly BatchEntry[];
  readonly prefillTokens: number;
  readonly decodeTokens: number;
}

/** One row of the step's logits: a prompt position whose logprob is wanted, or the row a request samples from. */
export interface LogitRow {
  readonly req: Request;
  /** The position whose logits these are (they predict the token at position + 1). */
  readonly position: number;
  readonly sample: boolean;
  /** The request's drafted tokens, on its sampled row: the `draft.length` rows after this one verify them. */
  readonly draft?: readonly number[];
  /** One of the rows that verify a draft (the sampled row before them takes them all). */
  readonly verify?: boolean;
}

/** One row of the step's hidden states: a position a pooling request pools. */
export interface HiddenRow {
  readonly req: Request;
  readonly position: number;
}

export interface PlannedStep {
  readonly plan: StepPlan;
  /** `rows[i]` is the request and position of logits row i. */
  readonly rows: readonly LogitRow[];
  /** `hidden[i]` is the request and position of hidden-state row i. */
  readonly hidden: readonly HiddenRow[];
}

const NO_DRAFT: readonly number[] = [];

/** The rows of a batch's entries that compute drafted tokens. */
export function draftRows(entries: readonly BatchEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.draft?.length ?? 0;
  return n;
}

export function buildStepPlan(batch: Batch): PlannedStep {
  const n = batch.entries.reduce((a, e) => a + e.count, 0);
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  const logitRows: number[] = [];
  const rows: LogitRow[] = [];
  const hiddenRows: number[] = [];
  const hidden: HiddenRow[] = [];
  let row = 0;
  const seqs = batch.entries.map((e) => {
    const start = row;
    const draft = e.draft ?? NO_DRAFT;
    const known = e.count - draft.length;
    for (let j = 0; j < e.count; j++) {
      tokens[row] = j < known ? e.req.tokens[e.start + j]! : draft[j - known]!;
      positions[row] = e.start + j;
      row++;
    }
    // Rows whose logits give prompt logprobs come first, then the sampled row.
    const [lo, hi] = e.req.promptLogitRange(e.start, e.start + e.count);
    for (let p = lo; p < hi; p++) {
      logitRows.push(start + p - e.start);
      rows.push({ req: e.req, position: p, sample: false });
    }
    const pool = e.req.pool;
    if (pool) {
      for (let p = e.start; p < e.start + e.count; p++) {
        const take = pool.type === "mean" || (pool.type === "cls" ? p === 0 : e.wantLogits && p === e.start + e.count - 1);
        if (!take) continue;
        hiddenRows.push(start + p - e.start);
        hidden.push({ req: e.req, position: p });
      }
    }
    // A pooling request wants the last row's logits only for its logitIds.
    if (e.wantLogits && (!pool || pool.logitIds !== undefined)) {
      const first = row - 1 - draft.length;
      logitRows.push(first);
      rows.push(draft.length > 0 ? { req: e.req, position: e.start + known - 1, sample: true, draft } : { req: e.req, position: e.start + e.count - 1, sample: true });
      for (let j = 1; j <= draft.length; j++) {
        logitRows.push(first + j);
        rows.push({ req: e.req, position: e.start + known - 1 + j, sample: true, verify: true });
      }
    }
    return { start, count: e.count, kvSlots: e.req.slots.subarray(0, e.start + e.count) };
  });
  const plan: StepPlan = { tokens, positions, seqs, logitRows: Int32Array.from(logitRows), ...(hidden.length > 0 ? { hiddenRows: Int32Array.from(hiddenRows) } : {}) };
  return { plan, rows, hidden };
}
