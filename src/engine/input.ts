// What a caller submits to the engine, and its resolution into ids and full parameters.
import type { LoadedModel } from "../model/load.js";
import type { Grammar } from "../structured/grammar.js";
import { checkSamplingParams, DEFAULT_SAMPLING, type SamplingParams } from "../sampling/params.js";

export interface GenerateInput {
  /** Raw prompt text (BOS added as the model wants, special tokens parsed). */
  readonly prompt?: string;
  /** Or the prompt as token ids. */
  readonly inputIds?: readonly number[];
  readonly params?: Partial<SamplingParams>;
  /** Parallel samples sharing the prompt's KV (OpenAI `n`). */
  readonly n?: number;
  /** Cache namespace: requests with different salts never share KV. */
  readonly cacheSalt?: string;
  readonly requestId?: string;
  /**
   * Also return the logprob of every prompt token from this position on (at least 1: the
   * first token has nothing before it), as SGLang's logprob_start_len. The cache then
   * serves at most the tokens before start - 1, since the logits of the rows from there on
   * must be computed.
   */
  readonly promptLogprobsStart?: number;
  /** Constrains every sample's output (compile it with Engine.compileGrammar). */
  readonly grammar?: Grammar;
  /** With a grammar: append forced text without a model call per token (default: the engine's setting). */
  readonly jumpForward?: boolean;
}

export interface ResolvedInput {
  readonly ids: number[];
  readonly params: SamplingParams;
  readonly n: number;
  readonly salt: string;
  /** Position of the first prompt token to return a logprob for; -1 for none. */
  readonly promptLogprobsStart: number;
}

export function resolveParams(model: LoadedModel, input: GenerateInput): ResolvedInput {
  if ((input.prompt === undefined) === (input.inputIds === undefined)) throw new TypeError("give exactly one of prompt and inputIds");
  const ids = input.inputIds
    ? [...input.inputIds]
    : model.tokenizer.encode(input.prompt!, { addSpecial: true, parseSpecial: true });
  if (ids.length === 0) throw new RangeError("the prompt is empty");
  const vocab = model.config.vocabSize;
  for (const t of ids) if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new RangeError(`input id ${t} is outside the vocabulary (${vocab})`);
  const params: SamplingParams = { ...DEFAULT_SAMPLING, ...input.params };
  checkSamplingParams(params);
  const n = input.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 128) throw new RangeError(`n must be an integer from 1 to 128, got ${n}`);
  let start = -1;
  if (input.promptLogprobsStart !== undefined) {
    start = input.promptLogprobsStart;
    if (!Number.isInteger(start) || start < 1) throw new RangeError(`promptLogprobsStart must be an integer of at least 1, got ${start}`);
    start = Math.min(start, ids.length);
  }
  return { ids, params, n, salt: input.cacheSalt ?? "", promptLogprobsStart: start };
}
