// The qwen3-coder and pythonic tool-call formats through the real server and the real
// `openai` client: the chat template picks the format (a Qwen3-Coder-style template here) or
// --tool-call-parser overrides it (pythonic on the test model's own template); required and
// named tool_choice force calls in the format's syntax, which come back as OpenAI tool calls
// whose arguments validate, the same whole and streamed (argument pieces add up).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type OpenAI from "openai";
import { Ajv2020 } from "ajv/dist/2020.js";
import OpenAIClient from "openai";
import { backend, model, MODEL_NAME, post, readSse, start, type Running } from "./harness.js";
import { Engine } from "../../src/engine/engine.js";
import { RadixServer } from "../../src/server/http.js";

const T = { timeout: 180_000 };

const weather = {
  type: "object",
  properties: { city: { type: "string", minLength: 1, maxLength: 10 }, days: { type: "integer", minimum: 1, maximum: 9 }, hourly: { type: "boolean" } },
  required: ["city", "days", "hourly"],
  additionalProperties: false,
};
const note = { type: "object", properties: { text: { type: "string", minLength: 40, maxLength: 60 } }, required: ["text"], additionalProperties: false };
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, write_note: note };
const tools: OpenAI.ChatCompletionFunctionTool[] = Object.entries(SCHEMAS).map(([name, parameters]) => ({ type: "function", function: { name, parameters } }));
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris and in Oslo?" }];

const ajv = new Ajv2020({ strict: false });
function assertValid(name: string, args: string): void {
  const v = ajv.compile(SCHEMAS[name]!);
  assert.ok(v(JSON.parse(args)), `${name}(${args}): ${JSON.stringify(v.errors)}`);
}

/**
 * A Qwen3-Coder-style ChatML template: the tools and the assistant's calls as Qwen3-Coder's
 * template writes them (<function=NAME> and <parameter=ARG> lines), which is what picks the format.
 */
