// The Responses API through the real server and the real `openai` client: a response equals
// the chat completion of the same conversation at temperature 0, whole and streamed (events in
// OpenAI's order, deltas that add up); max_output_tokens makes it incomplete; text.format and
// required tool calls constrain it; function_call_output follow-ups and previous_response_id
// chains render the conversation the chat route would (a chained follow-up's prefix is cached);
// store: false keeps nothing; refused fields and bounds are 400s, unknown ids 404s.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAIClient, { type OpenAI } from "openai";
import { Ajv2020 } from "ajv/dist/2020.js";
import { envelope, get, MODEL_NAME, post, start, until, withExtra, type Running } from "./harness.js";
import { MAX_CONTENT_PARTS, MAX_INPUT_ITEMS, MAX_INSTRUCTIONS_LENGTH } from "../../src/server/responses-schema.js";
import { MAX_TOOLS } from "../../src/server/schema.js";
import { ResponseStore, type StoredResponse } from "../../src/server/responses-store.js";

type ResponseStreamEvent = OpenAI.Responses.ResponseStreamEvent;

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

const T = { timeout: 180_000 };
const ajv = new Ajv2020({ strict: false });

const weather = {
  type: "object",
  properties: { city: { type: "string", maxLength: 10 }, unit: { enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const add = { type: "object", properties: { a: { type: "integer", minimum: 0, maximum: 99 }, b: { type: "integer", minimum: 0, maximum: 99 } }, required: ["a", "b"], additionalProperties: false };
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, add };
const tools: OpenAI.Responses.FunctionTool[] = Object.entries(SCHEMAS).map(([name, parameters]) => ({ type: "function", name, parameters, strict: true }));

function assertValid(name: string, args: string): void {
  const v = ajv.compile(SCHEMAS[name]!);
  assert.ok(v(JSON.parse(args)), `${name}(${args}): ${JSON.stringify(v.errors)}`);
}

/** A push on the end token, so that a constrained call ends rather than running on (see tool-calls.test.ts). */
function stopBias(): Record<string, number> {
  return Object.fromEntries(srv.engine.model.config.eosTokenIds.map((id) => [String(id), 3]));
}

function messageText(r: OpenAI.Responses.Response): string {
  return r.output.filter((o) => o.type === "message").flatMap((o) => (o as OpenAI.Responses.ResponseOutputMessage).content)
    .map((c) => (c.type === "output_text" ? c.text : "")).join("");
}

async function status(p: Promise<unknown>): Promise<{ status: number; error: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAIClient.APIError) return { status: err.status ?? 0, error: err.error as Record<string, unknown> };
    throw err;
  }
  throw new Error("the request succeeded");
}

test("a response equals the chat completion of the same conversation at temperature 0, and comes back from GET", T, async () => {
  const r = await srv.client.responses.create({ model: MODEL_NAME, instructions: "Be brief.", input: "Tell me about cats.", max_output_tokens: 24, temperature: 0 });
  const chat = await srv.client.chat.completions.create({
    model: MODEL_NAME, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Tell me about cats." }], max_tokens: 24, temperature: 0,
  });
  assert.match(r.id, /^resp_/);
  assert.equal(r.object, "response");
  assert.equal(r.model, MODEL_NAME);
  assert.equal(r.instructions, "Be brief.");
  assert.equal(r.output.length, 1);
  const m = r.output[0] as OpenAI.Responses.ResponseOutputMessage;
  assert.equal(m.type, "message");
  assert.equal(m.role, "assistant");
  assert.match(m.id, /^msg_/);
  assert.equal(m.content[0]!.type, "output_text");
  assert.equal(r.output_text, chat.choices[0]!.message.content);
  assert.equal(r.status, chat.choices[0]!.finish_reason === "length" ? "incomplete" : "completed");
  assert.equal(m.status, r.status);
  assert.equal(r.usage!.input_tokens, chat.usage!.prompt_tokens);
  assert.equal(r.usage!.output_tokens, chat.usage!.completion_tokens);
  assert.equal(r.usage!.total_tokens, r.usage!.input_tokens + r.usage!.output_tokens);
  assert.equal(r.usage!.output_tokens_details.reasoning_tokens, 0);
  assert.equal((r as unknown as { store: boolean }).store, true);
  assert.equal(r.temperature, 0);
  assert.equal(r.max_output_tokens, 24);
  assert.deepEqual(r.text?.format, { type: "text" });
  const again = await srv.client.responses.retrieve(r.id);
  assert.deepEqual(again.output, r.output);
  assert.equal(again.output_text, r.output_text);
});

