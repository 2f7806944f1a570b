// The pooling stage of a step, for embedding and scoring requests (PoolSpec): each hidden
// row goes into its request's pool, a scoring request keeps its last row's logits at its
// ids, and a request whose prompt is all computed is done. Sums run in float64 in position
// order, so a vector does not depend on how its prompt was cut into chunks or batched.
import type { Batch, HiddenRow, LogitRow } from "../scheduler/plan.js";
import type { Pooled, Request } from "../scheduler/request.js";

function pooledOf(req: Request, hidden: number): Pooled {
  req.pooled ??= { sum: new Float64Array(hidden), upTo: 0, logits: null };
  return req.pooled;
}

/**
 * Takes the step's hidden rows (`states`, `hidden` floats each) and the pooling requests'
 * logits; returns the pooling requests that are done.
 */
export function poolStep(batch: Batch, rows: readonly LogitRow[], logits: Float32Array, vocab: number,
  hiddenRows: readonly HiddenRow[], states: Float32Array, hidden: number): Request[] {
  hiddenRows.forEach((r, i) => {
    const req = r.req;
    if (req.aborted || req.status === "finished") return;
    const p = pooledOf(req, hidden);
    // A row computed again after a retraction is the same bits; it must not count twice.
    if (r.position < p.upTo) return;
    const row = states.subarray(i * hidden, (i + 1) * hidden);
    if (req.pool!.type === "mean") for (let j = 0; j < hidden; j++) p.sum[j]! += row[j]!;
    else p.sum.set(row);
    p.upTo = r.position + 1;
  });
  rows.forEach((row, i) => {
    const ids = row.req.pool?.logitIds;
    if (!ids || !row.sample) return;
    pooledOf(row.req, hidden).logits = Float32Array.from(ids, (id) => logits[i * vocab + id]!);
  });
  const done: Request[] = [];
  for (const e of batch.entries) {
    const req = e.req;
    if (req.pool && !req.aborted && req.status === "running" && req.computed === req.tokens.length) done.push(req);
  }
  return done;
}

/** A finished pooling request's vector (the mean divides by the prompt's length) and kept logits. */
export function pooledOutput(req: Request): { hidden: Float32Array; logits?: Float32Array } | undefined {
  const p = req.pooled;
  if (!req.pool || !p) return undefined;
  const n = req.pool.type === "mean" ? req.promptLength : 1;
  const hidden = Float32Array.from(p.sum, (v) => v / n);
  return p.logits ? { hidden, logits: p.logits } : { hidden };
}
