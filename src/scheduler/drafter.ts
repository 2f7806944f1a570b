// What the scheduler asks of speculative decoding (src/speculative): a few tokens guessed to
// follow a decoding request's pending token, computed in the same step and kept only where
// the model's own choice agrees (the engine's verify step).
import type { Request } from "./request.js";

export interface Drafter {
  /** At most `max` tokens guessed to follow `req`'s last token; empty: it decodes one token as usual. */
  propose(req: Request, max: number): readonly number[];
}
