// The engine speaks chat: `messages` (and `tools`) render through the model's chat template,
// the same rendering the server's /v1/chat/completions uses, so both give the same tokens; and a
// request's unset sampling fields take the model's own defaults unless generationConfig is "none".
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Engine } from "../../src/engine/engine.js";
import { InputError, type GenerateInput } from "../../src/engine/input.js";
import type { ChatMessage, ToolSpec } from "../../src/tokenizer/chat-template.js";
import { backend, model, post, start } from "../server/harness.js";

const MESSAGES: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "What is the weather in Paris?" },
];
const TOOLS: ToolSpec[] = [{
  type: "function",
  function: { name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
}];

test("engine.complete({messages}) gives the server's chat completion tokens at temperature 0", { timeout: 120_000 }, async () => {
  const srv = await start();
  try {
    const params = { temperature: 0, maxNewTokens: 12, ignoreEos: true };
    const viaEngine = await srv.engine.complete({ messages: MESSAGES, params });
    const viaServer = await srv.client.chat.completions.create({
      model: "tiny-test", messages: MESSAGES, temperature: 0, max_tokens: 12, ignore_eos: true,
    } as Parameters<typeof srv.client.chat.completions.create>[0] & { stream?: false });
    assert.equal(viaEngine.samples[0]!.text, viaServer.choices[0]!.message.content);
    assert.equal(viaEngine.usage.promptTokens, viaServer.usage!.prompt_tokens);
    assert.equal(viaEngine.samples[0]!.tokenIds.length, viaServer.usage!.completion_tokens);
    // The same prompt ids as the server's /tokenize of the conversation, and the same output ids.
    const ids = (await post(`${srv.url}/tokenize`, { messages: MESSAGES })).body.tokens as number[];
    const viaIds = await srv.engine.complete({ inputIds: ids, params });
    assert.equal(viaEngine.usage.promptTokens, ids.length);
    assert.deepEqual(viaEngine.samples[0]!.tokenIds, viaIds.samples[0]!.tokenIds);
  } finally {
    await srv.close();
  }
});

test("messages with tools render the tools into the prompt, as the server's /tokenize does", { timeout: 60_000 }, async () => {
  const srv = await start();
  try {
    const text = srv.engine.chat.render(MESSAGES, TOOLS);
    assert.match(text, /"name": "get_weather"/);
    const want = (await post(`${srv.url}/tokenize`, { messages: MESSAGES, tools: TOOLS })).body.tokens as number[];
    // Prompt logprobs from position 1 return the prompt's own ids after the first.
    const r = await srv.engine.complete({ messages: MESSAGES, tools: TOOLS, params: { maxNewTokens: 0 }, promptLogprobsStart: 1 });
    assert.deepEqual([want[0], ...r.promptLogprobs!.tokenIds], want);
    const bare = await srv.engine.complete({ messages: MESSAGES, params: { maxNewTokens: 0 } });
    assert.ok(r.usage.promptTokens > bare.usage.promptTokens + 10, `${r.usage.promptTokens} vs ${bare.usage.promptTokens} without tools`);
  } finally {
    await srv.close();
  }
});

test("bad messages are an InputError naming messages (or tools)", async () => {
  const engine = await Engine.create({ model: await model(), backend: backend(), maxTotalTokens: 2048 });
  try {
    const bad: [unknown, string, RegExp][] = [
      [{ messages: [] }, "messages", /non-empty list/],
      [{ messages: "hello" }, "messages", /non-empty list/],
      [{ messages: [{ role: "wizard", content: "hi" }] }, "messages", /messages\[0\]\.role must be one of system, developer, user/],
      [{ messages: [{ role: "user", content: 5 }] }, "messages", /messages\[0\]\.content must be a string/],
      [{ messages: [null] }, "messages", /messages\[0\] must be an object/],
      [{ messages: [{ role: "assistant", content: null, tool_calls: [{ function: {} }] }] }, "messages", /tool_calls/],
      [{ messages: MESSAGES, tools: [{ type: "function" }] }, "tools", /tools must be a list/],
      [{ messages: MESSAGES, chatTemplateKwargs: { messages: 1 } }, "messages", /reserved/],
      [{ prompt: "hi", tools: TOOLS }, "tools", /go with messages/],
      [{ prompt: "hi", messages: MESSAGES }, "prompt", /exactly one of prompt, inputIds and messages/],
    ];
    for (const [input, param, message] of bad) {
      assert.throws(() => engine.submit([input as GenerateInput]), (err: unknown) => {
        assert.ok(err instanceof InputError, `${JSON.stringify(input)}: ${String(err)}`);
        assert.equal(err.param, param, JSON.stringify(input));
        assert.match(err.message, message);
        return true;
      });
    }
    assert.equal(engine.inflight, 0);
  } finally {
    await engine.close();
  }
});

test("a request's unset sampling fields take the model's defaults; its own values win; generationConfig none ignores them", { timeout: 60_000 }, async () => {
  const m = await model();
  // top_k 1 leaves one token whatever the temperature: greedy, if (and only if) the default applies.
  const withDefaults = { ...m, generationDefaults: { temperature: 0, topK: 1 } };
  const prompt = { inputIds: [5, 17, 300, 42, 9], params: { maxNewTokens: 16, ignoreEos: true } };
  const run = async (opts: { generationConfig?: "auto" | "none" }, input: GenerateInput): Promise<number[]> => {
    const e = await Engine.create({ model: withDefaults, backend: backend(), maxTotalTokens: 2048, ...opts });
    try {
      return [...(await e.complete(input)).samples[0]!.tokenIds];
    } finally {
      await e.close();
    }
  };
  const greedy = await run({ generationConfig: "none" }, { ...prompt, params: { ...prompt.params, temperature: 0 } });
  const hot = { ...prompt, params: { ...prompt.params, temperature: 50, seed: 3 } };
  assert.deepEqual(await run({}, hot), greedy, "the model's top_k 1 applies under the request's temperature");
  assert.notDeepEqual(await run({}, { ...hot, params: { ...hot.params, topK: 0 } }), greedy, "the request's own top_k wins");
  assert.notDeepEqual(await run({ generationConfig: "none" }, hot), greedy, "generationConfig none: no model defaults");
  // An explicit undefined leaves the default in place.
  assert.deepEqual(await run({}, { ...hot, params: { ...hot.params, topK: undefined } }), greedy);
  await assert.rejects(Engine.create({ model: withDefaults, generationConfig: "vllm" as "auto" }), /generationConfig must be "auto" or "none"/);
});

test("examples/chat.mjs chats with the demo model through the engine", { timeout: 120_000 }, () => {
  const r = spawnSync(process.execPath, ["examples/chat.mjs"], { encoding: "utf8", timeout: 100_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^model defaults: \{ temperature: 0 \}\n/);
  assert.match(r.stdout, /cat/);
  assert.doesNotMatch(r.stdout, /<\|im_|assistant\n/);
  assert.match(r.stdout, /\[\d+ of \d+ prompt tokens cached\]/);
});
