import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkSamplingParams,
  DEFAULT_SAMPLING,
  logitBiasEntries,
  SamplingParamError,
  samplingParams,
  type SamplingParams,
} from "../../src/sampling/params.js";

function rejects(fields: Partial<SamplingParams>, param: string, vocabSize?: number): void {
  const p: SamplingParams = { ...DEFAULT_SAMPLING, ...fields };
  assert.throws(
    () => checkSamplingParams(p, vocabSize),
    (e: unknown) => {
      assert.ok(e instanceof SamplingParamError, String(e));
      assert.equal(e.param, param);
      assert.ok(e.message.startsWith(`${param} `), e.message);
      return true;
    },
    `${JSON.stringify(fields)} should be rejected as ${param}`,
  );
}

test("defaults and full sets of good values pass", () => {
  checkSamplingParams(DEFAULT_SAMPLING);
  const p = samplingParams(
    {
      temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, repetitionPenalty: 1.1, frequencyPenalty: -2, presencePenalty: 2,
      logitBias: { "0": -100, "5": 100, "7": 0.5 }, seed: -12345678901, stop: ["\n\n", "END"], stopTokenIds: [3],
      maxNewTokens: 10, minNewTokens: 10, ignoreEos: true, logprobs: true, topLogprobs: 20, n: 4,
    },
    8,
  );
  assert.equal(p.temperature, 0.7);
  assert.equal(samplingParams({}).maxNewTokens, DEFAULT_SAMPLING.maxNewTokens);
  checkSamplingParams({ ...DEFAULT_SAMPLING, topK: -1, topP: 1, minP: 0, stop: [], logitBias: new Map([[3, -1]]) }, 4);
});

test("each bad value is rejected with an error naming its parameter", () => {
  rejects({ temperature: -0.1 }, "temperature");
  rejects({ temperature: Infinity }, "temperature");
  rejects({ temperature: NaN }, "temperature");
  rejects({ topK: 1.5 }, "top_k");
  rejects({ topK: -2 }, "top_k");
  rejects({ topP: 0 }, "top_p");
  rejects({ topP: 1.01 }, "top_p");
  rejects({ topP: NaN }, "top_p");
  rejects({ minP: -0.01 }, "min_p");
  rejects({ minP: 1.5 }, "min_p");
  rejects({ repetitionPenalty: 0 }, "repetition_penalty");
  rejects({ repetitionPenalty: -1 }, "repetition_penalty");
  rejects({ repetitionPenalty: Infinity }, "repetition_penalty");
  rejects({ frequencyPenalty: 2.5 }, "frequency_penalty");
  rejects({ presencePenalty: -2.01 }, "presence_penalty");
  rejects({ logitBias: { "3": 101 } }, "logit_bias");
  rejects({ logitBias: { "3": -100.5 } }, "logit_bias");
  rejects({ logitBias: { "3": NaN } }, "logit_bias");
  rejects({ logitBias: { abc: 1 } }, "logit_bias");
  rejects({ logitBias: { "-1": 1 } }, "logit_bias");
  rejects({ logitBias: { "8": 1 } }, "logit_bias", 8);
  rejects({ logitBias: new Map([[2.5, 1]]) }, "logit_bias");
  rejects({ seed: 1.5 }, "seed");
  rejects({ seed: 2 ** 60 }, "seed");
  rejects({ stop: [""] }, "stop");
  rejects({ stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }, "stop");
  rejects({ stop: ["x".repeat(257)] }, "stop");
  rejects({ stop: Array.from({ length: 5 }, () => "x".repeat(205)) }, "stop");
  rejects({ stopTokenIds: [-1] }, "stop_token_ids");
  rejects({ stopTokenIds: [9] }, "stop_token_ids", 9);
  rejects({ maxNewTokens: -1 }, "max_new_tokens");
  rejects({ maxNewTokens: 2.5 }, "max_new_tokens");
  rejects({ minNewTokens: -1 }, "min_new_tokens");
  rejects({ maxNewTokens: 4, minNewTokens: 5 }, "min_new_tokens");
  rejects({ logprobs: true, topLogprobs: 21 }, "top_logprobs");
  rejects({ logprobs: true, topLogprobs: -1 }, "top_logprobs");
  rejects({ topLogprobs: 2 }, "top_logprobs");
  rejects({ n: 0 }, "n");
  rejects({ n: 129 }, "n");
  rejects({ n: 1.5 }, "n");
  // the bounds themselves pass
  checkSamplingParams({ ...DEFAULT_SAMPLING, stop: ["x".repeat(256), ...Array.from({ length: 3 }, () => "y".repeat(256))] });
  // samplingParams() checks too
  assert.throws(() => samplingParams({ topP: 2 }), /^SamplingParamError: top_p must be in \(0, 1\], got 2$/);
});

test("logit_bias comes as a JSON object or as a Map", () => {
  const a = logitBiasEntries({ "5": 1.5, "0": -100 });
  assert.deepEqual([...a.ids].sort(), [0, 5]);
  const b = logitBiasEntries(new Map([[7, 2]]));
  assert.deepEqual([...b.ids], [7]);
  assert.deepEqual([...b.values], [2]);
  assert.equal(logitBiasEntries(undefined).ids.length, 0);
});
