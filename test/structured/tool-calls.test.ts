// Tool-call formats: parsing whole outputs and streams of Hermes/Qwen, Llama 3.x and Mistral
// calls, format detection from real chat templates, and the grammar of a forced call.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parseToolCalls, toolCallFormat, toolCallGrammar, ToolCallStreamer } from "../../src/structured/tool-calls.js";
import { SHARED_TESTDATA } from "../helpers/models.js";

const names = new Set(["get_weather", "add"]);

test("hermes: <tool_call> blocks become calls, the rest stays content", () => {
  const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>';
  const r = parseToolCalls("hermes", text, names);
  assert.equal(r.content, "Let me check.");
  assert.deepEqual(r.calls, [{ name: "get_weather", arguments: '{"city":"Paris"}' }, { name: "add", arguments: '{"a":1,"b":2}' }]);
  assert.deepEqual(parseToolCalls("hermes", "no calls here", names), { content: "no calls here", calls: [] });
  // an unknown function or broken JSON is not a call
  assert.equal(parseToolCalls("hermes", '<tool_call>{"name": "rm", "arguments": {}}</tool_call>', names).calls.length, 0);
  assert.equal(parseToolCalls("hermes", '<tool_call>{"name": "add", "argu', names).calls.length, 0);
});

test("llama3: a JSON object with name and parameters; mistral: [TOOL_CALLS] and a JSON array", () => {
  const l = parseToolCalls("llama3", ' {"name": "add", "parameters": {"a": 3, "b": 4}}', names);
  assert.deepEqual(l, { content: null, calls: [{ name: "add", arguments: '{"a":3,"b":4}' }] });
  assert.equal(parseToolCalls("llama3", '{"answer": 42}', names).calls.length, 0);
  const m = parseToolCalls("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "add", "arguments": "{\\"a\\":1,\\"b\\":1}"}]', names);
  assert.deepEqual(m.calls, [{ name: "get_weather", arguments: '{"city":"Oslo"}' }, { name: "add", arguments: '{"a":1,"b":1}' }]);
  // [TOOL_CALLS] is a control token the detokenizer drops: a bare leading array counts
  assert.equal(parseToolCalls("mistral", '[{"name": "add", "arguments": {}}]', names).calls.length, 1);
});

test("streaming: content goes out until a call may begin, the call is parsed at the end", () => {
  const s = new ToolCallStreamer("hermes");
  const pieces = ["Sure", ", one", " moment <tool", "_call>\n{\"name\": \"add\", ", "\"arguments\": {\"a\": 1, \"b\": 2}}\n</tool_call>"];
  const out = pieces.map((p) => s.push(p));
  assert.deepEqual(out, ["Sure", ", one", " moment ", "", ""]);
  const end = s.finish(names);
  assert.deepEqual(end.calls, [{ name: "add", arguments: '{"a":1,"b":2}' }]);
  // a held-back "<" that turns out not to start a call is released
  const t = new ToolCallStreamer("hermes");
  assert.equal(t.push("a <"), "a ");
  assert.equal(t.push("b"), "<b");
  assert.deepEqual(t.finish(names), { content: null, calls: [] });
  const j = new ToolCallStreamer("llama3");
  assert.equal(j.push(" {\"name\": \"add\","), "");
  assert.equal(j.push(" \"parameters\": {}}"), "");
  assert.deepEqual(j.finish(names).calls, [{ name: "add", arguments: "{}" }]);
  const plain = new ToolCallStreamer("llama3");
  assert.equal(plain.push("Hello"), "Hello");
  assert.deepEqual(plain.finish(names), { content: null, calls: [] });
});

test("the format follows the chat template", (t) => {
  const dir = path.join(SHARED_TESTDATA, "chat-templates");
  if (!fs.existsSync(dir)) {
    t.skip(`no shared test data at ${dir}`);
    return;
  }
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), "utf8");
  assert.equal(toolCallFormat(read("Qwen-Qwen2.5-7B-Instruct.jinja")), "hermes");
  assert.equal(toolCallFormat(read("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")), "hermes");
  assert.equal(toolCallFormat(read("meta-llama-Llama-3.1-8B-Instruct.jinja")), "llama3");
  assert.equal(toolCallFormat(read("meta-llama-Llama-3.3-70B-Instruct.jinja")), "llama3");
  assert.equal(toolCallFormat(read("mistralai-Mistral-Nemo-Instruct-2407.jinja")), "mistral");
  assert.equal(toolCallFormat(null), "hermes");
});

test("a forced call's grammar: the model's framing around the call schema", () => {
  const tools = [{ type: "function" as const, function: { name: "add", parameters: { type: "object", properties: { a: { type: "integer" } } } } }];
  const h = toolCallGrammar("hermes", tools);
  assert.equal(h.kind, "json_schema");
  assert.deepEqual(h.kind === "json_schema" && [h.prefix, h.suffix], ["<tool_call>\n", "\n</tool_call>"]);
  const l = toolCallGrammar("llama3", tools);
  assert.deepEqual(l.kind === "json_schema" && (l.schema as { required: string[] }).required, ["name", "parameters"]);
  const m = toolCallGrammar("mistral", [...tools, { type: "function", function: { name: "b" } }]);
  assert.deepEqual(m.kind === "json_schema" && (m.schema as { type: string; items: { anyOf: unknown[] } }).items.anyOf.length, 2);
});
