// The sampling stage of a step. Grammar masks are asked for before the forward pass and
// computed by the grammar worker while it runs; then each sampled row of logits gives its
// request one token, and each prompt row the logprob of the prompt token after it. A
// request whose mask or sampling fails is reported alone, and one whose mask is late (its
// grammar worker is busy) is held with its logits, to be sampled when the mask comes:
// nothing here fails or stalls the batch.
import { logSumExp } from "../sampling/logprobs.js";
import { NoTokenAllowedError } from "../sampling/sampler.js";
import type { LogitRow } from "../scheduler/plan.js";
import { RequestError, type Request, type TokenLogprob } from "../scheduler/request.js";
import type { OutputEvent, Sampled, Scheduler } from "../scheduler/scheduler.js";

/** A mask on its way from the grammar worker. */
export interface PendingMask {
  /** Resolves (never rejects) when the mask is in or failed. */
  done: Promise<void>;
  settled: boolean;
  error: unknown;
}

export interface SampledStep {
  readonly sampled: Sampled[];
  /** Requests at max_new_tokens already (they asked for none): nothing to sample. */
  readonly limited: Request[];
  readonly failed: { readonly req: Request; readonly error: unknown }[];
  /** Requests whose mask is late, with a copy of their row of logits (or their draft's rows). */
  readonly held: { readonly req: Request; readonly logits: Float32Array; readonly verify?: Verification }[];
  /** Speculating requests: their 1 + k rows of logits, to verify their drafts with (verify-step.ts). */
  readonly verify: Verification[];
}

/** A draft to verify: `logits` holds the rows of positions `position`.. (the pending token's, then the drafts'). */
export interface Verification {
  readonly req: Request;
  readonly position: number;
  readonly draft: readonly number[];
  readonly logits: Float32Array;
}

/** Whether the row's request wants a token from it. */
function wantsToken(row: LogitRow): boolean {
  return row.sample && !row.req.aborted && row.req.outputLength < row.req.params.maxNewTokens;
}

/** Asks for the masks of the constrained rows to be sampled. `flush` sends what was queued for the grammar worker. */
export function prepareMasks(rows: readonly LogitRow[], flush: () => void): Map<Request, PendingMask> {
  const masks = new Map<Request, PendingMask>();
  for (const row of rows) {
    const c = wantsToken(row) && !row.verify ? row.req.constraint : null;
    if (!c || !c.active) continue;
    const m: PendingMask = { done: Promise.resolve(), settled: false, error: undefined };
    // A draft's rows each need the mask after the draft tokens before them.
    m.done = (row.draft ? c.prepareDraft(row.draft) : c.prepare()).then(() => void (m.settled = true), (err: unknown) => {
      m.settled = true;
      m.error = err ?? new Error("the grammar mask failed");
    });
    masks.set(row.req, m);
  }
  if (masks.size > 0) flush();
  return masks;
}

