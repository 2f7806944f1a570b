// What a request asks of the sampler, with OpenAI / SGLang meanings, and their validation.
//
// Field names are camelCase; error messages name the parameter as the HTTP API spells it
// (snake_case), so the server can pass them through unchanged.

/** token id -> bias added to its logit. JSON bodies give string keys ("1234"). */
export type LogitBias = ReadonlyMap<number, number> | Readonly<Record<string, number>>;

export interface SamplingParams {
  /** 0 (or below 1e-5) means greedy. */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 or -1: no cut. */
  readonly topK: number;
  /** Keep the smallest most-likely set whose mass reaches top_p (after top_k); 1: no cut. */
  readonly topP: number;
  /** Drop tokens whose probability is below min_p times the top one's; 0: off. */
  readonly minP?: number;
  /** HF style, over prompt + output tokens: positive logits divided, negative multiplied; 1: off. */
  readonly repetitionPenalty?: number;
  /** OpenAI: subtract count * penalty for each token generated so far; in [-2, 2]. */
  readonly frequencyPenalty?: number;
  /** OpenAI: subtract the penalty once for each token generated so far; in [-2, 2]. */
  readonly presencePenalty?: number;
  /** Added to the logits of the given tokens; each value in [-100, 100]. */
  readonly logitBias?: LogitBias;
  /** Seed of the request's own random stream; undefined draws one. Any safe integer. */
  readonly seed?: number;
  /**
   * Stop strings (at most MAX_STOP_STRINGS, each non-empty and at most MAX_STOP_STRING_LENGTH
   * characters, MAX_STOP_TOTAL_LENGTH in all); matched by StopMatcher, not in the output.
   */
  readonly stop?: readonly string[];
  /** Token ids that end the sequence like EOS. */
  readonly stopTokenIds?: readonly number[];
  readonly maxNewTokens: number;
  /** EOS and stop_token_ids cannot be sampled before this many tokens were generated. */
  readonly minNewTokens?: number;
  readonly ignoreEos?: boolean;
  /** Report the chosen token's log-probability. */
  readonly logprobs?: boolean;
  /** Also report this many most likely tokens (0..20); needs logprobs. */
  readonly topLogprobs?: number;
  /**
   * What logprobs describe: "processed" (default), the logits after penalties, bias and the
   * grammar mask; "raw", the model's own logits (vLLM's raw_logprobs), e.g. to score forced text.
   */
  readonly logprobsMode?: "processed" | "raw";
  /** Parallel samples of one prompt (the engine forks them; each gets its own seed stream). */
  readonly n?: number;
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 128 };

export const MAX_STOP_STRINGS = 16;
// Every generated token is checked against every stop string's prefixes (StopMatcher), at a
// cost that grows with the square of a string's length: these keep it small per token.
export const MAX_STOP_STRING_LENGTH = 256;
export const MAX_STOP_TOTAL_LENGTH = 1024;
// Each entry costs every step of the request: bounded like the stop strings (OpenAI takes 300
// logit_bias entries; this is more generous, and far below a vocabulary's size).
export const MAX_LOGIT_BIAS = 1024;
export const MAX_STOP_TOKEN_IDS = 1024;
export const MAX_TOP_LOGPROBS = 20;
export const MAX_N = 128;

/** The defaults with the given fields replaced, checked. */
export function samplingParams(fields: Partial<SamplingParams> = {}, vocabSize?: number): SamplingParams {
  const p: SamplingParams = { ...DEFAULT_SAMPLING, ...fields };
  checkSamplingParams(p, vocabSize);
  return p;
}

/** A bad sampling parameter; `param` is its API (snake_case) name. */
export class SamplingParamError extends Error {
  constructor(readonly param: string, message: string) {
    super(`${param} ${message}`);
    this.name = "SamplingParamError";
  }
}

function fail(param: string, message: string): never {
  throw new SamplingParamError(param, message);
}

function checkRange(param: string, x: number | undefined, lo: number, hi: number, loOpen = false): void {
  if (x === undefined) return;
  const ok = typeof x === "number" && (loOpen ? x > lo : x >= lo) && x <= hi;
  if (!ok) fail(param, `must be in ${loOpen ? "(" : "["}${lo}, ${hi}], got ${x}`);
}

function checkInt(param: string, x: number | undefined, lo: number, hi: number, hiName = String(hi)): void {
  if (x === undefined) return;
  if (!Number.isInteger(x) || x < lo || x > hi) {
    fail(param, hi === Infinity ? `must be an integer >= ${lo}, got ${x}` : `must be an integer in [${lo}, ${hiName}], got ${x}`);
  }
}

function checkTokenId(param: string, id: number, vocabSize: number | undefined): void {
  if (!Number.isInteger(id) || id < 0) fail(param, `has a token id that is not an integer >= 0: ${id}`);
  if (vocabSize !== undefined && id >= vocabSize) fail(param, `has token id ${id}, outside the vocabulary (size ${vocabSize})`);
}

