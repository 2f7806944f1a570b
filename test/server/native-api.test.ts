// The SGLang-style native routes and /metrics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { envelope, get, model, post, readSse, start, until, type Running } from "./harness.js";

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 60_000 };
const greedy = { temperature: 0, max_new_tokens: 6, ignore_eos: true };

test("/generate: text or input_ids, whole or streamed, n and batches as lists, logprobs", T, async () => {
  const m = await model();
  const r = await post(`${srv.url}/generate`, { text: "The capital of France is", sampling_params: greedy });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(typeof r.body.text, "string");
  assert.equal(r.body.output_ids.length, 6);
  assert.deepEqual(r.body.meta_info.finish_reason, { type: "length", length: 6 });
  const ids = m.tokenizer.encode("The capital of France is", { addSpecial: true, parseSpecial: true });
  assert.equal(r.body.meta_info.prompt_tokens, ids.length);
  assert.equal(r.body.meta_info.completion_tokens, 6);
  assert.ok(r.body.meta_info.e2e_latency > 0);
  assert.equal(r.body.text, m.tokenizer.decode(r.body.output_ids, { skipSpecial: true }));

  const byIds = await post(`${srv.url}/generate`, { input_ids: ids, sampling_params: greedy, return_logprob: true, top_logprobs_num: 2 });
  assert.equal(byIds.body.text, r.body.text);
  assert.ok(byIds.body.meta_info.cached_tokens > 0);
  assert.equal(byIds.body.meta_info.output_token_logprobs.length, 6);
  const [lp, id] = byIds.body.meta_info.output_token_logprobs[0];
  assert.equal(id, r.body.output_ids[0]);
  assert.equal(byIds.body.meta_info.output_top_logprobs[0][0][0], lp);

  const res = await fetch(`${srv.url}/generate`, { method: "POST", body: JSON.stringify({ text: "The capital of France is", sampling_params: greedy, stream: true }) });
  const events = await readSse(res);
  assert.equal(events[events.length - 1], "[DONE]");
  const last = events[events.length - 2] as { text: string; meta_info: { finish_reason: unknown } };
  assert.equal(last.text, r.body.text, "streamed text is cumulative");
  assert.deepEqual(last.meta_info.finish_reason, { type: "length", length: 6 });

  const many = await post(`${srv.url}/generate`, { text: ["a", "b"], sampling_params: { ...greedy, n: 2 } });
  assert.ok(Array.isArray(many.body));
  assert.equal(many.body.length, 4);
});

test("/generate: input token logprobs from logprob_start_len (SGLang's format), past the cache", T, async () => {
  const m = await model();
  const ids = m.tokenizer.encode("Paris is the capital of", { addSpecial: true, parseSpecial: true });
  const body = (extra: Record<string, unknown>) => ({ input_ids: ids, sampling_params: { ...greedy, max_new_tokens: 1 }, return_logprob: true, ...extra });
  const all = await post(`${srv.url}/generate`, body({ logprob_start_len: 0 }));
  assert.equal(all.status, 200, JSON.stringify(all.body));
  const rows = all.body.meta_info.input_token_logprobs as [number | null, number, string][];
  assert.equal(rows.length, ids.length);
  assert.deepEqual(rows.map((r) => r[1]), ids);
  assert.equal(rows[0]![0], null, "the first token has no logprob");
  for (const r of rows.slice(1)) assert.ok(typeof r[0] === "number" && r[0] <= 0 && Number.isFinite(r[0]));
  // From a later position: the same values, fewer rows; without logprob_start_len none at all.
  const tail = await post(`${srv.url}/generate`, body({ logprob_start_len: 3 }));
  assert.deepEqual(tail.body.meta_info.input_token_logprobs, rows.slice(3));
  assert.equal(tail.body.meta_info.cached_tokens, 2, "the cache serves the tokens before start - 1");
  const none = await post(`${srv.url}/generate`, body({}));
  assert.equal(none.body.meta_info.input_token_logprobs, undefined);
  const bad = await post(`${srv.url}/generate`, body({ logprob_start_len: -2 }));
  assert.equal(bad.status, 400);
});

test("/tokenize and /detokenize round-trip; messages go through the chat template", T, async () => {
  const m = await model();
  const t = await post(`${srv.url}/tokenize`, { prompt: "Hello world", add_special_tokens: false });
  assert.deepEqual(t.body.tokens, m.tokenizer.encode("Hello world"));
  assert.equal(t.body.count, t.body.tokens.length);
  assert.equal(typeof t.body.max_model_len, "number");
  const d = await post(`${srv.url}/detokenize`, { tokens: t.body.tokens });
  assert.equal(d.body.text, "Hello world");
  const chat = await post(`${srv.url}/tokenize`, { messages: [{ role: "user", content: "hi" }] });
  assert.match(m.tokenizer.decode(chat.body.tokens), /<\|im_start\|>user\nhi<\|im_end\|>\n<\|im_start\|>assistant\n$/);
  const bad = await post(`${srv.url}/detokenize`, { tokens: [1, 1e7] });
  assert.equal(bad.status, 400);
  assert.equal(envelope(bad.body).param, "tokens");
});

