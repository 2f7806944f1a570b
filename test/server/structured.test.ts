// Structured output through the real server: response_format on chat and completions
// (streamed and not, checked with ajv), the native /generate constraints, tool calls with
// the real `openai` client, and the 400s for a bad schema, regex or grammar.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type OpenAI from "openai";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { envelope, MODEL_NAME, post, readSse, start, type Running } from "./harness.js";
import { SCHEMAS } from "../structured/schemas.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 120_000 };

function validate(schema: Record<string, unknown>, value: unknown): void {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  const v = ajv.compile(schema);
  assert.ok(v(value), `does not validate: ${JSON.stringify(value)}: ${JSON.stringify(v.errors)}`);
}

const user: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Describe an order." }];

test("chat response_format json_schema: whole and streamed outputs validate", T, async () => {
  const schema = SCHEMAS.order!;
  const response_format = { type: "json_schema" as const, json_schema: { name: "order", schema, strict: true } };
  const r = await srv.client.chat.completions.create({ model: MODEL_NAME, messages: user, n: 3, seed: 4, temperature: 1, max_tokens: 400, response_format });
  assert.equal(r.choices.length, 3);
  for (const c of r.choices) {
    assert.equal(c.finish_reason, "stop");
    validate(schema, JSON.parse(c.message.content!));
  }
  const stream = await srv.client.chat.completions.create({ model: MODEL_NAME, messages: user, seed: 9, temperature: 1, max_tokens: 400, response_format, stream: true });
  let text = "";
  let reason: string | null = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.delta.content ?? "";
      reason = c.finish_reason ?? reason;
    }
  }
  assert.equal(reason, "stop");
  validate(schema, JSON.parse(text));
});