/** The logit bias as parallel arrays (for a checked bias). */
export function logitBiasEntries(bias: LogitBias | undefined): { ids: Int32Array; values: Float32Array } {
  const pairs = biasPairs(bias);
  return { ids: Int32Array.from(pairs, (e) => e[0]), values: Float32Array.from(pairs, (e) => e[1]) };
}

function biasPairs(bias: LogitBias | undefined): [number, number][] {
  if (bias === undefined) return [];
  if (bias instanceof Map) return [...bias.entries()];
  return Object.entries(bias as Readonly<Record<string, number>>).map(([key, value]): [number, number] => {
    if (!/^\d+$/.test(key)) fail("logit_bias", `has a key that is not a token id: "${key}"`);
    return [Number(key), value];
  });
}

/**
 * Throws a SamplingParamError naming the first bad parameter. With `vocabSize`, token ids
 * (logit_bias, stop_token_ids) must also lie inside the vocabulary.
 */
export function checkSamplingParams(p: SamplingParams, vocabSize?: number): void {
  if (typeof p.temperature !== "number" || !(p.temperature >= 0) || !Number.isFinite(p.temperature)) {
    fail("temperature", `must be a finite number >= 0, got ${p.temperature}`);
  }
  if (!Number.isInteger(p.topK) || p.topK < -1) fail("top_k", `must be an integer >= 1, or 0 / -1 for no cut, got ${p.topK}`);
  checkRange("top_p", p.topP, 0, 1, true);
  checkRange("min_p", p.minP, 0, 1);
  if (p.repetitionPenalty !== undefined && !(p.repetitionPenalty > 0 && Number.isFinite(p.repetitionPenalty))) {
    fail("repetition_penalty", `must be a finite number > 0, got ${p.repetitionPenalty}`);
  }
  checkRange("frequency_penalty", p.frequencyPenalty, -2, 2);
  checkRange("presence_penalty", p.presencePenalty, -2, 2);
  const biasCount = p.logitBias === undefined ? 0 : p.logitBias instanceof Map ? p.logitBias.size : Object.keys(p.logitBias).length;
  if (biasCount > MAX_LOGIT_BIAS) fail("logit_bias", `allows at most ${MAX_LOGIT_BIAS} entries, got ${biasCount}`);
  for (const [id, value] of biasPairs(p.logitBias)) {
    checkTokenId("logit_bias", id, vocabSize);
    if (!(typeof value === "number" && value >= -100 && value <= 100)) fail("logit_bias", `value for token ${id} must be in [-100, 100], got ${value}`);
  }
  if (p.seed !== undefined && !Number.isSafeInteger(p.seed)) fail("seed", `must be an integer, got ${p.seed}`);
  if (p.stop !== undefined) {
    if (!Array.isArray(p.stop)) fail("stop", "must be a list of strings");
    if (p.stop.length > MAX_STOP_STRINGS) fail("stop", `allows at most ${MAX_STOP_STRINGS} strings, got ${p.stop.length}`);
    let total = 0;
    for (const s of p.stop) {
      if (typeof s !== "string" || s.length === 0) fail("stop", `strings must be non-empty, got ${JSON.stringify(s)}`);
      if (s.length > MAX_STOP_STRING_LENGTH) fail("stop", `strings must be at most ${MAX_STOP_STRING_LENGTH} characters long, got one of ${s.length}`);
      total += s.length;
    }
    if (total > MAX_STOP_TOTAL_LENGTH) fail("stop", `strings may have at most ${MAX_STOP_TOTAL_LENGTH} characters in all, got ${total}`);
  }
  if (p.stopTokenIds !== undefined) {
    if (!Array.isArray(p.stopTokenIds)) fail("stop_token_ids", "must be a list of token ids");
    if (p.stopTokenIds.length > MAX_STOP_TOKEN_IDS) fail("stop_token_ids", `allows at most ${MAX_STOP_TOKEN_IDS} token ids, got ${p.stopTokenIds.length}`);
    for (const id of p.stopTokenIds) checkTokenId("stop_token_ids", id, vocabSize);
  }
  checkInt("max_new_tokens", p.maxNewTokens, 0, Infinity);
  checkInt("min_new_tokens", p.minNewTokens, 0, p.maxNewTokens, "max_new_tokens");
  if (p.logprobs !== undefined && typeof p.logprobs !== "boolean") fail("logprobs", `must be a boolean, got ${String(p.logprobs)}`);
  checkInt("top_logprobs", p.topLogprobs, 0, MAX_TOP_LOGPROBS);
  if (p.logprobsMode !== undefined && p.logprobsMode !== "processed" && p.logprobsMode !== "raw") {
    fail("logprobs_mode", `must be "processed" or "raw", got ${JSON.stringify(p.logprobsMode)}`);
  }
  if ((p.topLogprobs ?? 0) > 0 && p.logprobs !== true) fail("top_logprobs", "needs logprobs to be true");
  checkInt("n", p.n, 1, MAX_N);
}