test("max_output_tokens cuts the answer: status incomplete, reason max_output_tokens", T, async () => {
  const r = await srv.client.responses.create(withExtra({ model: MODEL_NAME, input: "Go on and on.", max_output_tokens: 3, temperature: 0 }, { ignore_eos: true }));
  assert.equal(r.status, "incomplete");
  assert.deepEqual(r.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(r.usage!.output_tokens, 3);
  assert.equal(r.output[0]!.type, "message");
  assert.equal((r.output[0] as OpenAI.Responses.ResponseOutputMessage).status, "incomplete");
});

test("text.format json_schema: the output parses and validates", T, async () => {
  const schema = { type: "object", properties: { color: { enum: ["red", "blue"] }, n: { type: "integer", minimum: 0, maximum: 9 } }, required: ["color", "n"], additionalProperties: false };
  const r = await srv.client.responses.create({
    model: MODEL_NAME, input: "A color and a digit, as JSON.", temperature: 0, max_output_tokens: 60,
    text: { format: { type: "json_schema", name: "pick", schema, strict: true } },
  });
  assert.equal(r.status, "completed");
  const v = ajv.compile(schema);
  assert.ok(v(JSON.parse(r.output_text)), r.output_text);
  assert.equal((r.text?.format as { type: string }).type, "json_schema");
});

test("tool_choice required and named: function_call items whose arguments fit the schema; streamed argument deltas add up", T, async () => {
  const base = { model: MODEL_NAME, input: "What is the weather in Paris?", tools, temperature: 0, max_output_tokens: 300, parallel_tool_calls: false };
  const r = await srv.client.responses.create(withExtra({ ...base, tool_choice: "required" as const }, { logit_bias: stopBias() }));
  const calls = r.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === "function_call");
  assert.equal(calls.length, 1, JSON.stringify(r.output));
  assert.match(calls[0]!.call_id, /^call_/);
  assert.match(calls[0]!.id!, /^fc_/);
  assert.equal(calls[0]!.status, "completed");
  assertValid(calls[0]!.name, calls[0]!.arguments);
  assert.equal(r.tool_choice, "required");
  assert.equal(r.tools.length, 2);
  const named = await srv.client.responses.create(withExtra({ ...base, tool_choice: { type: "function" as const, name: "add" } }, { logit_bias: stopBias() }));
  const call = named.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === "function_call")!;
  assert.equal(call.name, "add");
  assertValid("add", call.arguments);

  const stream = srv.client.responses.stream(withExtra({ ...base, tool_choice: { type: "function" as const, name: "add" } }, { logit_bias: stopBias() }));
  let deltas = "";
  let done = "";
  for await (const e of stream) {
    if (e.type === "response.function_call_arguments.delta") deltas += e.delta;
    if (e.type === "response.function_call_arguments.done") done = e.arguments;
  }
  const final = await stream.finalResponse();
  const streamed = final.output.find((o) => o.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
  assert.equal(deltas, done);
  assert.equal(streamed.arguments, call.arguments);
});

