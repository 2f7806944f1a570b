// /generate with `choices`: the option the model scores most likely after the prompt. Each
// option is a request whose grammar is that option alone, decoded token by token (no
// jump-forward: every position needs its logits) with raw logprobs; the option's score is
// the sum of its tokens' log-probabilities under the model. The requests share the prompt's
// KV through the radix cache (the first to prefill caches it, the others match it).
import type { FastifyReply } from "fastify";
import type { SamplingParams } from "../sampling/params.js";
import { Generation } from "./generation.js";
import type { Serving } from "./serving.js";
import { onClientGone } from "./sse.js";
import { compileFor } from "./structured.js";

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
}

export async function generateChoices(s: Serving, r: ChoicesRequest, reply: FastifyReply): Promise<ChoiceOutput[]> {
  const grammars = await Promise.all(r.choices.map((c) => compileFor(s, { kind: "choices", choices: [c] }, "sampling_params.choices")));
  const gens = r.choices.map((c, i) => {
    // The option's tokens, then EOS, which its grammar allows only once the option is complete.
    const room = s.model.tokenizer.encode(c, { addSpecial: false }).length + 1;
    let maxNewTokens = Infinity;
    for (const p of r.prompts) maxNewTokens = Math.min(maxNewTokens, s.maxNewTokens(p.length, undefined, room, "text", "max_new_tokens"));
    const params: Partial<SamplingParams> = { temperature: 0, maxNewTokens, logprobs: true, logprobsMode: "raw" };
    return new Generation(s, { id: `${r.id}-c${i}`, prompts: r.prompts, params, n: 1, cacheSalt: r.cacheSalt, arrival: r.arrival, grammar: grammars[i], jumpForward: false });
  });
  onClientGone(reply, () => gens.forEach((g) => g.abort()));
  await Promise.all(gens.map((g) => g.run()));
  return r.prompts.map((prompt, p) => {
    const scores = gens.map((g) => g.choices[p]!.logprobs.reduce((a, t) => a + t.logprob, 0));
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    const c = gens[best]!.choices[p]!;
    const aborted = gens.some((g) => g.choices[p]!.finishReason === "abort");
    return {
      text: aborted ? "" : r.choices[best]!,
      output_ids: c.tokenIds,
      meta_info: {
        id: r.prompts.length === 1 ? r.id : `${r.id}-${p}`,
        finish_reason: { type: aborted ? "abort" : "stop" },
        prompt_tokens: prompt.length,
        completion_tokens: c.tokenIds.length,
        cached_tokens: gens[best]!.promptUsage(p).cachedTokens,
        choice_logprobs: scores,
        e2e_latency: (performance.now() - r.arrival) / 1000,
      },
    };
  });
}