const QWEN3_CODER_TEMPLATE = `{%- for m in messages %}<|im_start|>{{ m.role }}
{%- if m.role == 'system' and tools %}
# Tools
{% for t in tools %}{{ t | tojson }}
{% endfor %}Call a function as:
<tool_call>
<function=example_function_name>
<parameter=example_parameter_1>
value_1
</parameter>
</function>
</tool_call>{% endif %}
{{ m.content if m.content is string else '' }}
{%- if m.tool_calls %}{% for c in m.tool_calls %}
<tool_call>
<function={{ c.function.name }}>
{% for k, v in c.function.arguments | items %}<parameter={{ k }}>
{{ v }}
</parameter>
{% endfor %}</function>
</tool_call>{% endfor %}{% endif %}<|im_end|>
{% endfor %}{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

interface StreamedChoice {
  content: string;
  calls: { name: string; arguments: string; pieces: number }[];
  reason: string | null;
}

/** Streams a chat completion over plain HTTP, checking each tool-call delta's shape. */
async function streamed(url: string, body: Record<string, unknown>): Promise<StreamedChoice> {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(r.status, 200);
  const events = await readSse(r);
  assert.equal(events[events.length - 1], "[DONE]");
  const o: StreamedChoice = { content: "", calls: [], reason: null };
  for (const ev of events.slice(0, -1) as OpenAI.ChatCompletionChunk[]) {
    for (const ch of ev.choices) {
      o.content += ch.delta.content ?? "";
      o.reason = ch.finish_reason ?? o.reason;
      for (const d of ch.delta.tool_calls ?? []) {
        if (d.index === o.calls.length) {
          assert.match(d.id ?? "", /^call_/);
          assert.equal(d.function?.arguments, "");
          o.calls.push({ name: d.function!.name!, arguments: "", pieces: 0 });
        } else {
          o.calls[d.index]!.arguments += d.function!.arguments;
          o.calls[d.index]!.pieces++;
        }
      }
    }
  }
  return o;
}

const stopBias = (e: Engine): Record<string, number> => Object.fromEntries(e.model.config.eosTokenIds.map((id) => [String(id), 3]));
const fnCalls = (c: OpenAI.ChatCompletion.Choice): OpenAI.ChatCompletionMessageFunctionToolCall["function"][] =>
  (c.message.tool_calls ?? []).map((x) => (x as OpenAI.ChatCompletionMessageFunctionToolCall).function);

/** required (parallel on), required with parallel_tool_calls false, and a named function: calls valid, whole and streamed alike. */
async function checkFormat(url: string, client: OpenAIClient, engine: Engine, markup: RegExp): Promise<void> {
  const base = { model: MODEL_NAME, messages, tools, temperature: 1, max_tokens: 500, logit_bias: stopBias(engine) };
  let several = false;
  for (let seed = 1; seed <= 10 && !several; seed++) {
    const body = { ...base, tool_choice: "required" as const, seed };
    const whole = (await client.chat.completions.create(body)).choices[0]!;
    assert.equal(whole.finish_reason, "tool_calls", JSON.stringify(whole.message));
    assert.equal(whole.message.content, null);
    const calls = fnCalls(whole);
    assert.ok(calls.length >= 1);
    for (const c of calls) assertValid(c.name, c.arguments);
    const s = await streamed(url, body);
    assert.equal(s.reason, "tool_calls");
    assert.equal(s.content, "", "no markup in content");
    assert.doesNotMatch(s.content, markup);
    assert.deepEqual(s.calls.map((c) => [c.name, c.arguments]), calls.map((c) => [c.name, c.arguments]), "same seed, same calls, pieces add up");
    several = calls.length >= 2;
  }
  assert.ok(several, "some seed in 1..10 makes several calls");

  const one = { ...base, tool_choice: "required" as const, parallel_tool_calls: false, seed: 3 };
  const w = (await client.chat.completions.create(one)).choices[0]!;
  assert.equal(fnCalls(w).length, 1);
  assert.deepEqual((await streamed(url, one)).calls.map((c) => [c.name, c.arguments]), fnCalls(w).map((c) => [c.name, c.arguments]));

  // A named function: its one call; its long string argument streams in many pieces. The client's stream helper agrees.
  const named = { ...base, tool_choice: { type: "function" as const, function: { name: "write_note" } }, seed: 7 };
  const n = (await client.chat.completions.create(named)).choices[0]!;
  assert.equal(n.finish_reason, "tool_calls");
  const [call] = fnCalls(n);
  assert.equal(call!.name, "write_note");
  assertValid("write_note", call!.arguments);
  const ns = await streamed(url, named);
  assert.equal(ns.calls.length, 1);
  assert.equal(ns.calls[0]!.arguments, call!.arguments);
  assert.ok(ns.calls[0]!.pieces > 5, `argument pieces: ${ns.calls[0]!.pieces}`);
  const final = await client.chat.completions.stream(named).finalChatCompletion();
  assert.deepEqual(fnCalls(final.choices[0]!).map((c) => [c.name, c.arguments]), [[call!.name, call!.arguments]]);
}

let qwen: { url: string; client: OpenAIClient; engine: Engine; close(): Promise<void> };
let pythonic: Running;
before(async () => {
  const engine = await Engine.create({ model: { ...(await model()), chatTemplate: QWEN3_CODER_TEMPLATE }, backend: backend(), maxTotalTokens: 8192, checkInvariants: true });
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: () => {} });
  const url = await server.listen("127.0.0.1", 0);
  server.attach(engine);
  qwen = { url, engine, client: new OpenAIClient({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 60_000 }), close: () => server.drain(0) };
  pythonic = await start({}, { toolCallParser: "pythonic" });
});
after(async () => {
  await qwen?.close();
  await pythonic?.close();
});

test("qwen3-coder, chosen by the chat template: required, one call and a named function, whole and streamed", T, async () => {
  await checkFormat(qwen.url, qwen.client, qwen.engine, /<tool_call>|<function=|<parameter=/);
  // The prompt shows earlier calls in the same format: a follow-up with a tool result works.
  const first = (await qwen.client.chat.completions.create({ model: MODEL_NAME, messages, tools, tool_choice: "required", parallel_tool_calls: false, temperature: 1, seed: 2, max_tokens: 300 })).choices[0]!;
  const call = first.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
  const next = await qwen.client.chat.completions.create({
    model: MODEL_NAME, tools, max_tokens: 5,
    messages: [...messages, { role: "assistant", content: null, tool_calls: [call] }, { role: "tool", tool_call_id: call.id, content: "sunny" }],
  });
  assert.ok(next.choices[0]!.finish_reason);
});

test("pythonic, chosen by --tool-call-parser over the template's own format: required, one call and a named function, whole and streamed", T, async () => {
  await checkFormat(pythonic.url, pythonic.client, pythonic.engine, /\[|\(/);
});

test("a tool whose parameter schema cannot be compiled is a 400 naming tool_choice, in both formats, whole and streamed", T, async () => {
  const bad = [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "no-such-type" } }, required: ["a"] } } }];
  for (const url of [qwen.url, pythonic.url]) {
    for (const stream of [false, true]) {
      const r = await post(`${url}/v1/chat/completions`, { model: MODEL_NAME, messages, tools: bad, tool_choice: "required", stream });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.param, "tool_choice");
    }
  }
  // The server still answers.
  const ok = await pythonic.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 3 });
  assert.ok(ok.choices[0]!.finish_reason);
});