test("a function_call_output follow-up renders as the chat route's tool turn (same prompt, same answer)", T, async () => {
  const input: OpenAI.Responses.ResponseInputItem[] = [
    { role: "user", content: "Weather in Oslo?" },
    { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\",\"unit\":\"celsius\"}" },
    { type: "function_call_output", call_id: "call_1", output: "SUNNY-42 degrees" },
  ];
  const r = await srv.client.responses.create({ model: MODEL_NAME, input, tools, temperature: 0, max_output_tokens: 16 });
  const chatTools: OpenAI.ChatCompletionFunctionTool[] = tools.map((t) => ({ type: "function", function: { name: t.name, parameters: t.parameters! } }));
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: "user", content: "Weather in Oslo?" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\",\"unit\":\"celsius\"}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "SUNNY-42 degrees" },
  ];
  const chat = await srv.client.chat.completions.create({ model: MODEL_NAME, messages, tools: chatTools, temperature: 0, max_tokens: 16 });
  assert.equal(r.usage!.input_tokens, chat.usage!.prompt_tokens);
  assert.equal(messageText(r), chat.choices[0]!.message.content ?? "");
  // The template shows the tool's output in the prompt.
  assert.ok(srv.engine.chat.render(messages as never, undefined).includes("SUNNY-42 degrees"));
  // Without the output the prompt is shorter: it was rendered.
  const without = await srv.client.responses.create({ model: MODEL_NAME, input: input.slice(0, 2), tools, temperature: 0, max_output_tokens: 1 });
  assert.ok(r.usage!.input_tokens > without.usage!.input_tokens);
});

test("previous_response_id continues the conversation: the chat route's answer, a cached prefix, and the stored input items", T, async () => {
  const first = await srv.client.responses.create({ model: MODEL_NAME, input: "Hello there, tell me a story.", temperature: 0, max_output_tokens: 12 });
  const second = await srv.client.responses.create({ model: MODEL_NAME, previous_response_id: first.id, input: "And then what?", temperature: 0, max_output_tokens: 12 });
  assert.equal(second.previous_response_id, first.id);
  const chat = await srv.client.chat.completions.create({
    model: MODEL_NAME, temperature: 0, max_tokens: 12,
    messages: [{ role: "user", content: "Hello there, tell me a story." }, { role: "assistant", content: first.output_text }, { role: "user", content: "And then what?" }],
  });
  assert.equal(second.usage!.input_tokens, chat.usage!.prompt_tokens);
  assert.equal(second.output_text, chat.choices[0]!.message.content);
  // The first conversation's KV stayed in the radix cache: the follow-up's prefix is a hit.
  const cached = second.usage!.input_tokens_details.cached_tokens;
  assert.ok(cached > 0 && cached >= first.usage!.input_tokens - 1, `cached ${cached} of ${second.usage!.input_tokens}; the first prompt had ${first.usage!.input_tokens}`);
  const items = await srv.client.responses.inputItems.list(second.id, { order: "asc" });
  assert.equal(items.data.length, 1);
  const item = items.data[0] as OpenAI.Responses.ResponseInputMessageItem;
  assert.equal(item.role, "user");
  assert.deepEqual(item.content, [{ type: "input_text", text: "And then what?" }]);
  const page = await get(`${srv.url}/v1/responses/${first.id}/input_items?limit=1`);
  assert.equal(page.body.data.length, 1);
  assert.equal(page.body.has_more, false);
  // A third turn goes on from the second.
  const third = await srv.client.responses.create({ model: MODEL_NAME, previous_response_id: second.id, input: "The end?", temperature: 0, max_output_tokens: 4 });
  assert.ok(third.usage!.input_tokens > second.usage!.input_tokens + second.usage!.output_tokens);
});

test("store: false keeps nothing (GET and a follow-up get 404); DELETE forgets a stored one; unknown ids are 404s", T, async () => {
  const r = await srv.client.responses.create({ model: MODEL_NAME, input: "Hi", store: false, max_output_tokens: 2 });
  assert.equal((r as unknown as { store: boolean }).store, false);
  assert.equal((await status(srv.client.responses.retrieve(r.id))).status, 404);
  const follow = await status(srv.client.responses.create({ model: MODEL_NAME, input: "Hi", previous_response_id: r.id, max_output_tokens: 2 }));
  assert.equal(follow.status, 404);
  assert.equal(follow.error.param, "previous_response_id");
  assert.equal(follow.error.message, `Previous response with id '${r.id}' not found.`);
  const unknown = await post(`${srv.url}/v1/responses`, { model: MODEL_NAME, input: "Hi", previous_response_id: "resp_nope" });
  assert.equal(unknown.status, 404);
  assert.equal(envelope(unknown.body).param, "previous_response_id");

  const kept = await srv.client.responses.create({ model: MODEL_NAME, input: "Hi", max_output_tokens: 2 });
  await srv.client.responses.delete(kept.id);
  assert.equal((await status(srv.client.responses.retrieve(kept.id))).status, 404);
  assert.equal((await get(`${srv.url}/v1/responses/resp_nope/input_items`)).status, 404);
  const other = await srv.client.responses.create({ model: MODEL_NAME, input: "Hi", max_output_tokens: 2 });
  const cancel = await post(`${srv.url}/v1/responses/${other.id}/cancel`, {});
  assert.equal(cancel.status, 400);
  envelope(cancel.body);
});

