// Tool-call formats: parsing whole outputs and streams of Hermes/Qwen, Llama 3.x and Mistral
// calls, format detection from real chat templates, and the grammar of a forced call.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parseToolCalls, toolCallFormat, toolCallGrammar, type ParsedToolCall } from "../../src/structured/tool-calls.js";
import { ToolCallParser, type ToolCallEvent, type ToolCallFormat } from "../../src/structured/tool-call-stream.js";
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

/** Runs the streaming parser over `pieces`; returns content, calls and the argument pieces per call. */
function streamed(format: ToolCallFormat, pieces: readonly string[], maxCalls = Infinity): { content: string; calls: ParsedToolCall[]; argPieces: number[]; events: ToolCallEvent[][] } {
  const p = new ToolCallParser(format, names, { maxCalls });
  const events = [...pieces.map((x) => p.push(x)), p.finish()];
  let content = "";
  const calls: { name: string; arguments: string }[] = [];
  const argPieces: number[] = [];
  for (const e of events.flat()) {
    if (e.type === "content") content += e.text;
    else if (e.type === "call") {
      assert.equal(e.index, calls.length, "calls are numbered in order");
      calls.push({ name: e.name, arguments: "" });
      argPieces.push(0);
    } else {
      calls[e.index]!.arguments += e.text;
      argPieces[e.index]!++;
    }
  }
  return { content, calls, argPieces, events };
}

