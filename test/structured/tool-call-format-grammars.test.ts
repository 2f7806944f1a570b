// The grammars that force qwen3-coder and pythonic calls: a random-weight test model sampling
// at temperature 1 under them writes only calls in the format's own syntax, which the
// format's parser reads back into calls whose arguments validate against the tool's schema;
// exactly one under the single-call grammar, one or more (with the format's separator) under
// the other.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Engine } from "../../src/engine/engine.js";
import { loadModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { testModel } from "../helpers/models.js";
import { parseToolCalls, toolCallGrammar, toolCallsGrammar } from "../../src/structured/tool-calls.js";

const forecast = {
  type: "object",
  properties: {
    city: { type: "string", minLength: 1, maxLength: 8 }, days: { type: "integer", minimum: 1, maximum: 12 },
    unit: { enum: ["celsius", "fahrenheit"] }, hourly: { type: "boolean" }, spots: { type: "array", items: { type: "number" }, maxItems: 2 },
    note: { type: "string" },
  },
  required: ["city", "days", "unit", "hourly", "spots"],
  additionalProperties: false,
};
const ping = { type: "object", properties: {}, additionalProperties: false };
const tools = [
  { type: "function" as const, function: { name: "forecast", parameters: forecast } },
  { type: "function" as const, function: { name: "ping", parameters: ping } },
];
const names = new Set(tools.map((t) => t.function.name));
const ajv = new Ajv2020({ strict: false });
const validators = { forecast: ajv.compile(forecast), ping: ajv.compile(ping) };

async function engine(): Promise<Engine> {
  const model = await loadModel(await testModel("format-grammars-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }));
  const addon = runnerAddon();
  return Engine.create({ model, backend: addon ? nativeBackend(addon, 2) : referenceBackend, maxTotalTokens: 8192, checkInvariants: true });
}

/** A push on the end tokens where a call may end: a random model would otherwise go on calling until max_tokens. */
function stopBias(e: Engine): Record<string, number> {
  return Object.fromEntries(e.model.config.eosTokenIds.map((id) => [id, 3]));
}

const SHAPES = {
  "qwen3-coder": /^<tool_call>\n<function=(forecast|ping)>\n[^]*<\/function>\n<\/tool_call>$/,
  pythonic: /^\[(forecast|ping)\([^]*\)\]$/,
};

test("one or more calls in qwen3-coder and pythonic: every sample is calls only, each valid; some have several", { timeout: 300_000 }, async () => {
  const e = await engine();
  try {
    for (const format of ["qwen3-coder", "pythonic"] as const) {
      const grammar = await e.compileGrammar(toolCallsGrammar(format, tools));
      const counts: number[] = [];
      for (const seed of [1, 2, 3, 4]) {
        const r = await e.complete({ prompt: "call", n: 4, params: { temperature: 1, seed, maxNewTokens: 700, logitBias: stopBias(e) }, grammar });
        for (const s of r.samples) {
          assert.equal(s.finishReason, "stop", `${format}: ${s.text}`);
          assert.match(s.text, SHAPES[format]);
          const parsed = parseToolCalls(format, s.text, names, { tools, callsOnly: true });
          assert.ok(parsed.calls.length >= 1, `${format}: ${s.text}`);
          assert.equal(parsed.content, null, `${format}: nothing but calls: ${s.text}`);
          for (const c of parsed.calls) {
            const v = validators[c.name as keyof typeof validators];
            assert.ok(v(JSON.parse(c.arguments)), `${format}: ${c.name} ${c.arguments} from ${JSON.stringify(s.text)}: ${JSON.stringify(v.errors)}`);
          }
          if (parsed.calls.length > 1) assert.match(s.text, format === "pythonic" ? /\), (forecast|ping)\(/ : /<\/tool_call>\n<tool_call>/);
          counts.push(parsed.calls.length);
        }
        if (counts.some((n) => n >= 2)) break;
      }
      assert.ok(counts.some((n) => n >= 2), `${format}: some sample makes several calls (counts ${counts.join(",")})`);
    }
  } finally {
    await e.close();
  }
});

test("exactly one call in qwen3-coder and pythonic, of the named tool when one is named", { timeout: 300_000 }, async () => {
  const e = await engine();
  try {
    for (const format of ["qwen3-coder", "pythonic"] as const) {
      for (const offered of [tools, [tools[0]!]]) {
        const grammar = await e.compileGrammar(toolCallGrammar(format, offered));
        const r = await e.complete({ prompt: "call", n: 4, params: { temperature: 1, seed: 2, maxNewTokens: 500 }, grammar });
        for (const s of r.samples) {
          assert.equal(s.finishReason, "stop", `${format}: ${s.text}`);
          const parsed = parseToolCalls(format, s.text, names, { tools, callsOnly: true });
          assert.equal(parsed.calls.length, 1, `${format}: ${s.text}`);
          const c = parsed.calls[0]!;
          if (offered.length === 1) assert.equal(c.name, "forecast");
          assert.ok(validators[c.name as keyof typeof validators](JSON.parse(c.arguments)), `${format}: ${c.arguments}`);
        }
      }
    }
  } finally {
    await e.close();
  }
});
