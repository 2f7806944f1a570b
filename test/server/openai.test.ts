// The OpenAI routes through the real `openai` client: chat and completions, streamed and not,
// n, stop, seed, logprobs, usage with cached tokens.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type OpenAI from "openai";
import { MODEL_NAME, model, start, withExtra, type Running } from "./harness.js";
import { ChatTemplate } from "../../src/tokenizer/chat-template.js";

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 60_000 };
const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Name three colours." },
];

async function chatPromptTokens(): Promise<number> {
  const m = await model();
  const tmpl = new ChatTemplate(m.chatTemplate!, {});
  const text = tmpl.render(messages as never, { addGenerationPrompt: true });
  return m.tokenizer.encode(text, { addSpecial: false, parseSpecial: true }).length;
}

async function streamedChat(params: OpenAI.ChatCompletionCreateParamsStreaming): Promise<{ texts: string[]; reasons: (string | null)[]; usage: OpenAI.CompletionUsage | null; logprobs: unknown[][] }> {
  const stream = await srv.client.chat.completions.create(params);
  const texts: string[] = [];
  const reasons: (string | null)[] = [];
  const logprobs: unknown[][] = [];
  let usage: OpenAI.CompletionUsage | null = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      texts[c.index] = (texts[c.index] ?? "") + (c.delta.content ?? "");
      if (c.finish_reason) reasons[c.index] = c.finish_reason;
      if (c.logprobs?.content) (logprobs[c.index] ??= []).push(...c.logprobs.content);
    }
  }
  return { texts, reasons, usage, logprobs };
}

test("chat completion: greedy, usage counts, cached tokens on a repeat, the same text streamed", T, async () => {
  const params = withExtra({ model: MODEL_NAME, messages, max_tokens: 12, temperature: 0 }, { ignore_eos: true });
  const first = await srv.client.chat.completions.create(params);
  assert.equal(first.object, "chat.completion");
  assert.equal(first.model, MODEL_NAME);
  assert.equal(first.choices.length, 1);
  assert.equal(first.choices[0]!.message.role, "assistant");
  assert.equal(first.choices[0]!.finish_reason, "length");
  assert.ok((first.choices[0]!.message.content ?? "").length > 0);
  const promptTokens = await chatPromptTokens();
  assert.equal(first.usage!.prompt_tokens, promptTokens);
  assert.equal(first.usage!.completion_tokens, 12);
  assert.equal(first.usage!.total_tokens, promptTokens + 12);
  assert.equal(typeof first.usage!.prompt_tokens_details!.cached_tokens, "number");

  const again = await srv.client.chat.completions.create(params);
  assert.equal(again.choices[0]!.message.content, first.choices[0]!.message.content);
  assert.ok(again.usage!.prompt_tokens_details!.cached_tokens! > 0, "a repeated prompt is served from the cache");
  assert.ok(again.usage!.prompt_tokens_details!.cached_tokens! < promptTokens);

  const s = await streamedChat({ ...params, stream: true, stream_options: { include_usage: true } });
  assert.equal(s.texts[0], first.choices[0]!.message.content);
  assert.equal(s.reasons[0], "length");
  assert.equal(s.usage!.completion_tokens, 12);
  assert.equal(s.usage!.prompt_tokens, promptTokens);
  assert.ok(s.usage!.prompt_tokens_details!.cached_tokens! > 0);
});

test("chat: max_completion_tokens, and streams without include_usage carry no usage", T, async () => {
  const r = await srv.client.chat.completions.create(withExtra({ model: MODEL_NAME, messages, max_completion_tokens: 3, temperature: 0 }, { ignore_eos: true }));
  assert.equal(r.usage!.completion_tokens, 3);
  const s = await streamedChat(withExtra({ model: MODEL_NAME, messages, max_tokens: 3, temperature: 0, stream: true as const }, { ignore_eos: true }));
  assert.equal(s.usage, null);
  assert.equal(s.reasons[0], "length");
});

