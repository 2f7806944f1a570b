// The `edit` workload: edit requests (edit-text.ts) as one-message chats, rendered by the
// model's chat template and tokenized as the engine tokenizes a `messages` input. Each is
// answered greedily to the model's end of turn, with room for the expected reply and a margin;
// a request whose prompt and room would not fit the context is drawn again.
import { ChatTemplate, CHATML_TEMPLATE } from "../tokenizer/chat-template.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { EditGen } from "./edit-text.js";
import type { Workload, WorkloadStep } from "./workloads.js";

/** Tokens of room past the expected reply: its end-of-turn token, and a reply that strays a little. */
export const EDIT_OUTPUT_MARGIN = 32;
/** Draws per request before giving up on fitting one into the context. */
const MAX_DRAWS = 50;

export interface EditWorkloadOptions {
  readonly requests: number;
  readonly seed: number;
  /** Texts of at least this many tokens (stories joined); null: one story or two, as the demo model was trained on. */
  readonly textTokens: number | null;
}

/** A user message rendered as the whole prompt text, ending with the assistant's header. */
export type RenderUser = (user: string) => string;

/**
 * A renderer from a chat template's source (a server's, or a tokenizer file's), ChatML where
 * there is none, as the engine talks to a model without one.
 */
export function templateRenderer(source: string | null, tok: Tokenizer): RenderUser {
  const name = (id: number | undefined): string | undefined => (id === undefined ? undefined : tok.idToToken(id));
  const t = new ChatTemplate(source ?? CHATML_TEMPLATE, { bosToken: name(tok.bosId), eosToken: name(tok.eosIds[0]) });
  return (user) => t.render([{ role: "user", content: user }], { addGenerationPrompt: true });
}

export function makeEditWorkload(o: EditWorkloadOptions, tok: Tokenizer, render: RenderUser, context: number): Workload {
  const count = (s: string): number => tok.encode(s).length;
  const gen = new EditGen(o.seed ^ 0xed17, o.textTokens !== null ? { minTokens: o.textTokens, count } : {});
  const chains: WorkloadStep[][] = [];
  for (let i = 0; i < o.requests; i++) {
    let need = Infinity;
    for (let draw = 0; ; draw++) {
      const e = gen.edit();
      const prompt = render(e.user);
      // As the engine tokenizes a rendered conversation: the template writes BOS where the model wants one.
      const tokens = tok.encode(prompt, { addSpecial: false, parseSpecial: true });
      const outputLen = count(e.expected) + EDIT_OUTPUT_MARGIN;
      if (tokens.length + outputLen <= context) {
        chains.push([{ tokens, outputLen, chat: { user: e.user, prompt, expected: e.expected } }]);
        break;
      }
      need = Math.min(need, tokens.length + outputLen);
      if (draw + 1 >= MAX_DRAWS) {
        throw new Error(`edit requests do not fit the model's context of ${context} tokens: the smallest of ${MAX_DRAWS} drawn needs ${need} ` +
          `(prompt, expected reply and ${EDIT_OUTPUT_MARGIN} more)${o.textTokens !== null ? `; ask for shorter texts than ${o.textTokens} tokens` : ""}`);
      }
    }
  }
  return { name: "edit", chains };
}
