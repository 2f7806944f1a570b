// The qwen3-coder and pythonic tool-call formats: whole outputs, streams cut anywhere (the
// argument pieces add up to the whole-mode arguments), values typed by the tool's schema,
// Python literals as JSON, which format a chat template shows, and the --tool-call-parser names.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parseToolCalls, toolCallFormat, toolCallFormatNamed, type ParsedOutput } from "../../src/structured/tool-calls.js";
import { ToolCallParser, type ToolCallFormat, type ToolCallParserOptions } from "../../src/structured/tool-call-stream.js";
import { pythonLiteralJson } from "../../src/structured/python-literal.js";
import type { ToolSpec } from "../../src/tokenizer/chat-template.js";
import { SHARED_TESTDATA } from "../helpers/models.js";

const tools: ToolSpec[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string" }, days: { type: "integer" }, ratio: { type: "number" }, hot: { type: "boolean" },
          opts: { type: "object" }, tags: { type: "array" }, unit: { enum: ["celsius", "fahrenheit"] }, maybe: { type: ["integer", "null"] },
        },
      },
    },
  },
  { type: "function", function: { name: "ping", parameters: { type: "object", properties: {} } } },
];
const names = new Set(tools.map((t) => t.function.name));
const opts: ToolCallParserOptions = { tools };