test("chat: n samples with a seed are reproducible, streamed or not", T, async () => {
  const params = withExtra({ model: MODEL_NAME, messages, max_tokens: 10, temperature: 1, n: 3, seed: 42 }, { ignore_eos: true });
  const a = await srv.client.chat.completions.create(params);
  const b = await srv.client.chat.completions.create(params);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(b.choices.map((c) => c.message.content), a.choices.map((c) => c.message.content));
  assert.equal(a.usage!.completion_tokens, 30);
  const texts = new Set(a.choices.map((c) => c.message.content));
  assert.ok(texts.size > 1, "samples of one request differ");
  const other = await srv.client.chat.completions.create({ ...params, seed: 43 });
  assert.notDeepEqual(other.choices.map((c) => c.message.content), a.choices.map((c) => c.message.content));
  const s = await streamedChat({ ...params, stream: true });
  assert.deepEqual(s.texts, a.choices.map((c) => c.message.content));
  assert.deepEqual(s.reasons, ["length", "length", "length"]);
});

test("chat: stop strings cut the output where they first appear", T, async () => {
  const base = withExtra({ model: MODEL_NAME, messages, max_tokens: 24, temperature: 0 }, { ignore_eos: true });
  const full = (await srv.client.chat.completions.create(base)).choices[0]!.message.content!;
  const stop = full.slice(6, 8);
  assert.equal(stop.length, 2);
  const expected = full.slice(0, full.indexOf(stop));
  const r = await srv.client.chat.completions.create({ ...base, stop: [stop, "\u0000never"] });
  assert.equal(r.choices[0]!.message.content, expected);
  assert.equal(r.choices[0]!.finish_reason, "stop");
  const s = await streamedChat({ ...base, stop, stream: true });
  assert.equal(s.texts[0], expected);
  assert.equal(s.reasons[0], "stop");
});

test("chat: logprobs with top_logprobs, as OpenAI shapes them", T, async () => {
  const params = withExtra({ model: MODEL_NAME, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 }, { ignore_eos: true });
  const r = await srv.client.chat.completions.create(params);
  const content = r.choices[0]!.logprobs!.content!;
  assert.equal(content.length, 8);
  const bytes: number[] = [];
  for (const t of content) {
    assert.equal(typeof t.token, "string");
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    // greedy: the chosen token is the most likely one
    assert.equal(t.top_logprobs[0]!.logprob, t.logprob);
    assert.ok(t.top_logprobs[0]!.logprob >= t.top_logprobs[1]!.logprob && t.top_logprobs[1]!.logprob >= t.top_logprobs[2]!.logprob);
    bytes.push(...t.bytes!);
  }
  assert.equal(new TextDecoder().decode(Uint8Array.from(bytes)), r.choices[0]!.message.content);
  const s = await streamedChat({ ...params, stream: true });
  assert.deepEqual(s.logprobs[0], content);
  const none = await srv.client.chat.completions.create({ ...params, logprobs: false, top_logprobs: undefined });
  assert.equal(none.choices[0]!.logprobs, null);
});

