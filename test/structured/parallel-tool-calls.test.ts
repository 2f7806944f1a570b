// The grammar of one or more tool calls (tool_choice "required" with parallel calls on), in
// each model format: a random-weight test model sampling at temperature 1 under it writes
// one or more calls, each a valid call of its tool's schema, joined by the format's
// separator, and nothing else; the whole-output parser reads them all back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Engine } from "../../src/engine/engine.js";
import { loadModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { testModel } from "../helpers/models.js";
import { parseToolCalls, toolCallGrammar, toolCallsGrammar } from "../../src/structured/tool-calls.js";
import { GrammarError } from "../../src/structured/grammar.js";

const forecast = { type: "object", properties: { city: { type: "string", maxLength: 8 }, days: { type: "integer", minimum: 1, maximum: 12 } }, required: ["city", "days"], additionalProperties: false };
const ping = { type: "object", properties: {}, additionalProperties: false };
const tools = [
  { type: "function" as const, function: { name: "forecast", parameters: forecast } },
  { type: "function" as const, function: { name: "ping", parameters: ping } },
];
const names = new Set(tools.map((t) => t.function.name));

const ajv = new Ajv2020({ strict: false });
const validators = { forecast: ajv.compile(forecast), ping: ajv.compile(ping) };

async function engine(): Promise<Engine> {
  const model = await loadModel(await testModel("parallel-tools-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }));
  const addon = runnerAddon();
  return Engine.create({ model, backend: addon ? nativeBackend(addon, 2) : referenceBackend, maxTotalTokens: 8192, checkInvariants: true });
}

/**
 * The grammar allows the end of the output only after a complete call. In hermes format
 * several newline tokens compete with the end token there, and a random model goes on
 * writing calls until max_tokens, so for it the end-of-sequence tokens get a push (they stay
 * masked everywhere else).
 */
function stopBias(e: Engine, format: string): Record<string, number> {
  return Object.fromEntries(e.model.config.eosTokenIds.map((id) => [id, format === "hermes" ? 3 : 0]));
}

test("one or more calls in each format: every sample is a list of valid calls, some have several", { timeout: 300_000 }, async () => {
  const e = await engine();
  try {
    for (const format of ["hermes", "llama3", "mistral"] as const) {
      const grammar = await e.compileGrammar(toolCallsGrammar(format, tools));
      const counts: number[] = [];
      for (const seed of [1, 2, 3]) {
        const r = await e.complete({ prompt: "call", n: 4, params: { temperature: 1, seed, maxNewTokens: 600, logitBias: stopBias(e, format) }, grammar });
        for (const s of r.samples) {
          assert.equal(s.finishReason, "stop", `${format}: ${s.text}`);
          const parsed = parseToolCalls(format, s.text, names);
          assert.ok(parsed.calls.length >= 1, `${format}: ${s.text}`);
          assert.equal(parsed.content, null, `${format}: nothing but calls: ${s.text}`);
          for (const c of parsed.calls) {
            assert.ok(validators[c.name as keyof typeof validators](JSON.parse(c.arguments)), `${format}: ${c.name} ${c.arguments}`);
          }
          if (format === "hermes") assert.match(s.text, /^<tool_call>\n[^]*\n<\/tool_call>$/);
          if (format === "llama3" && parsed.calls.length > 1) assert.match(s.text, /\}; \{/);
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

test("exactly one call: the single-call grammar never makes a second; a bad schema is a GrammarError", { timeout: 300_000 }, async () => {
  const e = await engine();
  try {
    for (const format of ["hermes", "llama3", "mistral"] as const) {
      const grammar = await e.compileGrammar(toolCallGrammar(format, tools));
      const r = await e.complete({ prompt: "call", n: 6, params: { temperature: 1, seed: 2, maxNewTokens: 400 }, grammar });
      for (const s of r.samples) {
        assert.equal(s.finishReason, "stop", `${format}: ${s.text}`);
        assert.equal(parseToolCalls(format, s.text, names).calls.length, 1, `${format}: ${s.text}`);
      }
    }
    const bad = [{ type: "function" as const, function: { name: "f", parameters: { type: "object", properties: { a: { type: "no-such-type" } } } } }];
    await assert.rejects(e.compileGrammar(toolCallsGrammar("hermes", bad)), GrammarError);
    // the compiler still works after that
    assert.equal(toolCallsGrammar("llama3", tools).kind, "structural_tag");
    await e.compileGrammar(toolCallsGrammar("llama3", tools));
  } finally {
    await e.close();
  }
});
