// Speculative decoding as the server reports it: /generate's meta_info (as SGLang's), the
// OpenAI usage's completion_tokens_details (accepted and rejected prediction tokens, as
// OpenAI's predicted outputs), and the radixlm:spec_* metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { post, start } from "./harness.js";

const prompt = Array.from({ length: 40 }, (_, i) => 5 + i * 7);
const greedy = { max_new_tokens: 32, temperature: 0, ignore_eos: true };

test("a repeated request is drafted from the tree: meta_info, usage and /metrics count the accepted drafts", async () => {
  const srv = await start();
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
