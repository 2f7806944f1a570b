// OpenAI tool calls through the real server and the real `openai` client: several calls in
// one message (parallel_tool_calls, OpenAI's default) or exactly one (parallel_tool_calls
// false), argument pieces streamed as they are generated that add up to the whole-mode
// arguments, finish_reason "tool_calls", the client's stream helpers and runTools, and the
// 400 for a bad parallel_tool_calls.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type OpenAI from "openai";
import type { JSONSchema } from "openai/lib/jsonschema";
import { Ajv2020 } from "ajv/dist/2020.js";
import fs from "node:fs";
import path from "node:path";
import OpenAIClient from "openai";
import { backend, model, MODEL_NAME, post, readSse, start, type Running } from "./harness.js";
import { Engine } from "../../src/engine/engine.js";
import { RadixServer } from "../../src/server/http.js";
import { SHARED_TESTDATA } from "../helpers/models.js";

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 180_000 };

const weather = {
  type: "object",
  properties: { city: { type: "string", maxLength: 10 }, unit: { enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const add = { type: "object", properties: { a: { type: "integer", minimum: 0, maximum: 99 }, b: { type: "integer", minimum: 0, maximum: 99 } }, required: ["a", "b"], additionalProperties: false };
const note = { type: "object", properties: { text: { type: "string", minLength: 40, maxLength: 60 } }, required: ["text"], additionalProperties: false };
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, add, write_note: note };
const tools: OpenAI.ChatCompletionFunctionTool[] = Object.entries(SCHEMAS).map(([name, parameters]) => ({ type: "function", function: { name, parameters } }));
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris and in Oslo?" }];

const ajv = new Ajv2020({ strict: false });
function assertValid(name: string, args: string): void {
  const v = ajv.compile(SCHEMAS[name]!);
  assert.ok(v(JSON.parse(args)), `${name}(${args}): ${JSON.stringify(v.errors)}`);
}

/**
 * The grammar lets the output end only after a complete call; there, several newline tokens
 * (the way to a next call) compete with one end token, and a random-weight model would go
 * on calling until max_tokens. A push on the end token keeps the calls few.
 */
function stopBias(): Record<string, number> {
  return Object.fromEntries(srv.engine.model.config.eosTokenIds.map((id) => [String(id), 3]));
}

interface StreamedCall {
  id: string;
  name: string;
  arguments: string;
  argumentDeltas: number;
}

interface StreamedChoice {
  content: string;
  calls: StreamedCall[];
  reason: string | null;
}

/** Streams a chat completion over plain HTTP and checks each tool-call delta's shape on the way; one entry per choice. */
async function streamChoices(body: Record<string, unknown>, url = srv.url): Promise<StreamedChoice[]> {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(r.status, 200);
  const events = await readSse(r);
  assert.equal(events[events.length - 1], "[DONE]");
  const out: StreamedChoice[] = [];
  for (const ev of events.slice(0, -1) as OpenAI.ChatCompletionChunk[]) {
    for (const ch of ev.choices) {
      const o = (out[ch.index] ??= { content: "", calls: [], reason: null });
      o.content += ch.delta.content ?? "";
      o.reason = ch.finish_reason ?? o.reason;
      for (const d of ch.delta.tool_calls ?? []) {
        if (d.index === o.calls.length) {
          // The first delta of a call: id, type and name, and empty arguments.
          assert.match(d.id ?? "", /^call_/);
          assert.equal(d.type, "function");
          assert.equal(d.function?.arguments, "");
          o.calls.push({ id: d.id!, name: d.function!.name!, arguments: "", argumentDeltas: 0 });
        } else {
          assert.ok(d.index < o.calls.length, "calls are announced in order");
          assert.deepEqual(Object.keys(d).sort(), ["function", "index"], "later deltas carry only index and arguments");
          assert.deepEqual(Object.keys(d.function!), ["arguments"]);
          o.calls[d.index]!.arguments += d.function!.arguments;
          o.calls[d.index]!.argumentDeltas++;
        }
      }
    }
  }
  return out;
}

async function streamRaw(body: Record<string, unknown>, url = srv.url): Promise<StreamedChoice> {
  const choices = await streamChoices(body, url);
  assert.equal(choices.length, 1);
  return choices[0]!;
}

test("parallel calls: several calls in one message, each with its own id; the stream gives the same calls piece by piece", T, async () => {
  const base = { model: MODEL_NAME, messages, tools, tool_choice: "required" as const, temperature: 1, max_tokens: 600, logit_bias: stopBias() };
  let seed = 0;
  let whole: OpenAI.ChatCompletion | null = null;
  for (seed = 1; seed <= 12; seed++) {
    const r = await srv.client.chat.completions.create({ ...base, seed });
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, "tool_calls", JSON.stringify(c.message));
    assert.equal(c.message.content, null);
    for (const call of c.message.tool_calls!) {
      assert.equal(call.type, "function");
      const fn = (call as OpenAI.ChatCompletionMessageFunctionToolCall).function;
      assertValid(fn.name, fn.arguments);
    }
    if (c.message.tool_calls!.length >= 2) {
      whole = r;
      break;
    }
  }
  assert.ok(whole, "some seed in 1..12 makes several calls");
  const calls = whole.choices[0]!.message.tool_calls! as OpenAI.ChatCompletionMessageFunctionToolCall[];
  assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, "ids differ");

  const streamed = await streamRaw({ ...base, seed });
  assert.equal(streamed.reason, "tool_calls");
  assert.equal(streamed.content, "", "no markup in content");
  assert.deepEqual(streamed.calls.map((c) => [c.name, c.arguments]), calls.map((c) => [c.function.name, c.function.arguments]), "same seed, same calls");
  assert.equal(new Set(streamed.calls.map((c) => c.id)).size, calls.length);

  // parallel_tool_calls false: exactly one call, whole and streamed.
  const one = await srv.client.chat.completions.create({ ...base, seed, parallel_tool_calls: false });
  assert.equal(one.choices[0]!.finish_reason, "tool_calls");
  assert.equal(one.choices[0]!.message.tool_calls!.length, 1);
  const oneStreamed = await streamRaw({ ...base, seed, parallel_tool_calls: false });
  assert.equal(oneStreamed.calls.length, 1);
  assert.equal(oneStreamed.reason, "tool_calls");
  const fn = (one.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function;
  assert.deepEqual([oneStreamed.calls[0]!.name, oneStreamed.calls[0]!.arguments], [fn.name, fn.arguments]);
});

test("n = 2: each choice has its own calls, numbered from 0, streamed as whole", T, async () => {
  const base = { model: MODEL_NAME, messages, tools, tool_choice: "required" as const, temperature: 1, max_tokens: 600, logit_bias: stopBias(), seed: 4, n: 2 };
  const whole = await srv.client.chat.completions.create(base);
  const streamed = await streamChoices(base);
  assert.equal(whole.choices.length, 2);
  assert.equal(streamed.length, 2);
  for (const c of whole.choices) {
    const s = streamed[c.index]!;
    const calls = c.message.tool_calls! as OpenAI.ChatCompletionMessageFunctionToolCall[];
    assert.equal(c.finish_reason, "tool_calls");
    assert.equal(s.reason, "tool_calls");
    assert.equal(s.content, "");
    assert.deepEqual(s.calls.map((x) => [x.name, x.arguments]), calls.map((x) => [x.function.name, x.function.arguments]));
  }
});

test("a long argument streams in many pieces that add up to the whole-mode arguments; the client's stream helper accumulates them", T, async () => {
  const base = { model: MODEL_NAME, messages, tools, tool_choice: { type: "function" as const, function: { name: "write_note" } }, temperature: 1, max_tokens: 400, seed: 7 };
  const whole = await srv.client.chat.completions.create(base);
  const call = whole.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(whole.choices[0]!.finish_reason, "tool_calls");
  assert.equal(call.function.name, "write_note");
  assertValid("write_note", call.function.arguments);

  const raw = await streamRaw(base);
  assert.equal(raw.calls.length, 1);
  assert.ok(raw.calls[0]!.argumentDeltas > 5, `argument deltas: ${raw.calls[0]!.argumentDeltas}`);
  assert.equal(raw.calls[0]!.arguments, call.function.arguments);

  // The openai client's stream helper: argument delta events as they come, and the same final message.
  const stream = srv.client.chat.completions.stream(base);
  let deltas = 0;
  let done: string | null = null;
  stream.on("tool_calls.function.arguments.delta", (e) => {
    if (e.arguments_delta !== "") deltas++;
  });
  stream.on("tool_calls.function.arguments.done", (e) => (done = e.arguments));
  const final = await stream.finalChatCompletion();
  assert.equal(deltas, raw.calls[0]!.argumentDeltas);
  assert.equal(done, call.function.arguments);
  const fc = final.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(final.choices[0]!.finish_reason, "tool_calls");
  assert.deepEqual([fc.function.name, fc.function.arguments], [call.function.name, call.function.arguments]);
});

test("a call cut short by max_tokens: finish_reason length, the arguments so far, no markup in content, streamed as whole", T, async () => {
  for (const max_tokens of [6, 40, 70]) {
    const base = { model: MODEL_NAME, messages, tools, tool_choice: { type: "function" as const, function: { name: "write_note" } }, temperature: 1, seed: 7, max_tokens };
    const whole = await srv.client.chat.completions.create(base);
    const c = whole.choices[0]!;
    assert.equal(c.finish_reason, "length");
    assert.ok(!c.message.content, `no markup as content: ${JSON.stringify(c.message.content)}`);
    const calls = (c.message.tool_calls ?? []) as OpenAI.ChatCompletionMessageFunctionToolCall[];
    const streamed = await streamRaw(base);
    assert.equal(streamed.reason, "length");
    assert.equal(streamed.content, "");
    assert.deepEqual(streamed.calls.map((x) => [x.name, x.arguments]), calls.map((x) => [x.function.name, x.function.arguments]));
    if (max_tokens === 70) assert.equal(calls.length, 1, "by 70 tokens (forced text counts one a character here) the call has begun");
  }
});

test("runTools (streamed): the client runs every call of each message and sends the results back", T, async () => {
  const ran: string[] = [];
  const runnable = Object.entries(SCHEMAS).map(([name, parameters]) => ({
    type: "function" as const,
    function: {
      name,
      description: `the ${name} tool`,
      parameters: parameters as JSONSchema,
      parse: (s: string): Record<string, unknown> => {
        assertValid(name, s);
        return JSON.parse(s) as Record<string, unknown>;
      },
      function: (args: Record<string, unknown>): string => {
        ran.push(name);
        return JSON.stringify({ ok: true, got: args });
      },
    },
  }));
  const runner = srv.client.chat.completions.runTools(
    { model: MODEL_NAME, messages, tools: runnable, tool_choice: "required", temperature: 1, seed: 3, max_tokens: 600, logit_bias: stopBias(), stream: true },
    { maxChatCompletions: 2 },
  );
  await runner.done();
  const all = runner.messages;
  const assistant = all.filter((m) => m.role === "assistant");
  const results = all.filter((m) => m.role === "tool") as OpenAI.ChatCompletionToolMessageParam[];
  assert.equal(assistant.length, 2);
  const callIds = assistant.flatMap((m) => (m as OpenAI.ChatCompletionAssistantMessageParam).tool_calls!.map((c) => c.id));
  assert.ok(callIds.length >= 2);
  assert.deepEqual(results.map((m) => m.tool_call_id), callIds, "one result per call, in order");
  assert.equal(ran.length, callIds.length);
});

test("a bad parallel_tool_calls is a 400 naming it", T, async () => {
  const r = await post(`${srv.url}/v1/chat/completions`, { model: MODEL_NAME, messages, tools, parallel_tool_calls: "yes" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, "parallel_tool_calls");
  assert.match(r.body.error.message, /parallel_tool_calls/);
  assert.match(r.body.error.message, /boolean/);
});

/** A server over the same test model, with another model family's chat template (so its tool-call format). */
async function startWithTemplate(file: string): Promise<{ url: string; client: OpenAIClient; close(): Promise<void> }> {
  const m = await model();
  const engine = await Engine.create({ model: { ...m, chatTemplate: fs.readFileSync(file, "utf8") }, backend: backend(), maxTotalTokens: 8192, checkInvariants: true });
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: () => {} });
  const url = await server.listen("127.0.0.1", 0);
  server.attach(engine);
  const client = new OpenAIClient({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 60_000 });
  return { url, client, close: () => server.drain(0) };
}

