// A request's output as tokens are appended: the sampler and the grammar's matcher learn
// the token, finish conditions are checked (stop token ids and EOS, a grammar that is
// complete, stop strings over the request's own incremental detokenizer, max tokens), and
// the text that became safe to show comes out. Text that may still turn into a stop
// string, or half a character, is held back until it cannot.
import type { Request, TokenLogprob, FinishReason } from "./request.js";

/** What one appended token produced: the text now safe to show, and why the request ends (null: it goes on). */
export interface Appended {
  readonly text: string;
  readonly finish: FinishReason | null;
  /** False for a stop token: it ends the request and is not shown. */
  readonly shown: boolean;
}

/**
 * Appends one output token. `toMatcher`: false when the grammar's matcher took the token
 * itself (jump-forward).
 */
export function appendToken(req: Request, id: number, logprob: TokenLogprob | undefined, toMatcher: boolean): Appended {
  req.sampler.accept(id);
  if (toMatcher) req.constraint?.accept(id);
  req.tokens.push(id);
  // The sampler never picks EOS or a stop token before min_new_tokens. A grammar that is
  // complete allows only EOS, which ends it even with ignore_eos.
  if (req.sampler.isStopToken(id) || req.constraint?.terminated) {
    req.endedOnStopToken = true;
    return { text: "", finish: "stop", shown: false };
  }
  if (logprob) req.logprobs.push(logprob);
  const { emit, stopped } = req.stop.push(req.detokenizer.push(id));
  req.text += emit;
  if (stopped) return { text: emit, finish: "stop", shown: true };
  return { text: emit, finish: req.outputLength >= req.params.maxNewTokens ? "length" : null, shown: true };
}

/** At the end: the text held back (an incomplete UTF-8 tail, a partial stop-string match). */
export function flushOutput(req: Request): string {
  if (req.stop.stopped) return "";
  const r = req.stop.push(req.detokenizer.flush());
  const tail = r.emit + (r.stopped ? "" : req.stop.flush());
  req.text += tail;
  return tail;
}
