// Constrained decoding in the engine, from a random-weight test model sampling at
// temperature 1: every JSON output validates against its schema (ajv), regexes match fully,
// EBNF outputs parse, choices return one option, and jump-forward changes nothing but the
// number of model calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { Engine } from "../../src/engine/engine.js";
import { GrammarError } from "../../src/structured/grammar.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { testModel } from "../helpers/models.js";
import { SCHEMAS } from "./schemas.js";
import { parseToolCalls, toolCallGrammar } from "../../src/structured/tool-calls.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

let modelPromise: Promise<LoadedModel> | null = null;
function model(): Promise<LoadedModel> {
  modelPromise ??= testModel("structured-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }).then(loadModel);
  return modelPromise;
}

function nativeOrNull(): Backend | null {
  const addon = runnerAddon();
  return addon ? nativeBackend(addon, 2) : null;
}

let enginePromise: Promise<Engine> | null = null;
function engine(): Promise<Engine> {
  enginePromise ??= model().then((m) => {
    const addon = runnerAddon();
    return Engine.create({ model: m, backend: addon ? nativeBackend(addon, 2) : referenceBackend, maxTotalTokens: 8192, checkInvariants: true });
  });
  return enginePromise;
}

test.after(async () => {
  if (enginePromise) await (await enginePromise).close();
});

function validator(schema: Record<string, unknown>): (x: unknown) => boolean {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  const v = ajv.compile(schema);
  return (x) => {
    const ok = v(x);
    if (!ok) console.error(JSON.stringify(v.errors));
    return ok as boolean;
  };
}

for (const [name, schema] of Object.entries(SCHEMAS)) {
  test(`json schema '${name}': sampled outputs at temperature 1 validate`, async () => {
    const e = await engine();
    const grammar = await e.compileGrammar({ kind: "json_schema", schema });
    const valid = validator(schema);
    const r = await e.complete({ prompt: `Give me a ${name}:`, n: 4, params: { temperature: 1, seed: 7, maxNewTokens: 400 }, grammar });
    for (const s of r.samples) {
      assert.equal(s.finishReason, "stop", `'${name}' did not finish: ${JSON.stringify(s.text)}`);
      const value: unknown = JSON.parse(s.text);
      assert.ok(valid(value), `'${name}' output does not validate: ${s.text}`);
    }
  });
}

test("json_object: any object, and streaming gives the same text", async () => {
  const e = await engine();
  const grammar = await e.compileGrammar({ kind: "json_object" });
  const input = { prompt: "JSON please", params: { temperature: 1, seed: 3, maxNewTokens: 300 }, grammar };
  const whole = await e.complete(input);
  let streamed = "";
  for await (const ev of e.generate(input)) streamed += ev.text;
  const s = whole.samples[0]!;
  assert.equal(streamed, s.text);
  if (s.finishReason === "stop") {
    const v: unknown = JSON.parse(s.text);
    assert.ok(v !== null && typeof v === "object" && !Array.isArray(v));
  } else {
    assert.equal(s.finishReason, "length");
  }
});

test("max_new_tokens cutting a JSON short ends with finish reason 'length'", async () => {
  const e = await engine();
  const grammar = await e.compileGrammar({ kind: "json_schema", schema: SCHEMAS.order! });
  const r = await e.complete({ prompt: "order", params: { temperature: 1, seed: 1, maxNewTokens: 5 }, grammar });
  const s = r.samples[0]!;
  assert.equal(s.finishReason, "length");
  assert.equal(s.tokenIds.length, 5);
  assert.throws(() => JSON.parse(s.text));
});

test("jump-forward output equals token-by-token output, with fewer model calls", async () => {
  const e = await engine();
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const grammar = await e.compileGrammar({ kind: "json_schema", schema });
    for (const seed of [1, 2]) {
      const input = { prompt: `a ${name}`, params: { temperature: 1, seed, maxNewTokens: 400, logprobs: true, topLogprobs: 2 }, grammar };
      const s0 = e.stats().steps;
      const slow = await e.complete({ ...input, jumpForward: false });
      const s1 = e.stats().steps;
      const fast = await e.complete({ ...input, jumpForward: true });
      const s2 = e.stats().steps;
      assert.deepEqual(fast.samples[0]!.tokenIds, slow.samples[0]!.tokenIds, name);
      assert.equal(fast.samples[0]!.text, slow.samples[0]!.text);
      assert.deepEqual(fast.samples[0]!.logprobs, slow.samples[0]!.logprobs);
      assert.equal(fast.samples[0]!.finishReason, slow.samples[0]!.finishReason);
      assert.ok(s2 - s1 < s1 - s0, `${name}: jump-forward took ${s2 - s1} steps, token by token ${s1 - s0}`);
    }
  }
});