/** The streaming parser over `pieces`: content, calls, and how many argument pieces each call got. */
function streamed(format: ToolCallFormat, pieces: readonly string[], options: ToolCallParserOptions = opts): ParsedOutput & { argPieces: number[] } {
  const p = new ToolCallParser(format, names, options);
  let content = "";
  const calls: { name: string; arguments: string }[] = [];
  const argPieces: number[] = [];
  for (const e of [...pieces.flatMap((x) => p.push(x)), ...p.finish()]) {
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
  return { content: content === "" && calls.length > 0 ? null : content, calls, argPieces };
}

/** `text` cut into pieces of 1..max characters (a seeded LCG, so a failure repeats). */
function pieces(text: string, seed: number, max: number): string[] {
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * max);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Whole, character by character, and in random pieces of every size up to 12: the same result. */
function assertStreamsAsWhole(format: ToolCallFormat, text: string, options: ToolCallParserOptions = opts): ParsedOutput {
  const whole = parseToolCalls(format, text, names, options);
  for (let size = 1; size <= 12; size++) {
    for (const seed of [1, 2, 3]) {
      const s = streamed(format, size === 1 ? [...text] : pieces(text, seed * 31 + size, size), options);
      assert.deepEqual({ content: s.content, calls: s.calls }, whole, `${format} pieces<=${size}: ${JSON.stringify(text)}`);
    }
  }
  return whole;
}

const QWEN = [
  "I'll look.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nPa\"ris <b>\\n\n\n</parameter>\n<parameter=days>\n3\n</parameter>\n",
  "<parameter=ratio>\n2.5\n</parameter>\n<parameter=hot>\nTrue\n</parameter>\n<parameter=opts>\n{'a': [1, None]}\n</parameter>\n",
  "<parameter=tags>\n[\"x\", \"y\"]\n</parameter>\n<parameter=unit>\ncelsius\n</parameter>\n<parameter=maybe>\nnull\n</parameter>\n",
  "<parameter=extra>\n  indented\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=ping>\n</function>\n</tool_call>",
].join("");

test("qwen3-coder: <function=...> blocks become calls; values typed by the schema; whole and streamed alike", () => {
  const r = assertStreamsAsWhole("qwen3-coder", QWEN);
  assert.equal(r.content, "I'll look.");
  assert.deepEqual(r.calls.map((c) => c.name), ["get_weather", "ping"]);
  assert.deepEqual(JSON.parse(r.calls[0]!.arguments), {
    // a string keeps its text but for the newline after the open tag and the one before the close tag
    city: 'Pa"ris <b>\\n\n', days: 3, ratio: 2.5, hot: true, opts: { a: [1, null] }, tags: ["x", "y"], unit: "celsius", maybe: null,
    // a parameter the schema does not name is a string
    extra: "  indented",
  });
  assert.equal(r.calls[1]!.arguments, "{}");
  // A value that is not of its type stays a string, as vLLM keeps it.
  const bad = parseToolCalls("qwen3-coder", "<tool_call>\n<function=get_weather>\n<parameter=days>\nthree\n</parameter>\n<parameter=hot>\nyes\n</parameter>\n</function>\n</tool_call>", names, opts);
  assert.deepEqual(JSON.parse(bad.calls[0]!.arguments), { days: "three", hot: "yes" });
  // Without <tool_call>, and without </parameter> before </function> (both tolerated).
  const bare = assertStreamsAsWhole("qwen3-coder", "<function=get_weather>\n<parameter=city>\nOslo\n</function>");
  assert.deepEqual(bare, { content: null, calls: [{ name: "get_weather", arguments: '{"city":"Oslo"}' }] });
});

test("qwen3-coder: a string value streams in pieces; unknown functions and broken markup are content", () => {
  const text = `<tool_call>\n<function=get_weather>\n<parameter=city>\n${"a long city name ".repeat(6)}\n</parameter>\n</function>\n</tool_call>`;
  const s = streamed("qwen3-coder", [...text]);
  assert.ok(s.argPieces[0]! > 50, `argument pieces: ${s.argPieces[0]}`);
  assert.equal(s.content, null);
  for (const t of ["<tool_call>\n<function=rm>\n<parameter=path>\n/\n</parameter>\n</function>\n</tool_call>", "a < b and <function is <tool_call> nothing", "<function=get_weather\nno"]) {
    const r = assertStreamsAsWhole("qwen3-coder", t);
    assert.equal(r.calls.length, 0, t);
    assert.ok(r.content!.length > 0, t);
  }
  // Cut short: a call begun keeps its arguments so far; markup before the name is dropped under a grammar or after <tool_call>.
  assert.deepEqual(parseToolCalls("qwen3-coder", "<tool_call>\n<function=get_weather>\n<parameter=city>\nOs", names, opts), { content: null, calls: [{ name: "get_weather", arguments: '{"city":"Os' }] });
  assert.deepEqual(parseToolCalls("qwen3-coder", "Hi <tool_call>\n<function=get_w", names, opts), { content: "Hi", calls: [] });
  assert.deepEqual(parseToolCalls("qwen3-coder", "<function=get_w", names, opts), { content: "<function=get_w", calls: [] });
  assert.deepEqual(parseToolCalls("qwen3-coder", "<function=get_w", names, { ...opts, callsOnly: true }), { content: "", calls: [] });
  // maxCalls: the second call is parsed, not reported.
  assert.deepEqual(parseToolCalls("qwen3-coder", QWEN, names, { ...opts, maxCalls: 1 }).calls.map((c) => c.name), ["get_weather"]);
});

test("pythonic: a Python list of calls with keyword arguments; literals become JSON; whole and streamed alike", () => {
  const text = `<|python_start|>[get_weather(city="Pa\\"ris\\n", days=3, ratio=-2.5e1, hot=True, opts={'a': (1, None)}, tags=['x', "y"], unit='celsius'), ping()]<|python_end|>`;
  const r = assertStreamsAsWhole("pythonic", text);
  assert.equal(r.content, null);
  assert.deepEqual(r.calls.map((c) => c.name), ["get_weather", "ping"]);
  assert.deepEqual(JSON.parse(r.calls[0]!.arguments), { city: 'Pa"ris\n', days: 3, ratio: -25, hot: true, opts: { a: [1, null] }, tags: ["x", "y"], unit: "celsius" });
  assert.equal(r.calls[1]!.arguments, "{}");
  assert.deepEqual(assertStreamsAsWhole("pythonic", ' [ping( ) , get_weather(city = "Oslo")]\nDone.'), {
    content: "Done.", calls: [{ name: "ping", arguments: "{}" }, { name: "get_weather", arguments: '{"city":"Oslo"}' }],
  });
  // OpenAI's tool names and JSON property names may hold "-" (the forcing grammar writes them as they are).
  const dashed = parseToolCalls("pythonic", '[get-weather(first-name="Ada", x.y=1)]', new Set(["get-weather"]));
  assert.deepEqual(dashed, { content: null, calls: [{ name: "get-weather", arguments: '{"first-name":"Ada","x.y":1}' }] });
  // A string argument streams as it is read.
  const long = streamed("pythonic", [...`[get_weather(city="${"x".repeat(80)}")]`]);
  assert.ok(long.argPieces[0]! > 60);
  // Not calls: plain lists, text first, unknown functions.
  for (const t of ["[1, 2, 3]", "Sure: [get_weather(city='Oslo')]", "[rm(path='/')]", "[]", "[get_weather"]) {
    const w = assertStreamsAsWhole("pythonic", t);
    assert.deepEqual(w, { content: t, calls: [] }, t);
  }
  // Cut short inside a call: the arguments so far; under a grammar, a partial list is markup.
  assert.deepEqual(parseToolCalls("pythonic", '[get_weather(city="Os', names), { content: null, calls: [{ name: "get_weather", arguments: '{"city":"Os' }] });
  assert.deepEqual(parseToolCalls("pythonic", "[get_w", names, { callsOnly: true }), { content: "", calls: [] });
  assert.deepEqual(parseToolCalls("pythonic", "[ping(), ping(), ping()]", names, { maxCalls: 2 }).calls.length, 2);
});

test("random markup-like outputs parse the same whole and in pieces in both formats, and never throw", () => {
  const bits = ["<tool_call>", "</tool_call>", "<function=", "get_weather", "ping", "rm", ">", "\n", "<parameter=", "city", "days", "</parameter>", "</function>",
    "<", "[", "]", "(", ")", "=", ",", " ", '"', "'", "\\", "3", "True", "{", "}", ":", "x", "<|python_start|>", "<|python_end|>"];
  let x = 11;
  const rnd = (n: number): number => Math.floor(((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * n);
  for (let i = 0; i < 400; i++) {
    let text = "";
    const len = 1 + rnd(24);
    for (let k = 0; k < len; k++) text += bits[rnd(bits.length)];
    for (const format of ["qwen3-coder", "pythonic"] as const) {
      const whole = parseToolCalls(format, text, names, opts);
      for (const p of [[...text], pieces(text, i + 1, 5)]) {
        const s = streamed(format, p);
        assert.deepEqual({ content: s.content, calls: s.calls }, whole, `${format}: ${JSON.stringify(text)}`);
      }
      // A call cut short may have arguments that are not JSON yet; a complete one always parses.
      for (const c of whole.calls) if (c.arguments.endsWith("}")) assert.doesNotThrow(() => JSON.parse(c.arguments), `${format}: ${JSON.stringify(text)} -> ${c.arguments}`);
    }
  }
});

test("Python literals as JSON text", () => {
  const cases: [string, string | null][] = [
    ["'a\\x41\\101\\u00e9b'", '"aAAéb"'], ['"tab\\tq\\"\'"', '"tab\\tq\\"\'"'], ["r'a\\n'", '"a\\\\n"'],
    ["0x1F", "31"], ["1_000", "1000"], [".5", "0.5"], ["5.", "5.0"], ["-3e5", "-3e5"], ["123456789012345678901234567890", "123456789012345678901234567890"],
    ["(1,)", "[1]"], ["(1)", "1"], ["()", "[]"], ["{1, 2}", "[1,2]"], ["{'k': (1, 2), 3: None}", '{"k":[1,2],"3":null}'], ["[True, False, None,]", "[true,false,null]"],
    ["abc", null], ["[1, 2", null], ["'open", null], ["1 2", null], ["{'a' 1}", null], ["nan", null],
  ];
  for (const [py, json] of cases) assert.equal(pythonLiteralJson(py), json, py);
  // Deep nesting is refused, not a stack overflow.
  assert.equal(pythonLiteralJson("[".repeat(10_000) + "]".repeat(10_000)), null);
});

test("the chat template decides the format: qwen3-coder and pythonic templates, the rest as before", (t) => {
  // The lines that tell them apart, as Qwen3-Coder's and the pythonic Llama templates write them.
  const qwenCoder = "{{- '<tool_call>\\n<function=' + tool_call.name + '>\\n' }}{{- '<parameter=' + args_name + '>\\n' }}";
  const llama32Pythonic = "{{- \"Environment: ipython\\n\" }}{{- 'Respond in the format [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)] ' }}";
  const llama4 = "{{- '<|header_start|>assistant<|header_end|>\\n\\n' -}}{{- '<|python_start|>' }}";
  assert.equal(toolCallFormat(qwenCoder), "qwen3-coder");
  assert.equal(toolCallFormat(llama32Pythonic), "pythonic");
  assert.equal(toolCallFormat(llama4), "pythonic");
  assert.equal(toolCallFormatNamed("qwen3_coder"), "qwen3-coder");
  assert.equal(toolCallFormatNamed("pythonic"), "pythonic");
  assert.equal(toolCallFormatNamed("llama3_json"), "llama3");
  assert.equal(toolCallFormatNamed("nope"), null);
  const dir = path.join(SHARED_TESTDATA, "chat-templates");
  if (!fs.existsSync(dir)) {
    t.skip(`no shared chat templates at ${dir}`);
    return;
  }
  // None of the shared real templates is qwen3-coder or pythonic; each keeps its format.
  const expected: Record<string, ToolCallFormat> = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": "hermes", "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3", "meta-llama-Llama-3.3-70B-Instruct.jinja": "llama3",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral",
  };
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".jinja"))) {
    const format = toolCallFormat(fs.readFileSync(path.join(dir, f), "utf8"));
    if (expected[f]) assert.equal(format, expected[f], f);
    else assert.ok(format !== "qwen3-coder" && format !== "pythonic", `${f}: ${format}`);
  }
});
