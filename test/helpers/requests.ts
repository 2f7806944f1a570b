// Requests for scheduler tests, with real parts: a sampler, an incremental detokenizer over
// the byte-level test tokenizer (token id b < 256 is byte b), and a stop-string matcher.
import { buildTestTokenizer } from "../../src/model/test-tokenizer.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { loadTokenizerJson } from "../../src/tokenizer/load.js";
import { Request } from "../../src/scheduler/request.js";
import { Sampler } from "../../src/sampling/sampler.js";
import { IncrementalDetokenizer } from "../../src/tokenizer/detokenizer.js";
import { DEFAULT_SAMPLING, type SamplingParams } from "../../src/sampling/params.js";

export const VOCAB = 1024;

let tokenizer: Tokenizer | null = null;
export function testTokenizer(): Tokenizer {
  if (!tokenizer) {
    const files = buildTestTokenizer(VOCAB, "");
    tokenizer = loadTokenizerJson(files.tokenizer, files.config);
  }
  return tokenizer;
}

export function eosId(): number {
  return testTokenizer().eosIds[0]!;
}

export interface RequestOptions {
  readonly params?: Partial<SamplingParams>;
  readonly salt?: string;
  /** Which of n samples (n = params.n). */
  readonly sample?: number;
  readonly parentId?: string;
}

export function makeRequest(id: string, prompt: number[], arrival: number, o: RequestOptions = {}): Request {
  const params: SamplingParams = { ...DEFAULT_SAMPLING, maxNewTokens: 4, ...o.params };
  const sample = o.sample ?? 0;
  return new Request({
    id, parentId: o.parentId ?? id, index: sample, part: 0, prompt, params, salt: o.salt ?? "", arrival,
    sampler: new Sampler(params, { promptTokens: prompt, vocabSize: VOCAB, eosTokenIds: [eosId()], sampleIndex: sample }),
    detokenizer: new IncrementalDetokenizer(testTokenizer(), { skipSpecial: true }),
  });
}