test("chat json_object and completions json_schema; max_tokens cutting the JSON gives finish_reason length", T, async () => {
  const r = await srv.client.chat.completions.create({ model: MODEL_NAME, messages: user, seed: 2, temperature: 1, max_tokens: 300, response_format: { type: "json_object" } });
  const c = r.choices[0]!;
  if (c.finish_reason === "stop") {
    const v: unknown = JSON.parse(c.message.content!);
    assert.ok(v !== null && typeof v === "object" && !Array.isArray(v));
  } else {
    assert.equal(c.finish_reason, "length");
  }
  const schema = SCHEMAS.refs!;
  const body = { model: MODEL_NAME, prompt: "A route:", seed: 1, temperature: 1, max_tokens: 300, response_format: { type: "json_schema", json_schema: { name: "route", schema } } };
  const done = await post(`${srv.url}/v1/completions`, body);
  assert.equal(done.status, 200);
  assert.equal(done.body.choices[0].finish_reason, "stop");
  validate(schema, JSON.parse(done.body.choices[0].text));
  const cut = await post(`${srv.url}/v1/completions`, { ...body, max_tokens: 4 });
  assert.equal(cut.body.choices[0].finish_reason, "length");
  assert.throws(() => JSON.parse(cut.body.choices[0].text));
  const streamed = await fetch(`${srv.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true }) });
  const events = await readSse(streamed);
  const text = events.filter((e): e is { choices: { text: string }[] } => typeof e === "object").map((e) => e.choices[0]?.text ?? "").join("");
  assert.equal(text, done.body.choices[0].text, "the same seed streams the same JSON");
});

test("native /generate: json_schema, regex, ebnf and choices", T, async () => {
  const schema = SCHEMAS.union!;
  const j = await post(`${srv.url}/generate`, { text: "shape:", sampling_params: { temperature: 1, seed: 3, max_new_tokens: 200, json_schema: JSON.stringify(schema) } });
  assert.equal(j.status, 200);
  validate(schema, JSON.parse(j.body.text));
  const re = await post(`${srv.url}/generate`, { text: "date:", sampling_params: { temperature: 1, seed: 3, max_new_tokens: 40, regex: "20[0-9]{2}-(0[1-9]|1[0-2])" } });
  assert.match(re.body.text, /^20[0-9]{2}-(0[1-9]|1[0-2])$/);
  const eb = await post(`${srv.url}/generate`, { text: "list:", sampling_params: { temperature: 1, seed: 3, max_new_tokens: 60, ebnf: 'root ::= "[" item ("," item){0,2} "]"\nitem ::= [a-c]{1,3}' } });
  assert.match(eb.body.text, /^\[[a-c]{1,3}(,[a-c]{1,3}){0,2}\]$/);
  const choices = ["yes", "no", "not sure"];
  const ch = await post(`${srv.url}/generate`, { text: ["Is it?", "Really?"], sampling_params: { max_new_tokens: 10, choices } });
  assert.equal(ch.body.length, 2);
  for (const o of ch.body) {
    assert.ok(choices.includes(o.text), o.text);
    // every option is scored (a sum of log-probabilities) and the best one wins
    const scores = o.meta_info.choice_logprobs as number[];
    assert.equal(scores.length, choices.length);
    for (const x of scores) assert.ok(Number.isFinite(x) && x < 0);
    assert.equal(o.text, choices[scores.indexOf(Math.max(...scores))]);
  }
  // the same prompt again: the options' scores come from the shared, cached prompt KV and do not change
  const again = await post(`${srv.url}/generate`, { text: "Is it?", sampling_params: { choices } });
  assert.deepEqual(again.body.meta_info.choice_logprobs, ch.body[0].meta_info.choice_logprobs);
  assert.ok(again.body.meta_info.cached_tokens > 0);
  // an option that is a prefix of another is scored as itself
  const pre = await post(`${srv.url}/generate`, { text: "Is it?", sampling_params: { choices: ["no", "not", "not sure"] } });
  assert.ok(["no", "not", "not sure"].includes(pre.body.text));
});

test("a bad schema, regex or grammar is a 400 naming the parameter and the problem", T, async () => {
  const bad: [string, unknown, string, RegExp][] = [
    ["/v1/chat/completions", { messages: user, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "strnig" } } } }, "response_format", /strnig/],
    ["/v1/chat/completions", { messages: user, response_format: { type: "json_schema", json_schema: { name: "x" } } }, "response_format.json_schema.schema", /schema/],
    ["/v1/completions", { prompt: "x", response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { $ref: "#/$defs/nope" } } } } } }, "response_format", /nope|ref/i],
    ["/generate", { text: "x", sampling_params: { regex: "[a-" } }, "sampling_params.regex", /regex/i],
    ["/generate", { text: "x", sampling_params: { ebnf: "root ::= undefined_rule" } }, "sampling_params.ebnf", /undefined_rule/],
    ["/generate", { text: "x", sampling_params: { json_schema: "{oops" } }, "sampling_params.json_schema", /not valid JSON/],
    ["/v1/chat/completions", { messages: user, response_format: { type: "json_schema", json_schema: { name: "x", schema: { not: {} } } } }, "response_format", /allows no value/],
    ["/generate", { text: "x", sampling_params: { regex: "a", ebnf: 'root ::= "a"' } }, "sampling_params.ebnf", /at most one/],
    ["/v1/chat/completions", { messages: user, tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }, "tool_choice", /'g'/],
  ];
  for (const [route, body, param, msg] of bad) {
    const r = await post(`${srv.url}${route}`, body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    const e = envelope(r.body);
    assert.equal(e.param, param);
    assert.match(e.message, msg);
  }
  // the server still constrains fine afterwards
  const ok = await post(`${srv.url}/generate`, { text: "x", sampling_params: { temperature: 1, max_new_tokens: 10, regex: "ok[0-9]" } });
  assert.match(ok.body.text, /^ok[0-9]$/);
});

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } },
        required: ["city", "unit"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      parameters: { type: "object", properties: { a: { type: "integer", minimum: 0, maximum: 99 }, b: { type: "integer", minimum: 0, maximum: 99 } }, required: ["a", "b"], additionalProperties: false },
    },
  },
];

test("tool calls round trip with the openai client: required, named, streamed; the result goes back in and the answer streams", T, async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];
  const r = await srv.client.chat.completions.create({ model: MODEL_NAME, messages, tools, tool_choice: "required", parallel_tool_calls: false, seed: 5, temperature: 1, max_tokens: 300 });
  const c = r.choices[0]!;
  assert.equal(c.finish_reason, "tool_calls");
  const calls = c.message.tool_calls!;
  assert.equal(calls.length, 1);
  const call = calls[0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.type, "function");
  assert.match(call.id, /^call_/);
  const spec = tools.find((t) => (t as OpenAI.ChatCompletionFunctionTool).function.name === call.function.name) as OpenAI.ChatCompletionFunctionTool;
  assert.ok(spec, call.function.name);
  validate(spec.function.parameters as Record<string, unknown>, JSON.parse(call.function.arguments));

  const named = await srv.client.chat.completions.create({ model: MODEL_NAME, messages, tools, tool_choice: { type: "function", function: { name: "add" } }, seed: 6, temperature: 1, max_tokens: 300 });
  const nc = named.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(nc.function.name, "add");
  validate((tools[1] as OpenAI.ChatCompletionFunctionTool).function.parameters as Record<string, unknown>, JSON.parse(nc.function.arguments));

  // Streamed: the call arrives as tool_calls deltas (name, then argument pieces), the finish reason is tool_calls.
  const stream = await srv.client.chat.completions.create({ model: MODEL_NAME, messages, tools, tool_choice: "required", parallel_tool_calls: false, seed: 5, temperature: 1, max_tokens: 300, stream: true });
  const streamedCalls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  let content = "";
  let reason: string | null = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      content += ch.delta.content ?? "";
      streamedCalls.push(...(ch.delta.tool_calls ?? []));
      reason = ch.finish_reason ?? reason;
    }
  }
  assert.equal(reason, "tool_calls");
  assert.equal(content, "");
  assert.ok(streamedCalls.every((d) => d.index === 0));
  assert.equal(streamedCalls[0]!.function!.name, call.function.name, "same seed, same call");
  assert.equal(streamedCalls.map((d) => d.function?.arguments ?? "").join(""), call.function.arguments);

  // The tool's result goes back; the final answer streams as content.
  const followUp: OpenAI.ChatCompletionMessageParam[] = [
    ...messages,
    { role: "assistant", content: null, tool_calls: [call] },
    { role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 21, sky: "clear" }) },
  ];
  const final = await srv.client.chat.completions.create({ model: MODEL_NAME, messages: followUp, tools, tool_choice: "none", seed: 1, temperature: 1, max_tokens: 12, stream: true });
  let answer = "";
  let chunks = 0;
  let finalReason: string | null = null;
  for await (const chunk of final) {
    for (const ch of chunk.choices) {
      answer += ch.delta.content ?? "";
      if (ch.delta.content) chunks++;
      finalReason = ch.finish_reason ?? finalReason;
      assert.equal(ch.delta.tool_calls, undefined);
    }
  }
  assert.ok(chunks > 1, "the answer streams in several chunks");
  assert.ok(answer.length > 0);
  assert.ok(finalReason === "stop" || finalReason === "length");
});