test("the store is bounded: past its count the least recently used response goes", T, async () => {
  const small = await start({}, { responsesStore: { maxResponses: 2 } });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await small.client.responses.create({ model: MODEL_NAME, input: `Hi ${i}`, max_output_tokens: 1 })).id);
    assert.equal((await get(`${small.url}/v1/responses/${ids[0]}`)).status, 404);
    assert.equal((await get(`${small.url}/v1/responses/${ids[1]}`)).status, 200);
    assert.equal((await get(`${small.url}/v1/responses/${ids[2]}`)).status, 200);
  } finally {
    await small.close();
  }
});

test("the store's bounds: count and bytes, least recently used (read or written) first out; one too big alone is not kept", () => {
  const entry = (text: string): StoredResponse => ({ response: { id: text }, conversation: [{ role: "user", content: text }], inputItems: [] });
  const byCount = new ResponseStore(2, 1 << 20);
  byCount.put("a", entry("a"));
  byCount.put("b", entry("b"));
  assert.ok(byCount.get("a"));
  byCount.put("c", entry("c"));
  assert.deepEqual(["a", "b", "c"].map((id) => byCount.get(id) !== undefined), [true, false, true]);
  const size = 2 * JSON.stringify(entry("x".repeat(100))).length;
  const byBytes = new ResponseStore(100, 2 * size + 10);
  for (const id of ["p", "q", "r"]) byBytes.put(id, entry(id.repeat(100)));
  assert.equal(byBytes.size, 2);
  assert.equal(byBytes.get("p"), undefined);
  assert.ok(byBytes.bytes <= 2 * size + 10);
  byBytes.put("huge", entry("x".repeat(10_000)));
  assert.equal(byBytes.get("huge"), undefined);
  assert.equal(byBytes.size, 2);
  assert.ok(byBytes.delete("q"));
  assert.equal(byBytes.delete("q"), false);
  assert.equal(byBytes.size, 1);
});

