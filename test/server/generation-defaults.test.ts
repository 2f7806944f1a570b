// The model's sampling defaults are the server's: a request on any route that sets no
// temperature gets the model's (OpenAI's 1 only when the model has none, or with
// --generation-config none), a request's own value wins, and /get_model_info shows them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.js";
import { RadixServer } from "../../src/server/http.js";
import { backend, get, model, MODEL_NAME, post } from "./harness.js";

async function serve(generationConfig: "auto" | "none"): Promise<{ url: string; close: () => Promise<void> }> {
  const m = await model();
  const engine = await Engine.create({ model: { ...m, generationDefaults: { temperature: 0, topP: 0.5 } }, backend: backend(), maxTotalTokens: 4096, generationConfig });
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: () => {} });
  const url = await server.listen("127.0.0.1", 0);
  server.attach(engine);
  return { url, close: () => server.drain(0) };
}

const CHAT = { model: MODEL_NAME, messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 16, ignore_eos: true, seed: 7 };
const COMPLETION = { model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 16, ignore_eos: true, seed: 7 };
const GENERATE = { text: "Once upon a time", sampling_params: { max_new_tokens: 16, ignore_eos: true, seed: 7 } };

async function outputs(url: string, temperature?: number): Promise<string[]> {
  const t = temperature === undefined ? {} : { temperature };
  const chat = await post(`${url}/v1/chat/completions`, { ...CHAT, ...t });
  const completion = await post(`${url}/v1/completions`, { ...COMPLETION, ...t });
  const generate = await post(`${url}/generate`, { ...GENERATE, sampling_params: { ...GENERATE.sampling_params, ...t } });
  for (const r of [chat, completion, generate]) assert.equal(r.status, 200, JSON.stringify(r.body));
  return [chat.body.choices[0].message.content, completion.body.choices[0].text, generate.body.text];
}

test("every route takes the model's default temperature when the request sets none", { timeout: 60_000 }, async () => {
  const s = await serve("auto");
  try {
    const greedy = await outputs(s.url, 0);
    assert.deepEqual(await outputs(s.url), greedy);
    // The request's own temperature wins: sampled at 1.5, the outputs differ from greedy.
    assert.notDeepEqual(await outputs(s.url, 1.5), greedy);
    const info = await get(`${s.url}/get_model_info`);
    assert.deepEqual(info.body.model_generation_defaults, { temperature: 0, top_p: 0.5 });
    assert.deepEqual(info.body.default_sampling_params, { temperature: 0, top_p: 0.5 });
  } finally {
    await s.close();
  }
});

test("with --generation-config none a request without temperature gets OpenAI's 1", { timeout: 60_000 }, async () => {
  const s = await serve("none");
  try {
    const greedy = await outputs(s.url, 0);
    const unset = await outputs(s.url);
    assert.deepEqual(unset, await outputs(s.url, 1));
    assert.notDeepEqual(unset, greedy);
    const info = await get(`${s.url}/get_model_info`);
    assert.deepEqual(info.body.model_generation_defaults, { temperature: 0, top_p: 0.5 });
    assert.deepEqual(info.body.default_sampling_params, { temperature: 1 });
  } finally {
    await s.close();
  }
});
