// Response shapes of the OpenAI API: usage, chat logprobs, legacy completion logprobs, tool
// calls (whole and as stream deltas), and the request-to-sampling-parameter mapping shared by
// both routes.
import type { SamplingParams } from "../sampling/params.js";
import type { ParsedToolCall } from "../structured/tool-calls.js";
import type { ToolCallEvent } from "../structured/tool-call-stream.js";
import { newId } from "./generation.js";
import type { TokenLogprob, Usage } from "../engine/stream.js";
import type { SamplingBody } from "./schema.js";
import type { Serving } from "./serving.js";

export interface UsageBody {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  /** OpenAI's predicted-output counts: here, speculative decoding's drafted tokens the model agreed with, and those it did not. */
  completion_tokens_details: { accepted_prediction_tokens: number; rejected_prediction_tokens: number };
}

export function usageBody(u: Usage): UsageBody {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
    completion_tokens_details: { accepted_prediction_tokens: u.acceptedDraftTokens, rejected_prediction_tokens: u.rejectedDraftTokens },
  };
}

/** OpenAI's floor for a log-probability (JSON has no -Infinity). */
function lp(x: number): number {
  return Number.isFinite(x) ? x : -9999;
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** `choices[].logprobs.content` entries of a chat completion. */
export function chatLogprobs(s: Serving, lps: readonly TokenLogprob[]): ChatTokenLogprob[] {
  return lps.map((t) => ({
    token: s.tokenString(t.token),
    logprob: lp(t.logprob),
    bytes: s.tokenBytes(t.token),
    top_logprobs: (t.topLogprobs ?? []).map((a) => ({ token: s.tokenString(a.token), logprob: lp(a.logprob), bytes: s.tokenBytes(a.token) })),
  }));
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/**
 * The legacy completions `logprobs` object. `offset` is the text offset of the first token
 * (the echoed prompt's length, or where the previous chunk of a stream ended); returns the
 * object and the offset after the last token.
 */
export function completionLogprobs(s: Serving, lps: readonly TokenLogprob[], offset: number): { logprobs: CompletionLogprobs; end: number } {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const t of lps) {
    const text = s.tokenString(t.token);
    out.tokens.push(text);
    out.token_logprobs.push(lp(t.logprob));
    // "up to logprobs + 1 elements": the most likely ones and the sampled token.
    const top: Record<string, number> = {};
    for (const a of t.topLogprobs ?? []) top[s.tokenString(a.token)] = lp(a.logprob);
    top[text] = lp(t.logprob);
    out.top_logprobs.push(top);
    out.text_offset.push(offset);
    offset += text.length;
  }
  return { logprobs: out, end: offset };
}

/** `{...}` without its undefined fields (so that the engine's defaults apply to them). */
export function defined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

const orUndef = <T>(x: T | null | undefined): T | undefined => (x === null ? undefined : x);

/**
 * The sampling fields of an OpenAI body. Without a temperature, `defaultTemperature`: the
 * model's default, else OpenAI's 1; the engine fills the model's other defaults.
 */
export function samplingFrom(b: SamplingBody, defaultTemperature: number): Partial<SamplingParams> {
  return defined({
    temperature: b.temperature ?? defaultTemperature,
    topP: orUndef(b.top_p),
    topK: orUndef(b.top_k),
    minP: orUndef(b.min_p),
    repetitionPenalty: orUndef(b.repetition_penalty),
    presencePenalty: orUndef(b.presence_penalty),
    frequencyPenalty: orUndef(b.frequency_penalty),
    logitBias: orUndef(b.logit_bias),
    seed: orUndef(b.seed),
    stop: typeof b.stop === "string" ? [b.stop] : orUndef(b.stop),
    stopTokenIds: orUndef(b.stop_token_ids),
    ignoreEos: orUndef(b.ignore_eos),
    minNewTokens: orUndef(b.min_tokens),
  });
}

/** Engine parameter names as the OpenAI routes spell them. */
export const OPENAI_NAMES = { max_new_tokens: "max_tokens", min_new_tokens: "min_tokens" } as const;

export interface ToolCallBody {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** `message.tool_calls` of a whole chat completion. */
export function toolCallBodies(calls: readonly ParsedToolCall[]): ToolCallBody[] {
  return calls.map((c) => ({ id: newId("call_"), type: "function", function: { name: c.name, arguments: c.arguments } }));
}

/** One streamed tool-call delta: the first of a call names it, the rest carry argument pieces. */
export type ToolCallDelta =
  | { index: number; id: string; type: "function"; function: { name: string; arguments: string } }
  | { index: number; function: { arguments: string } };

export type ChatDelta = { content: string } | { reasoning_content: string } | { tool_calls: ToolCallDelta[] };

/** The chat stream deltas of tool-call parser events, in order (as OpenAI streams them). */
export function chatDeltas(events: readonly ToolCallEvent[]): ChatDelta[] {
  return events.map((e): ChatDelta => {
    switch (e.type) {
      case "content":
        return { content: e.text };
      case "call":
        return { tool_calls: [{ index: e.index, id: newId("call_"), type: "function", function: { name: e.name, arguments: "" } }] };
      case "arguments":
        return { tool_calls: [{ index: e.index, function: { arguments: e.text } }] };
    }
  });
}