test("refused fields and bounds are 400s naming the parameter", T, async () => {
  const ok = { model: MODEL_NAME, input: "Hi", max_output_tokens: 1 };
  const many = (n: number, x: unknown): unknown[] => Array.from({ length: n }, () => x);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...ok, input: many(MAX_INPUT_ITEMS + 1, { role: "user", content: "x" }) }, "input"],
    [{ ...ok, input: [{ role: "user", content: many(MAX_CONTENT_PARTS + 1, { type: "input_text", text: "x" }) }] }, "input[0].content"],
    [{ ...ok, instructions: "x".repeat(MAX_INSTRUCTIONS_LENGTH + 1) }, "instructions"],
    [{ ...ok, tools: many(MAX_TOOLS + 1, tools[0]) }, "tools"],
    [{ ...ok, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }, "metadata"],
    [{ ...ok, metadata: { k: "v".repeat(513) } }, "metadata.k"],
    [{ ...ok, previous_response_id: "r".repeat(300) }, "previous_response_id"],
    [{ ...ok, temperature: 3 }, "temperature"],
    [{ ...ok, background: true }, "background"],
    [{ ...ok, conversation: "conv_1" }, "conversation"],
    [{ ...ok, include: ["file_search_call.results"] }, "include[0]"],
    [{ ...ok, top_logprobs: 2 }, "top_logprobs"],
    [{ ...ok, tools: [{ type: "web_search" }] }, "tools[0].type"],
    [{ ...ok, tools, tool_choice: { type: "web_search_preview" } }, "tool_choice.type"],
    [{ ...ok, tool_choice: "required" }, "tool_choice"],
    [{ ...ok, input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x" }] }] }, "input[0].content[0].type"],
    [{ ...ok, input: [{ type: "item_reference", id: "msg_1" }] }, "input[0].type"],
    [{ ...ok, input: [{ role: "robot", content: "x" }] }, "input[0].role"],
    [{ ...ok, input: [{ type: "function_call_output", output: "x" }] }, "input[0].call_id"],
    [{ ...ok, input: [] }, "input"],
    [{ ...ok, text: { format: { type: "json_schema", name: "x" } } }, "text.format.schema"],
    [{ ...ok, text: { format: { type: "json_schema", name: "x", schema: { type: "strang" } } } }, "text.format"],
    [{ ...ok, input: "word ".repeat(20_000) }, "input"],
    [{ ...ok, max_output_tokens: 1_000_000 }, "max_output_tokens"],
  ];
  for (const [body, param] of cases) {
    const r = await post(`${srv.url}/v1/responses`, body);
    assert.equal(r.status, 400, `${param}: ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.equal(envelope(r.body).param, param, JSON.stringify(r.body).slice(0, 300));
  }
  // Harmless fields are accepted.
  const fine = await post(`${srv.url}/v1/responses`, { ...ok, truncation: "auto", user: "u", metadata: { a: "b" }, include: ["reasoning.encrypted_content"], service_tier: "auto", reasoning: { effort: "low" } });
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
  assert.deepEqual(fine.body.metadata, { a: "b" });
});

test("responses.stream: events in OpenAI's order with rising sequence numbers; deltas add up to the final text, which equals the whole response", T, async () => {
  const params = { model: MODEL_NAME, input: "Tell me a story about a dog.", max_output_tokens: 20, temperature: 0 };
  const whole = await srv.client.responses.create(params);
  const stream = srv.client.responses.stream(params);
  const events: ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  const final = await stream.finalResponse();
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const types = events.map((e) => e.type);
  const deltas = types.filter((t) => t === "response.output_text.delta").length;
  assert.deepEqual(types, [
    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    ...Array<string>(deltas).fill("response.output_text.delta"),
    "response.output_text.done", "response.content_part.done", "response.output_item.done",
    whole.status === "incomplete" ? "response.incomplete" : "response.completed",
  ]);
  const text = events.filter((e): e is OpenAI.Responses.ResponseTextDeltaEvent => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  const done = events.find((e): e is OpenAI.Responses.ResponseTextDoneEvent => e.type === "response.output_text.done")!;
  assert.equal(text, done.text);
  assert.equal(final.output_text, text);
  assert.equal(final.output_text, whole.output_text);
  assert.equal(final.status, whole.status);
  const itemId = (events[2] as OpenAI.Responses.ResponseOutputItemAddedEvent).item.id;
  for (const e of events.slice(3, -2)) assert.equal((e as { item_id: string }).item_id, itemId);
  assert.equal((events[0] as OpenAI.Responses.ResponseCreatedEvent).response.status, "in_progress");
  assert.ok(final.usage && final.usage.output_tokens > 0);
  // A streamed response is stored as well.
  assert.equal((await srv.client.responses.retrieve(final.id)).output_text, whole.output_text);
});

test("responses.create with stream: true yields the same events, ending with the full response", T, async () => {
  const s = await srv.client.responses.create({ model: MODEL_NAME, input: "Count to three.", max_output_tokens: 10, temperature: 0, stream: true });
  const events: ResponseStreamEvent[] = [];
  for await (const e of s) events.push(e);
  const last = events[events.length - 1]!;
  assert.ok(last.type === "response.completed" || last.type === "response.incomplete");
  const response = (last as OpenAI.Responses.ResponseCompletedEvent).response;
  const text = events.filter((e): e is OpenAI.Responses.ResponseTextDeltaEvent => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  assert.equal(messageText(response), text);
  assert.ok(response.usage!.input_tokens > 0);
});

test("a client that goes away mid-stream aborts the generation", T, async () => {
  const controller = new AbortController();
  const r = await fetch(`${srv.url}/v1/responses`, {
    method: "POST", headers: { "content-type": "application/json" }, signal: controller.signal,
    body: JSON.stringify({ model: MODEL_NAME, input: "Go on forever.", max_output_tokens: srv.engine.contextLength - 64, ignore_eos: true, stream: true }),
  });
  assert.equal(r.status, 200);
  const reader = r.body!.getReader();
  let seen = "";
  while (!seen.includes("response.output_text.delta")) {
    const chunk = await reader.read();
    assert.ok(!chunk.done, "the stream ended before the client went away");
    seen += new TextDecoder().decode(chunk.value);
  }
  controller.abort();
  assert.ok(await until(() => srv.engine.stats().running === 0 && srv.engine.stats().queued === 0, 10_000));
});

test("a stream aborted by its id ends with response.failed (status cancelled), and the server goes on", T, async () => {
  const r = await fetch(`${srv.url}/v1/responses`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL_NAME, input: "Go on forever.", max_output_tokens: srv.engine.contextLength - 64, ignore_eos: true, stream: true }),
  });
  const reader = r.body!.getReader();
  let text = "";
  while (!text.includes("response.output_text.delta")) {
    const chunk = await reader.read();
    assert.ok(!chunk.done, "the stream ended early");
    text += new TextDecoder().decode(chunk.value);
  }
  const id = /"id":"(resp_[0-9a-f]+)"/.exec(text)![1]!;
  assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: id })).body, { aborted: 1 });
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  const events = text.split("\n\n").filter((b) => b.includes("data: ")).map((b) => JSON.parse(b.slice(b.indexOf("data: ") + 6)) as ResponseStreamEvent);
  const last = events[events.length - 1] as OpenAI.Responses.ResponseFailedEvent;
  assert.equal(last.type, "response.failed");
  assert.equal(last.response.status, "cancelled");
  assert.ok(last.response.error?.message);
  assert.equal(new Set(events.map((e) => e.sequence_number)).size, events.length);
  // Not kept: it did not finish.
  assert.equal((await get(`${srv.url}/v1/responses/${id}`)).status, 404);
  const ok = await srv.client.responses.create({ model: MODEL_NAME, input: "Still there?", max_output_tokens: 2 });
  assert.ok(ok.id);
});

test("with a reasoning parser the thinking is a reasoning item, whole and streamed", T, async () => {
  const on = await start({}, { reasoningParser: "qwen3" });
  try {
    const body = withExtra({ model: MODEL_NAME, input: "Sky?", max_output_tokens: 40, temperature: 0 }, { regex: "<think>\\nLet me see\\.\\n</think>\\n\\nBlue\\." });
    const r = await on.client.responses.create(body);
    assert.deepEqual(r.output.map((o) => o.type), ["reasoning", "message"]);
    const reasoning = r.output[0] as OpenAI.Responses.ResponseReasoningItem;
    assert.deepEqual(reasoning.content, [{ type: "reasoning_text", text: "Let me see." }]);
    assert.equal(r.output_text, "Blue.");
    assert.ok(r.usage!.output_tokens_details.reasoning_tokens > 0);
    const stream = on.client.responses.stream(body);
    const events: ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const final = await stream.finalResponse();
    const thought = events.filter((e): e is OpenAI.Responses.ResponseReasoningTextDeltaEvent => e.type === "response.reasoning_text.delta").map((e) => e.delta).join("");
    assert.equal(thought, "Let me see.");
    assert.deepEqual(final.output.map((o) => o.type), ["reasoning", "message"]);
    assert.equal(final.output_text, "Blue.");
    const types = events.map((e) => e.type);
    assert.ok(types.indexOf("response.output_item.done") < types.lastIndexOf("response.output_item.added"), "the reasoning item closes before the message opens");
    // The follow-up passes the reasoning item back as input: it renders (Qwen-style templates drop it).
    const next = await on.client.responses.create({ model: MODEL_NAME, previous_response_id: r.id, input: "Why?", max_output_tokens: 2 });
    assert.ok(next.usage!.input_tokens > r.usage!.input_tokens);
  } finally {
    await on.close();
  }
});