test("/health, /health_generate, /flush_cache, /get_model_info, /get_server_info", T, async () => {
  const h = await get(`${srv.url}/health`);
  assert.equal(h.status, 200);
  assert.equal((await get(`${srv.url}/health_generate`)).status, 200);
  await post(`${srv.url}/generate`, { text: "fill the cache", sampling_params: greedy });
  assert.ok(srv.engine.stats().cachedTokens > 0);
  const f = await post(`${srv.url}/flush_cache`, "");
  assert.equal(f.status, 200);
  assert.equal(srv.engine.stats().cachedTokens, 0);
  const info = await get(`${srv.url}/get_model_info`);
  assert.equal(info.body.is_generation, true);
  assert.equal(info.body.architecture, "llama");
  assert.equal(info.body.chat_template, (await model()).chatTemplate ?? info.body.chat_template, "the template clients render role turns with");
  assert.ok(typeof info.body.chat_template === "string" && info.body.chat_template.length > 0);
  const si = await get(`${srv.url}/get_server_info`);
  assert.equal(si.body.state, "ready");
  assert.equal(typeof si.body.stats.kvCapacity, "number");
});

test("/flush_cache refuses while requests run; /abort_request stops a request by rid", T, async () => {
  const res = fetch(`${srv.url}/generate`, {
    method: "POST", body: JSON.stringify({ text: "abort me", rid: "victim-1", stream: true, sampling_params: { ...greedy, max_new_tokens: 1500 } }),
  });
  assert.ok(await until(() => srv.engine.stats().running > 0));
  const busy = await post(`${srv.url}/flush_cache`, "");
  assert.equal(busy.status, 400);
  envelope(busy.body);
  const dup = await post(`${srv.url}/generate`, { text: "x", rid: "victim-1" });
  assert.equal(dup.status, 400);
  assert.equal(envelope(dup.body).param, "rid");
  const a = await post(`${srv.url}/abort_request`, { rid: "victim-1" });
  assert.deepEqual(a.body, { aborted: 1 });
  const events = await readSse(await res);
  const last = events[events.length - 2] as { meta_info: { finish_reason: { type: string }; completion_tokens: number } };
  assert.equal(last.meta_info.finish_reason.type, "abort");
  assert.ok(last.meta_info.completion_tokens < 1500);
  assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: "nobody" })).body, { aborted: 0 });
});

test("/metrics: token counters, cache hit rate, latency histograms, gauges", T, async () => {
  const body = { text: "metrics metrics metrics", sampling_params: greedy };
  await post(`${srv.url}/generate`, body);
  await post(`${srv.url}/generate`, body);
  const r = await fetch(`${srv.url}/metrics`);
  assert.match(r.headers.get("content-type")!, /text\/plain/);
  const text = await r.text();
  const value = (name: string): number => {
    const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text);
    assert.ok(m, `${name} in\n${text}`);
    return Number(m[1]);
  };
  assert.ok(value("radixlm:prompt_tokens_total") > 0);
  assert.ok(value("radixlm:generation_tokens_total") >= 12);
  assert.ok(value("radixlm:cached_tokens_total") > 0);
  // By tier: without a disk tier, every hit is a RAM one and there is no "disk" series.
  assert.match(text, /^radixlm:cached_tokens_total\{tier="ram",model_name="tiny-test"\} [1-9]\d*$/m);
  assert.doesNotMatch(text, /tier="disk"/);
  assert.ok(value("radixlm:cache_hit_rate") > 0);
  assert.ok(value("radixlm:time_to_first_token_seconds_count") >= 2);
  assert.ok(value("radixlm:inter_token_latency_seconds_count") >= 10);
  assert.ok(value("radixlm:e2e_request_latency_seconds_count") >= 2);
  assert.equal(value("radixlm:num_running_reqs"), 0);
  assert.equal(value("radixlm:num_queue_reqs"), 0);
  assert.ok(value("radixlm:token_usage") >= 0);
  assert.ok(value("radixlm:max_total_num_tokens") > 0);
  assert.match(text, /radixlm:num_requests_total\{finish_reason="length",model_name="tiny-test"\} \d+/);
});