// max_tokens: Llama 3.1's template makes a long prompt (about 1,850 tokens of the test
// model's 2,048) with this byte-level test tokenizer.
for (const [format, file, marker, maxTokens] of [
  ["llama3", "meta-llama-Llama-3.1-8B-Instruct.jinja", /"parameters"|<\|python_tag\|>/, 190],
  ["mistral", "mistralai-Mistral-Nemo-Instruct-2407.jinja", /\[TOOL_CALLS\]|"arguments"/, 600],
] as const) {
  test(`${format} format (${file}): several calls, whole and streamed alike, no markup in content`, T, async (t) => {
    const tmpl = path.join(SHARED_TESTDATA, "chat-templates", file);
    if (!fs.existsSync(tmpl)) {
      t.skip(`no shared test data at ${tmpl}`);
      return;
    }
    const s = await startWithTemplate(tmpl);
    try {
      const base = { model: MODEL_NAME, messages, tools, tool_choice: "required" as const, temperature: 1, max_tokens: maxTokens };
      let found = false;
      for (let seed = 1; seed <= 12 && !found; seed++) {
        const r = await s.client.chat.completions.create({ ...base, seed });
        const c = r.choices[0]!;
        const calls = c.message.tool_calls! as OpenAI.ChatCompletionMessageFunctionToolCall[];
        // max_tokens may cut the list short: then the calls so far, and no markup as content
        assert.ok(c.finish_reason === "tool_calls" || (c.finish_reason === "length" && calls.length > 0), JSON.stringify(c));
        assert.equal(c.message.content, null);
        const complete = c.finish_reason === "tool_calls" ? calls : calls.slice(0, -1);
        for (const call of complete) assertValid(call.function.name, call.function.arguments);
        const streamed = await streamRaw({ ...base, seed }, s.url);
        assert.equal(streamed.reason, c.finish_reason);
        assert.equal(streamed.content, "");
        assert.doesNotMatch(streamed.content, marker);
        assert.deepEqual(streamed.calls.map((x) => [x.name, x.arguments]), calls.map((x) => [x.function.name, x.function.arguments]));
        found = complete.length >= 2;
      }
      assert.ok(found, "some seed in 1..12 makes several calls");
    } finally {
      await s.close();
    }
  });
}