test("completions: text, usage, logprobs, echo, streamed the same", T, async () => {
  const m = await model();
  const prompt = "Once upon a time";
  const params = withExtra({ model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0, logprobs: 2 }, { ignore_eos: true });
  const r = await srv.client.completions.create(params);
  assert.equal(r.object, "text_completion");
  const c = r.choices[0]!;
  assert.equal(c.finish_reason, "length");
  assert.equal(r.usage!.prompt_tokens, m.tokenizer.encode(prompt, { addSpecial: true, parseSpecial: true }).length);
  assert.equal(r.usage!.completion_tokens, 8);
  assert.equal(typeof r.usage!.prompt_tokens_details!.cached_tokens, "number");
  const lp = c.logprobs!;
  assert.equal(lp.tokens!.length, 8);
  assert.equal(lp.token_logprobs!.length, 8);
  assert.equal(lp.text_offset![0], 0);
  for (let i = 0; i < 8; i++) {
    const top = lp.top_logprobs![i]!;
    assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 3);
    assert.equal(top[lp.tokens![i]!], lp.token_logprobs![i]);
    if (i > 0) assert.equal(lp.text_offset![i], lp.text_offset![i - 1]! + lp.tokens![i - 1]!.length);
  }
  const echoed = await srv.client.completions.create({ ...params, echo: true, logprobs: null });
  assert.equal(echoed.choices[0]!.text, prompt + c.text);

  const stream = await srv.client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let reason: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  const tokens: string[] = [];
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.finish_reason) reason = ch.finish_reason;
      if (ch.logprobs) tokens.push(...ch.logprobs.tokens!);
    }
  }
  assert.equal(text, c.text);
  assert.equal(reason, "length");
  assert.deepEqual(tokens, lp.tokens);
  assert.equal(usage!.completion_tokens, 8);
  assert.ok(usage!.prompt_tokens_details!.cached_tokens! > 0);
});

test("completions: a batch of prompts (text and ids) with n, choices numbered prompt-major", T, async () => {
  const m = await model();
  const ids = m.tokenizer.encode("The sky is", { addSpecial: true, parseSpecial: true });
  const base = withExtra({ model: MODEL_NAME, max_tokens: 5, temperature: 0 }, { ignore_eos: true });
  const one = await srv.client.completions.create({ ...base, prompt: "Hello" });
  const two = await srv.client.completions.create({ ...base, prompt: ids });
  const batch = await srv.client.completions.create({ ...base, prompt: ["Hello", "The sky is"], n: 2 });
  assert.deepEqual(batch.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.deepEqual(batch.choices.map((c) => c.text), [one.choices[0]!.text, one.choices[0]!.text, two.choices[0]!.text, two.choices[0]!.text]);
  assert.equal(batch.usage!.completion_tokens, 20);
  assert.equal(batch.usage!.prompt_tokens, one.usage!.prompt_tokens + two.usage!.prompt_tokens);
});

test("models: list and retrieve; cache_salt keeps tenants apart", T, async () => {
  const list = await srv.client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [MODEL_NAME]);
  const card = await srv.client.models.retrieve(MODEL_NAME);
  assert.equal(card.id, MODEL_NAME);
  const params = withExtra({ model: MODEL_NAME, prompt: "A salted prompt that nobody else sends", max_tokens: 2, temperature: 0 }, { cache_salt: "tenant-a" });
  await srv.client.completions.create(params);
  const other = await srv.client.completions.create({ ...params, cache_salt: "tenant-b" } as typeof params);
  assert.equal(other.usage!.prompt_tokens_details!.cached_tokens, 0);
  const same = await srv.client.completions.create(params);
  assert.ok(same.usage!.prompt_tokens_details!.cached_tokens! > 0);
});

test("chat: developer role, tool calls and results, tools, and content parts render through the template", T, async () => {
  const r = await srv.client.chat.completions.create({
    model: MODEL_NAME, max_tokens: 2, temperature: 0,
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    messages: [
      { role: "developer", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Weather in Paris?" }] },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
      { role: "tool", tool_call_id: "c1", content: "sunny" },
    ],
  });
  assert.equal(r.choices.length, 1);
  const m = await model();
  const tmpl = new ChatTemplate(m.chatTemplate!, {});
  const text = tmpl.render([
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "Weather in Paris?" }] },
    { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
    { role: "tool", tool_call_id: "c1", content: "sunny" },
  ], { addGenerationPrompt: true, tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }] });
  assert.equal(r.usage!.prompt_tokens, m.tokenizer.encode(text, { addSpecial: false, parseSpecial: true }).length);
  const bare = await srv.client.chat.completions.create({ model: MODEL_NAME, max_tokens: 1, messages: [{ role: "user" } as never] });
  assert.equal(bare.choices.length, 1);
});
