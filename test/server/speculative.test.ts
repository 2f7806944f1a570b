// Speculative decoding as the server reports it: /generate's meta_info (as SGLang's), the
// OpenAI usage's completion_tokens_details (accepted and rejected prediction tokens, as
// OpenAI's predicted outputs), and the radixlm:spec_* metrics; and a chat request's
// `prediction`, which it drafts from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { post, start } from "./harness.js";

const prompt = Array.from({ length: 40 }, (_, i) => 5 + i * 7);
const greedy = { max_new_tokens: 32, temperature: 0, ignore_eos: true };

test("a repeated request is drafted from the tree: meta_info, usage and /metrics count the accepted drafts", async () => {
  const srv = await start({ speculative: "ngram" });
  try {
    const first = await post(`${srv.url}/generate`, { input_ids: prompt, sampling_params: greedy });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await post(`${srv.url}/generate`, { input_ids: prompt, sampling_params: greedy });
    assert.deepEqual(again.body.output_ids, first.body.output_ids);
    const m = again.body.meta_info;
    assert.ok(m.spec_accepted_tokens >= 24, JSON.stringify(m));
    assert.ok(m.spec_draft_tokens >= m.spec_accepted_tokens);
    assert.ok(m.spec_verify_ct > 0 && m.spec_verify_ct < 32, "fewer verifications than tokens");

    // The OpenAI client: the same prompt as ids through /v1/completions.
    const c = await srv.client.completions.create({ model: "tiny-test", prompt, max_tokens: 32, temperature: 0 });
    const details = c.usage!.completion_tokens_details!;
    assert.ok(details.accepted_prediction_tokens! > 0, JSON.stringify(c.usage));
    assert.equal(typeof details.rejected_prediction_tokens, "number");

    // Streaming: the last chunk carries the counts.
    const r = await fetch(`${srv.url}/generate`, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ input_ids: prompt, sampling_params: greedy, stream: true }) });
    const chunks = (await r.text()).split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    const last = chunks.at(-1)!;
    assert.ok(last.meta_info.spec_accepted_tokens > 0, JSON.stringify(last.meta_info));

    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);
    const st = srv.engine.stats();
    assert.equal(value("radixlm:spec_draft_tokens_total"), st.specDraftTokens);
    assert.equal(value("radixlm:spec_accepted_tokens_total"), st.specAcceptedTokens);
    assert.equal(value("radixlm:spec_verify_total"), st.specVerifySteps);
    assert.ok(Math.abs(value("radixlm:spec_accept_rate") - st.specAcceptedTokens / st.specDraftTokens) < 1e-9);
    assert.ok(value("radixlm:spec_accept_length") > 1);
  } finally {
    await srv.close();
  }
});

test("with speculation off the counts are zero and present", async () => {
  const srv = await start({ speculative: "off" });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await post(`${srv.url}/generate`, { input_ids: prompt, sampling_params: greedy });
      assert.deepEqual([r.body.meta_info.spec_verify_ct, r.body.meta_info.spec_draft_tokens, r.body.meta_info.spec_accepted_tokens], [0, 0, 0]);
    }
    const c = await srv.client.chat.completions.create({ model: "tiny-test", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    assert.deepEqual(c.usage!.completion_tokens_details, { accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 });
  } finally {
    await srv.close();
  }
});

test("a chat request's prediction (OpenAI's predicted outputs) is drafted from: the same answer, most of it accepted", async () => {
  const srv = await start({ speculative: "ngram" });
  try {
    const messages = [{ role: "user" as const, content: "Tell me a long story about a cat and a hat." }];
    const plain = await srv.client.chat.completions.create({ model: "tiny-test", messages, max_tokens: 48, temperature: 0, cache_salt: "a" } as never);
    const text = plain.choices[0]!.message.content!;
    assert.ok(text.length > 0);
    // Another salt: the tree holds nothing for it, so the drafts come from the prediction.
    const predicted = await srv.client.chat.completions.create({ model: "tiny-test", messages, max_tokens: 48, temperature: 0, cache_salt: "b",
      prediction: { type: "content", content: text } } as never);
    assert.equal(predicted.choices[0]!.message.content, text);
    const d = predicted.usage!.completion_tokens_details!;
    assert.ok(d.accepted_prediction_tokens! >= predicted.usage!.completion_tokens / 2, JSON.stringify(predicted.usage));
    // Text parts, and a wrong prediction: the answer is the same either way.
    const parts = await srv.client.chat.completions.create({ model: "tiny-test", messages, max_tokens: 48, temperature: 0, cache_salt: "c",
      prediction: { type: "content", content: [{ type: "text", text: "Once upon a time " }, { type: "text", text: "there was nothing like it." }] } } as never);
    assert.equal(parts.choices[0]!.message.content, text);
  } finally {
    await srv.close();
  }
});

test("a bad prediction is a 400 naming it", async () => {
  const srv = await start({ maxTotalTokens: 2048 });
  try {
    const messages = [{ role: "user", content: "hi" }];
    for (const prediction of [{ type: "text", content: "x" }, { type: "content" }, { type: "content", content: 5 }, { type: "content", content: [{ type: "image_url", image_url: {} }] },
      { type: "content", content: "word ".repeat(5000) }]) {
      const r = await post(`${srv.url}/v1/chat/completions`, { messages, max_tokens: 2, prediction });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.error.param, /^prediction/, JSON.stringify(r.body));
    }
  } finally {
    await srv.close();
  }
});