test("regex outputs match the whole pattern", async () => {
  const e = await engine();
  for (const pattern of ["[0-9]{3}-[a-z]{2,4}", "(yes|no|maybe)", "[A-Z][a-z]{1,5} [0-9]{1,2}(st|nd|rd|th)"]) {
    const grammar = await e.compileGrammar({ kind: "regex", pattern });
    const r = await e.complete({ prompt: "x", n: 3, params: { temperature: 1, seed: 11, maxNewTokens: 60 }, grammar });
    for (const s of r.samples) {
      assert.equal(s.finishReason, "stop");
      assert.match(s.text, new RegExp(`^(?:${pattern})$`));
    }
  }
});

test("EBNF outputs parse with the grammar", async () => {
  const e = await engine();
  const ebnf = 'root ::= expr\nexpr ::= term (("+" | "-") term){0,3}\nterm ::= [1-9] [0-9]{0,2} | "(" expr ")"';
  const grammar = await e.compileGrammar({ kind: "ebnf", grammar: ebnf });
  const r = await e.complete({ prompt: "math", n: 4, params: { temperature: 1, seed: 5, maxNewTokens: 80 }, grammar });
  // The same language as a recursive-descent parser.
  const parses = (t: string): boolean => {
    let i = 0;
    const term = (): boolean => {
      if (t[i] === "(") {
        i++;
        if (!expr() || t[i] !== ")") return false;
        i++;
        return true;
      }
      const m = /^[1-9][0-9]{0,2}/.exec(t.slice(i));
      if (!m) return false;
      i += m[0].length;
      return true;
    };
    const expr = (): boolean => {
      if (!term()) return false;
      for (let k = 0; k < 3 && (t[i] === "+" || t[i] === "-"); k++) {
        i++;
        if (!term()) return false;
      }
      return true;
    };
    return expr() && i === t.length;
  };
  for (const s of r.samples) if (s.finishReason === "stop") assert.ok(parses(s.text), s.text);
  assert.ok(r.samples.some((s) => s.finishReason === "stop"));
});

test("choices: the output is exactly one option", async () => {
  const e = await engine();
  const choices = ["red", "green", "blue", "dark blue"];
  const grammar = await e.compileGrammar({ kind: "choices", choices });
  const r = await e.complete({ prompt: "colour", n: 4, params: { temperature: 1, seed: 2, maxNewTokens: 20 }, grammar });
  for (const s of r.samples) assert.ok(choices.includes(s.text), s.text);
});

test("bad schema, regex and grammar are GrammarErrors naming the problem; the compiler keeps working", async () => {
  const e = await engine();
  const bad: [Parameters<Engine["compileGrammar"]>[0], RegExp][] = [
    [{ kind: "json_schema", schema: { type: "integr" } }, /integr/],
    [{ kind: "json_schema", schema: "{not json" }, /not valid JSON/],
    [{ kind: "regex", pattern: "a(b" }, /parenthesis/],
    [{ kind: "ebnf", grammar: 'root ::= "a" missing' }, /missing/],
    [{ kind: "choices", choices: [] }, /non-empty/],
    // schemas that admit nothing (xgrammar's converter would let anything through)
    [{ kind: "json_schema", schema: false }, /allows no value/],
    [{ kind: "json_schema", schema: { not: {} } }, /allows no value/],
    [{ kind: "json_schema", schema: { enum: [] } }, /allows no value/],
    [{ kind: "json_schema", schema: { anyOf: [] } }, /allows no value/],
  ];
  for (const [spec, msg] of bad) {
    await assert.rejects(e.compileGrammar(spec), (err: unknown) => err instanceof GrammarError && msg.test(err.message));
    // the same bad spec again: the cached error, not another abort
    await assert.rejects(e.compileGrammar(spec), GrammarError);
  }
  // xgrammar aborts its WebAssembly instance on each bad spec; many in a row must not wear it out
  for (let i = 0; i < 40; i++) await assert.rejects(e.compileGrammar({ kind: "regex", pattern: `(x${i}` }), GrammarError);
  const grammar = await e.compileGrammar({ kind: "regex", pattern: "ok[0-9]" });
  const r = await e.complete({ prompt: "x", params: { temperature: 1, seed: 1, maxNewTokens: 10 }, grammar });
  assert.match(r.samples[0]!.text, /^ok[0-9]$/);
});

test("a compiled grammar is cached per spec", async () => {
  const e = await engine();
  const a = await e.compileGrammar({ kind: "json_schema", schema: SCHEMAS.person! });
  const b = await e.compileGrammar({ kind: "json_schema", schema: JSON.stringify(SCHEMAS.person) });
  assert.equal(a, b);
});

