// /generate with `choices`: the option the model scores most likely after the prompt. Each
// option is a request whose grammar is that option alone, decoded token by token (no
// jump-forward: every position needs its logits) with raw logprobs; the option's score is
// the sum of its tokens' log-probabilities under the model. The requests share the prompt's
// KV through the radix cache (the first to prefill caches it, the others match it).
import type { FastifyReply } from "fastify";
import type { SamplingParams } from "../sampling/params.js";
import type { GenerateInput } from "../engine/input.js";
import type { ParamNames } from "./errors.js";
import { Generation } from "./generation.js";
import type { Serving } from "./serving.js";
import { onClientGone } from "./sse.js";

export interface ChoiceOutput {
  readonly text: string;
  readonly output_ids: number[];
  readonly meta_info: Record<string, unknown>;
}

export interface ChoicesRequest {
  readonly id: string;
  readonly prompts: readonly number[][];
  readonly choices: readonly string[];
  readonly cacheSalt?: string;
  readonly arrival: number;
  /** Engine parameter names as the route spells them. */
  readonly names: ParamNames;
}

export async function generateChoices(s: Serving, r: ChoicesRequest, reply: FastifyReply): Promise<ChoiceOutput[]> {
  // One submission, all or nothing: option i of prompt p is input i * prompts + p.
  const inputs = r.choices.flatMap((c, i) => {
    // The option's tokens, then EOS, which its grammar allows only once the option is complete.
    const room = s.model.tokenizer.encode(c, { addSpecial: false }).length + 1;
    const params: Partial<SamplingParams> = { temperature: 0, logprobs: true, logprobsMode: "raw" };
    return r.prompts.map((ids): GenerateInput => ({ inputIds: ids, params, defaultMaxNewTokens: room, cacheSalt: r.cacheSalt, grammar: { kind: "choices", choices: [c] }, jumpForward: false }));
  });
  const gen = new Generation(s, { id: r.id, inputs, arrival: r.arrival }, r.names);
  onClientGone(reply, () => gen.abort());
  await gen.run();
  const failure = gen.failure();
  if (failure) throw failure;
  const P = r.prompts.length;
  return r.prompts.map((prompt, p) => {
    const outs = r.choices.map((_, i) => gen.outputs[i * P + p]!);
    const scores = outs.map((o) => o.logprobs.reduce((a, t) => a + t.logprob, 0));
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    const c = outs[best]!;
    const aborted = outs.some((o) => o.finishReason === "abort");
    return {
      text: aborted ? "" : r.choices[best]!,
      output_ids: c.tokenIds,
      meta_info: {
        id: P === 1 ? r.id : `${r.id}-${p}`,
        finish_reason: { type: aborted ? "abort" : "stop" },
        prompt_tokens: prompt.length,
        completion_tokens: c.tokenIds.length,
        cached_tokens: gen.promptUsage(best * P + p).cachedTokens,
        choice_logprobs: scores,
        e2e_latency: (performance.now() - r.arrival) / 1000,
      },
    };
  });
}
