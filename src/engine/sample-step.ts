// The sampling stage of a step. Grammar masks are asked for before the forward pass and
// computed by the grammar worker while it runs; then each sampled row of logits gives its
// request one token, and each prompt row the logprob of the prompt token after it. A
// request whose mask or sampling fails is reported alone: nothing here fails the batch.
import { logSumExp } from "../sampling/logprobs.js";
import { NoTokenAllowedError } from "../sampling/sampler.js";
import type { LogitRow } from "../scheduler/plan.js";
import { RequestError, type Request, type TokenLogprob } from "../scheduler/request.js";
import type { Sampled } from "../scheduler/scheduler.js";

export interface SampledStep {
  readonly sampled: Sampled[];
  /** Requests at max_new_tokens already (they asked for none): nothing to sample. */
  readonly limited: Request[];
  readonly failed: { readonly req: Request; readonly error: unknown }[];
}

/** Whether the row's request wants a token from it. */
function wantsToken(row: LogitRow): boolean {
  return row.sample && !row.req.aborted && row.req.outputLength < row.req.params.maxNewTokens;
}

/**
 * Starts the masks of the constrained rows to be sampled; resolves to the requests whose
 * mask failed (never rejects). `flush` sends what was queued for the grammar worker.
 */
export async function prepareMasks(rows: readonly LogitRow[], flush: () => void): Promise<Map<Request, unknown>> {
  const failed = new Map<Request, unknown>();
  const asked: Promise<void>[] = [];
  for (const row of rows) {
    const c = wantsToken(row) ? row.req.constraint : null;
    if (c) asked.push(c.prepare().catch((err: unknown) => void failed.set(row.req, err)));
  }
  if (asked.length === 0) return failed;
  flush();
  await Promise.all(asked);
  return failed;
}

/** One token per sampled row (and the prompt logprobs of prompt rows) from `logits`, `vocab` per row. */
export function sampleRows(rows: readonly LogitRow[], logits: Float32Array, vocab: number, maskFailures: ReadonlyMap<Request, unknown>): SampledStep {
  const out: SampledStep = { sampled: [], limited: [], failed: [] };
  rows.forEach((row, i) => {
    const req = row.req;
    if (req.aborted || req.status === "finished") return;
    const x = logits.subarray(i * vocab, (i + 1) * vocab);
    if (!row.sample) {
      promptLogprob(req, row.position, x);
      return;
    }
    if (!wantsToken(row)) {
      out.limited.push(req);
      return;
    }
    const maskError = maskFailures.get(req);
    if (maskError !== undefined) {
      out.failed.push({ req, error: maskError });
      return;
    }
    try {
      const c = req.constraint;
      const r = req.sampler.sample(x, c ? { mask: c.nextMask() } : undefined);
      const logprob: TokenLogprob | undefined = req.params.logprobs ? { token: r.token, logprob: r.logprob, topLogprobs: r.topLogprobs } : undefined;
      out.sampled.push(logprob ? { req, token: r.token, logprob } : { req, token: r.token });
    } catch (err) {
      out.failed.push({ req, error: err instanceof NoTokenAllowedError ? new RequestError(`The request cannot go on: ${err.message}.`) : err });
    }
  });
  return out;
}

/** The logits of prompt position `pos`: the logprob of the token after it. */
function promptLogprob(req: Request, pos: number, x: Float32Array): void {
  const p = req.promptLogprobs;
  if (!p) return;
  let max = -Infinity;
  for (let j = 0; j < x.length; j++) if (x[j]! > max) max = x[j]!;
  p.logprobs[pos + 1 - p.start] = x[req.tokens[pos + 1]!]! - logSumExp(x, x.length, max);
}

/** The logprob record of a token a grammar forced: the only one allowed, log-probability 0. */
export function forcedLogprob(req: Request, id: number): TokenLogprob | undefined {
  if (!req.params.logprobs) return undefined;
  return (req.params.topLogprobs ?? 0) > 0 ? { token: id, logprob: 0, topLogprobs: [{ token: id, logprob: 0 }] } : { token: id, logprob: 0 };
}
