// Single-sequence generation: prefill the prompt, then decode one token per step. The
// CLI's `generate` uses it; the continuous-batching engine replaces it for serving.
import type { ModelRunner, StepPlan } from "../kernels/backend.js";
import type { LoadedModel } from "../model/load.js";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer.js";
import { Sampler } from "../sampling/sampler.js";
import type { SamplingParams } from "../sampling/params.js";

export interface TokenEvent {
  readonly id: number;
  /** Newly complete text (may be empty while a UTF-8 character is still incomplete). */
  readonly text: string;
}

export type FinishReason = "stop" | "length";

export interface GenerationResult {
  readonly tokens: number[];
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
}

function plan(tokens: readonly number[], start: number, slots: Int32Array): StepPlan {
  const count = tokens.length;
  const positions = new Int32Array(count);
  for (let j = 0; j < count; j++) positions[j] = start + j;
  return {
    tokens: Int32Array.from(tokens),
    positions,
    seqs: [{ start: 0, count, kvSlots: slots.subarray(0, start + count) }],
    logitRows: Int32Array.of(count - 1),
  };
}

/** Streams tokens; returns the whole result when done. Slots 0..n-1 of the runner are used. */
export async function* generate(
  model: LoadedModel, runner: ModelRunner, prompt: readonly number[], params: SamplingParams,
): AsyncGenerator<TokenEvent, GenerationResult> {
  if (prompt.length === 0) throw new Error("the prompt is empty");
  const total = prompt.length + params.maxNewTokens;
  if (total > runner.kv.capacity) throw new Error(`prompt (${prompt.length}) + max tokens (${params.maxNewTokens}) exceeds the KV cache (${runner.kv.capacity} tokens)`);
  const slots = new Int32Array(total);
  for (let i = 0; i < total; i++) slots[i] = i;
  const sampler = new Sampler(params);
  const detok = new IncrementalDetokenizer(model.tokenizer, { skipSpecial: true });
  const eos = new Set(model.config.eosTokenIds);
  const out: number[] = [];
  let text = "";
  let finishReason: FinishReason = "length";
  let logits = await runner.forward(plan(prompt, 0, slots));
  while (out.length < params.maxNewTokens) {
    const id = sampler.sample(logits).token;
    sampler.accept(id);
    if (eos.has(id) && !params.ignoreEos) {
      finishReason = "stop";
      break;
    }
    out.push(id);
    const delta = detok.push(id);
    text += delta;
    yield { id, text: delta };
    if (out.length === params.maxNewTokens) break;
    logits = await runner.forward(plan([id], prompt.length + out.length - 1, slots));
  }
  const rest = detok.flush();
  if (rest) {
    text += rest;
    yield { id: -1, text: rest };
  }
  return { tokens: out, text, finishReason, promptTokens: prompt.length };
}
