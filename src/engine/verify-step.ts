// The verification stage of speculative decoding. A speculating request's step computed its
// pending token and k drafted tokens after it; row j's logits are exactly those plain
// decoding would compute at that position if the tokens before it are the real ones, so
// the request samples row by row, as plain decoding would, while the token it samples is the
// draft that the next row was computed with. The first disagreement is kept (it is the token
// plain decoding samples there) and the rows after it are thrown away with their KV slots.
//
// Greedy, this accepts the longest draft prefix equal to the argmax. Sampled, it is
// rejection sampling with a draft that is one token for sure: accepting d with probability
// p(d), and otherwise drawing from p without d renormalised, is the same as drawing x from p
// and accepting d when x = d (then keeping x either way). Drawing x with the sampler's own
// random number for that output position makes it the token plain decoding draws: outputs
// and logprobs are bitwise those of decoding without speculation, for any seed and batch.
//
// A grammar composes: the grammar worker gave the mask of each draft row (the one after the
// draft tokens before it) and cut the draft at the first token it refuses, so each row samples
// under the mask plain decoding would have there.
import type { OutputEvent, Scheduler } from "../scheduler/scheduler.js";
import type { Request } from "../scheduler/request.js";
import type { Speculator } from "../speculative/speculator.js";
import { sampleToken, type Verification } from "./sample-step.js";

/** Verifies the drafts; returns the events, how many tokens were appended, and the requests that go on. */
export function verifyDrafts(verify: readonly Verification[], vocab: number, scheduler: Scheduler, speculator: Speculator): { events: OutputEvent[]; tokens: number; requests: Request[] } {
  const events: OutputEvent[] = [];
  const requests: Request[] = [];
  let tokens = 0;
  for (const v of verify) {
    const req = v.req;
    const c = req.constraint;
    // A grammar that constrains now gave the masks along the draft, up to the first token it
    // refuses: the rows after that one are not verified. One still dormant (a reasoning model's
    // thinking) has no masks: verification stops where it wakes.
    const constrained = c !== null && c.active;
    const k = constrained ? Math.min(v.draft.length, c.draftAllowed) : v.draft.length;
    let accepted = 0;
    for (let j = 0; j <= k; j++) {
      // Row j was computed with draft j - 1 as its token, which row j - 1 agreed with.
      if (j > 0) scheduler.draftVerified(req, v.position + j + 1);
      if (constrained) c.useDraftMask(j);
      const s = sampleToken(req, v.logits.subarray(j * vocab, (j + 1) * vocab));
      if ("error" in s) {
        events.push(...scheduler.fail(req, s.error));
        break;
      }
      events.push(...scheduler.postprocess([s]));
      tokens++;
      const agrees = j < k && s.token === v.draft[j];
      if (agrees) accepted++;
      if (!agrees || req.status === "finished" || (c !== null && !constrained && c.active)) break;
    }
    scheduler.settleDraft(req);
    speculator.verified(req, v.draft.length, accepted);
    if (req.status !== "finished") requests.push(req);
  }
  return { events, tokens, requests };
}