for (const [label, backend] of [["reference", referenceBackend], ["native", nativeOrNull()]] as const) {
  test(`cache transparency (${label} backend): constrained samples are the same with the radix cache off, alone or batched, any prefill chunk`,
    { skip: backend ? false : "the native addon did not build" }, async () => {
      const m = await model();
      const mk = (opts: { disableRadixCache?: boolean; chunkedPrefillSize?: number }): Promise<Engine> =>
        Engine.create({ model: m, backend: backend!, maxTotalTokens: 8192, checkInvariants: true, ...opts });
      const specs = [SCHEMAS.person!, SCHEMAS.refs!, SCHEMAS.union!];
      const system = "You answer in JSON. ".repeat(6);
      const run = async (e: Engine, concurrent: boolean): Promise<unknown[]> => {
        const grammars = await Promise.all(specs.map((schema) => e.compileGrammar({ kind: "json_schema", schema })));
        const inputs = Array.from({ length: 6 }, (_, i) => ({
          prompt: `${system}Request ${i % 3}:`, n: i === 0 ? 2 : 1, jumpForward: i % 2 === 0,
          params: { temperature: 1, seed: 40 + i, maxNewTokens: 200, logprobs: true, topLogprobs: 1 }, grammar: grammars[i % 3]!,
        }));
        const one = async (x: (typeof inputs)[number]): Promise<unknown> =>
          (await e.complete(x)).samples.map((s) => ({ t: s.tokenIds, l: s.logprobs, r: s.finishReason }));
        if (concurrent) return Promise.all(inputs.map(one));
        const out: unknown[] = [];
        for (const x of inputs) out.push(await one(x));
        return out;
      };
      const a = await mk({});
      const b = await mk({ disableRadixCache: true, chunkedPrefillSize: 7 });
      try {
        const batched = await run(a, true);
        const alone = await run(b, false);
        assert.deepEqual(batched, alone);
        a.checkAccounting();
      } finally {
        await a.close();
        await b.close();
      }
    });
}

test("a forced tool call in each format parses back into a valid call of the given schema", async () => {
  const e = await engine();
  const params = { type: "object", properties: { city: { type: "string", maxLength: 8 }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"], additionalProperties: false };
  const tools = [
    { type: "function" as const, function: { name: "forecast", parameters: params } },
    { type: "function" as const, function: { name: "noop", parameters: { type: "object", properties: {}, additionalProperties: false } } },
  ];
  const names = new Set(tools.map((t) => t.function.name));
  const valid = validator(params);
  for (const format of ["hermes", "llama3", "mistral"] as const) {
    const grammar = await e.compileGrammar(toolCallGrammar(format, [tools[0]!]));
    const r = await e.complete({ prompt: "call", n: 2, params: { temperature: 1, seed: 8, maxNewTokens: 200 }, grammar });
    for (const s of r.samples) {
      assert.equal(s.finishReason, "stop", `${format}: ${s.text}`);
      const parsed = parseToolCalls(format, s.text, names);
      assert.equal(parsed.calls.length, 1, `${format}: ${s.text}`);
      assert.equal(parsed.calls[0]!.name, "forecast");
      assert.ok(valid(JSON.parse(parsed.calls[0]!.arguments)), `${format}: ${s.text}`);
    }
  }
});

test("grammarAfter: the grammar waits for the end of a reasoning model's thinking; the tokens before are free", async () => {
  const e = await engine();
  const grammar = await e.compileGrammar({ kind: "choices", choices: ["yes", "no"] });
  // A token the grammar never allows first stands for </think>, pushed to the front by a bias.
  const think = e.model.tokenizer.encode("z", { addSpecial: false })[0]!;
  const params = { temperature: 0, maxNewTokens: 12, logitBias: { [think]: 100 } };
  const waited = await e.complete({ prompt: "Answer:", params, grammar, grammarAfter: [think] });
  const t = waited.samples[0]!.text;
  assert.ok(t.startsWith("z"), t);
  assert.ok(["yes", "no"].includes(t.slice(1)), t);
  assert.equal(waited.samples[0]!.finishReason, "stop");
  // Without it the grammar holds from the first token: the biased token is never allowed.
  const at = await e.complete({ prompt: "Answer:", params, grammar });
  assert.ok(["yes", "no"].includes(at.samples[0]!.text), at.samples[0]!.text);
  await assert.rejects(e.complete({ prompt: "x", params, grammar, grammarAfter: [1 << 30] }), /grammarAfter has token id/);
});
