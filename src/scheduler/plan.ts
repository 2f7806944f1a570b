// Flattens one scheduled batch into the StepPlan a backend runs.
import type { StepPlan } from "../kernels/backend.js";
import type { Request } from "../engine/request.js";

export interface BatchEntry {
  readonly req: Request;
  /** First token (position) computed this step. */
  readonly start: number;
  /** Tokens computed this step. */
  readonly count: number;
  /** The chunk reaches the end of the known tokens, so its last row's logits are sampled. */
  readonly wantLogits: boolean;
}

export interface Batch {
  readonly entries: readonly BatchEntry[];
  readonly prefillTokens: number;
  readonly decodeTokens: number;
}

export function buildStepPlan(batch: Batch): StepPlan {
  const n = batch.entries.reduce((a, e) => a + e.count, 0);
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  const logitRows: number[] = [];
  let row = 0;
  const seqs = batch.entries.map((e) => {
    const start = row;
    for (let j = 0; j < e.count; j++) {
      tokens[row] = e.req.tokens[e.start + j]!;
      positions[row] = e.start + j;
      row++;
    }
    // Rows whose logits give prompt logprobs come first, then the sampled row.
    const [lo, hi] = e.req.promptLogitRange(e.start, e.start + e.count);
    for (let p = lo; p < hi; p++) logitRows.push(start + p - e.start);
    if (e.wantLogits) logitRows.push(row - 1);
    return { start, count: e.count, kvSlots: e.req.slots.subarray(0, e.start + e.count) };
  });
  return { tokens, positions, seqs, logitRows: Int32Array.from(logitRows) };
}
