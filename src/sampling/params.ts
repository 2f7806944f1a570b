// What a request asks of the sampler.

export interface SamplingParams {
  /** 0 means greedy. */
  readonly temperature: number;
  /** 0 or less: no top-k cut. */
  readonly topK: number;
  /** 1: no nucleus cut. */
  readonly topP: number;
  /** Seed of the request's own random stream; undefined draws one. */
  readonly seed?: number;
  readonly maxNewTokens: number;
  readonly ignoreEos?: boolean;
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 128 };

export function checkSamplingParams(p: SamplingParams): void {
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) throw new Error(`temperature must be >= 0, got ${p.temperature}`);
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new Error(`top_k must be an integer >= 0, got ${p.topK}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new Error(`top_p must be in (0, 1], got ${p.topP}`);
  if (!Number.isInteger(p.maxNewTokens) || p.maxNewTokens < 0) throw new Error(`max tokens must be an integer >= 0, got ${p.maxNewTokens}`);
}