/** `text` cut at random places (a seeded LCG, so a failure repeats). */
function randomPieces(text: string, seed: number): string[] {
  let x = seed;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(rnd() * 6);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

const OUTPUTS: [ToolCallFormat, string][] = [
  ["hermes", 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris, \\"FR\\" {x}"}}\n</tool_call>\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": [2, {"c": 3}]}}\n</tool_call>'],
  ["hermes", "plain text with a < and <tool and </tool_call> but no call"],
  ["hermes", '<tool_call>\n{"name": "rm", "arguments": {}}\n</tool_call> then <tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>'],
  ["hermes", '<tool_call>{"arguments": {"a": 1}, "name": "add"}</tool_call>'],
  ["hermes", '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b"'],
  ["llama3", '<|python_tag|>{"name": "add", "parameters": {"a": 3, "b": 4}}; {"name": "get_weather", "parameters": {"city": "Oslo"}}'],
  ["llama3", ' {"answer": 42}'],
  ["llama3", "Hello {there}"],
  ["mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "add", "arguments": "{\\"a\\":1,\\"b\\":1}"}]'],
  ["mistral", '[{"name": "add", "arguments": {"a": 1}}]'],
  ["mistral", "[1, 2, 3] is a list"],
];

test("streaming: any cut of the output gives the same content and calls as the whole output", () => {
  for (const [format, text] of OUTPUTS) {
    const whole = parseToolCalls(format, text, names);
    for (let seed = 1; seed <= 40; seed++) {
      const s = streamed(format, seed === 1 ? [...text] : randomPieces(text, seed));
      assert.deepEqual(s.calls, whole.calls, `${format} ${seed}: ${text}`);
      assert.equal(s.content === "" && s.calls.length > 0 ? null : s.content, whole.content, `${format} ${seed}: ${text}`);
    }
  }
});

test("streaming: random markup-like outputs parse the same whole, character by character and in random pieces", () => {
  const bits = ["<tool_call>", "</tool_call>", "<tool", "{", "}", '"name"', ": ", '"add"', '"rm"', '"arguments"', '"parameters"', ",", "[", "]", ";", " ", "\n",
    "x", "\\", '"', "[TOOL_CALLS]", "<|python_tag|>", "1", '{"a": [1, "}"]}', '{"name": "add", "arguments": {"a": 1}}'];
  let x = 7;
  const rnd = (n: number): number => Math.floor(((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * n);
  for (let i = 0; i < 600; i++) {
    let text = "";
    const len = 1 + rnd(14);
    for (let k = 0; k < len; k++) text += bits[rnd(bits.length)];
    for (const format of ["hermes", "llama3", "mistral"] as const) {
      const whole = parseToolCalls(format, text, names);
      for (const pieces of [[...text], randomPieces(text, i + 1)]) {
        const s = streamed(format, pieces);
        assert.deepEqual(s.calls, whole.calls, `${format}: ${JSON.stringify(text)}`);
        assert.equal(s.content === "" && s.calls.length > 0 ? null : s.content, whole.content, `${format}: ${JSON.stringify(text)}`);
      }
      // Without calls everything is content, but for the tail of a call cut short inside its markup.
      if (whole.calls.length === 0 && !/<tool_call>|<\|python_tag\|>|\[TOOL_CALLS\]/.test(text)) {
        assert.equal(whole.content, text, `${format}: no call, all content: ${JSON.stringify(text)}`);
      }
    }
  }
});

test("streaming: a call's name goes out first, then its arguments piece by piece; no markup reaches content", () => {
  const text = OUTPUTS[0]![1];
  const s = streamed("hermes", [...text]);
  assert.equal(s.content, "Let me check.");
  assert.deepEqual(s.calls.map((c) => c.name), ["get_weather", "add"]);
  assert.equal(s.calls[0]!.arguments, '{"city":"Paris, \\"FR\\" {x}"}', "whitespace inside strings stays, between tokens goes");
  assert.equal(s.calls[1]!.arguments, '{"a":1,"b":[2,{"c":3}]}');
  assert.ok(s.argPieces[0]! > 10, "arguments stream as they come");
  // The name is out before the first character of the arguments is complete.
  const flat = s.events.map((e) => e.map((x) => x.type).join(","));
  const first = flat.findIndex((x) => x.includes("call"));
  assert.ok(flat[first + 1]!.includes("arguments") || flat[first]!.includes("arguments"));
  // An output cut short keeps the call begun, with the arguments so far.
  const cut = streamed("hermes", [...OUTPUTS[4]![1]]);
  assert.deepEqual(cut.calls, [{ name: "add", arguments: '{"a":1,"b"' }]);
  assert.equal(cut.content, "");
  // Cut short before a call is known: markup is dropped, plain JSON is content.
  assert.deepEqual(parseToolCalls("hermes", 'Hi <tool_call>\n{"name": "ad', names), { content: "Hi", calls: [] });
  assert.deepEqual(parseToolCalls("llama3", '{"name": "add", "parameters": {}}; {"na', names), { content: null, calls: [{ name: "add", arguments: "{}" }] });
  assert.deepEqual(parseToolCalls("llama3", '{"answer": "4', names), { content: '{"answer": "4', calls: [] });
  assert.deepEqual(parseToolCalls("hermes", "<tool_ca", names), { content: "<tool_ca", calls: [] });
  assert.deepEqual(parseToolCalls("hermes", "<tool_ca", names, { callsOnly: true }), { content: "", calls: [] }, "under a grammar it can only be markup");
  // Arguments before the name go out when the name is known.
  assert.deepEqual(streamed("hermes", [...OUTPUTS[3]![1]]).calls, [{ name: "add", arguments: '{"a":1}' }]);
  // A partial "<tool_call>" is held until it is known not to be one.
  const p = new ToolCallParser("hermes", names);
  assert.deepEqual(p.push("a <"), [{ type: "content", text: "a" }]);
  assert.deepEqual(p.push("b"), [{ type: "content", text: " <b" }]);
  assert.deepEqual(p.finish(), []);
});

test("several calls per format, and at most maxCalls of them", () => {
  const m = parseToolCalls("mistral", OUTPUTS[8]![1], names);
  assert.deepEqual(m, { content: null, calls: [{ name: "get_weather", arguments: '{"city":"Oslo"}' }, { name: "add", arguments: '{"a":1,"b":1}' }] });
  const l = parseToolCalls("llama3", OUTPUTS[5]![1], names);
  assert.deepEqual(l, { content: null, calls: [{ name: "add", arguments: '{"a":3,"b":4}' }, { name: "get_weather", arguments: '{"city":"Oslo"}' }] });
  const h = parseToolCalls("hermes", OUTPUTS[0]![1], names, { maxCalls: 1 });
  assert.deepEqual(h.calls.map((c) => c.name), ["get_weather"], "the second call is parsed and dropped");
  assert.equal(h.content, "Let me check.");
  assert.equal(streamed("llama3", [...OUTPUTS[5]![1]], 1).calls.length, 1);
  // An unknown function is content; the known one after it is still a call.
  const mixed = parseToolCalls("hermes", OUTPUTS[2]![1], names);
  assert.deepEqual(mixed.calls, [{ name: "add", arguments: '{"a":2}' }]);
  assert.equal(mixed.content, '<tool_call>\n{"name": "rm", "arguments": {}}\n</tool_call> then');
  assert.equal(parseToolCalls("llama3", OUTPUTS[7]![1], names).content, "Hello {there}");
  assert.equal(parseToolCalls("mistral", OUTPUTS[10]![1], names).content, "[1, 2, 3] is a list");
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