/** Waits until every mask is in, or `ms` passed; late ones are held, not waited for. */
export async function settleMasks(masks: ReadonlyMap<Request, PendingMask>, ms: number): Promise<void> {
  if ([...masks.values()].every((m) => m.settled)) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all([...masks.values()].map((m) => m.done)), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** One token per sampled row (and the prompt logprobs of prompt rows) from `logits`, `vocab` per row. */
export function sampleRows(rows: readonly LogitRow[], logits: Float32Array, vocab: number, masks: ReadonlyMap<Request, PendingMask>): SampledStep {
  const out: SampledStep = { sampled: [], limited: [], failed: [], held: [], verify: [] };
  rows.forEach((row, i) => {
    const req = row.req;
    if (row.verify || req.aborted || req.status === "finished") return;
    const x = logits.subarray(i * vocab, (i + 1) * vocab);
    if (!row.sample) {
      promptLogprob(req, row.position, x);
      return;
    }
    if (!wantsToken(row)) {
      out.limited.push(req);
      return;
    }
    const mask = masks.get(req);
    if (row.draft) {
      const rows = logits.subarray(i * vocab, (i + 1 + row.draft.length) * vocab);
      if (mask?.error !== undefined) {
        out.failed.push({ req, error: mask.error });
      } else if (mask && !mask.settled) {
        // Kept past this step: a copy, as the buffer is the next step's.
        const kept = rows.slice();
        out.held.push({ req, logits: kept, verify: { req, position: row.position, draft: row.draft, logits: kept } });
      } else {
        out.verify.push({ req, position: row.position, draft: row.draft, logits: rows });
      }
      return;
    }
    if (mask && !mask.settled) {
      out.held.push({ req, logits: x.slice() });
      return;
    }
    sampleOne(req, x, mask, out);
  });
  return out;
}

/** Samples one request's token from its row of logits, its mask (if any) in. */
export function sampleOne(req: Request, x: Float32Array, mask: PendingMask | undefined, out: SampledStep): void {
  if (mask?.error !== undefined) {
    out.failed.push({ req, error: mask.error });
    return;
  }
  const r = sampleToken(req, x);
  if ("error" in r) out.failed.push({ req, error: r.error });
  else out.sampled.push(r);
}

/** The request's token from one row of logits, under its grammar's current mask (if any); or why it cannot go on. */
export function sampleToken(req: Request, x: Float32Array): Sampled | { readonly error: unknown } {
  try {
    const c = req.constraint;
    const r = req.sampler.sample(x, c?.active ? { mask: c.nextMask() } : undefined);
    const logprob: TokenLogprob | undefined = req.params.logprobs ? { token: r.token, logprob: r.logprob, topLogprobs: r.topLogprobs } : undefined;
    return logprob ? { req, token: r.token, logprob } : { req, token: r.token };
  } catch (err) {
    return { error: err instanceof NoTokenAllowedError ? new RequestError(`The request cannot go on: ${err.message}.`) : err };
  }
}

/** The logits of prompt position `pos`: the logprob of the token after it. */
function promptLogprob(req: Request, pos: number, x: Float32Array): void {
  const p = req.promptLogprobs;
  if (!p) return;
  let max = -Infinity;
  for (let j = 0; j < x.length; j++) if (x[j]! > max) max = x[j]!;
  p.logprobs[pos + 1 - p.start] = x[req.tokens[pos + 1]!]! - logSumExp(x, x.length, max);
}

/** A request whose mask is late: the logits it samples from (or the draft it verifies), and the mask. */
export interface LateSample {
  readonly logits: Float32Array;
  readonly mask: PendingMask;
  readonly verify?: Verification;
}

/** The late requests whose mask is in now, sampled from their kept logits (and taken out of `late`); null when none. */
export function takeLate(late: Map<Request, LateSample>): SampledStep | null {
  if (late.size === 0) return null;
  const out: SampledStep = { sampled: [], limited: [], failed: [], held: [], verify: [] };
  for (const [req, l] of late) {
    if (!l.mask.settled && req.status === "running" && !req.aborted) continue;
    late.delete(req);
    // Aborted or released (retracted: it computes its last token again) meanwhile.
    if (req.status !== "running" || req.aborted || req.pending !== 0) continue;
    if (l.mask.error !== undefined) out.failed.push({ req, error: l.mask.error });
    else if (l.verify) out.verify.push(l.verify);
    else sampleOne(req, l.logits, l.mask, out);
  }
  return out.sampled.length + out.failed.length + out.verify.length > 0 ? out : null;
}

/**
 * Jump-forward: the constrained samples that go on append the text their grammar forces now
 * (computed on the grammar worker); the events that makes.
 */
export async function jumpForward(sampled: readonly Request[], scheduler: Scheduler): Promise<OutputEvent[]> {
  const jumps: Promise<OutputEvent[]>[] = [];
  for (const req of sampled) {
    const c = req.constraint;
    if (!c || !c.active || !req.jumpForward || req.status === "finished" || c.terminated) continue;
    jumps.push(c.takeForced(req.params.maxNewTokens - req.outputLength).then(
      (ids) => scheduler.appendForced(req, ids, (id) => forcedLogprob(req, id)),
      (err: unknown) => scheduler.fail(req, err)));
  }
  return jumps.length === 0 ? [] : (await Promise.all(jumps)).flat();
}

/** The logprob record of a token a grammar forced: the only one allowed, log-probability 0. */
export function forcedLogprob(req: Request, id: number): TokenLogprob | undefined {
  if (!req.params.logprobs) return undefined;
  return (req.params.topLogprobs ?? 0) > 0 ? { token: id, logprob: 0, topLogprobs: [{ token: id, logprob: 0 }] } : { token: id, logprob: 0 };
}
