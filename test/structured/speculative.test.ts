// Speculative decoding under a grammar: the grammar worker gives each draft row its mask and
// cuts the draft at the first token it refuses, so constrained outputs (JSON schemas, regexes,
// EBNF, with and without jump-forward, and a grammar that waits for the end of thinking) are
// bitwise those of decoding without speculation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.js";
import { Constraint } from "../../src/structured/constraint.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { GenerateInput } from "../../src/engine/input.js";
import type { GenerateResult } from "../../src/engine/stream.js";
import type { GrammarSpec } from "../../src/structured/grammar.js";
import { testModel } from "../helpers/models.js";
import { SCHEMAS } from "./schemas.js";

let modelPromise: Promise<LoadedModel> | null = null;
function model(): Promise<LoadedModel> {
  modelPromise ??= testModel("structured-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }).then(loadModel);
  return modelPromise;
}

async function engine(speculative: "ngram" | "off"): Promise<Engine> {
  const addon = runnerAddon();
  return Engine.create({ model: await model(), backend: addon ? nativeBackend(addon, 2) : referenceBackend, maxTotalTokens: 8192, checkInvariants: true, speculative });
}

function strip(r: GenerateResult): unknown {
  return r.samples.map((s) => ({ tokens: s.tokenIds, text: s.text, logprobs: s.logprobs, reason: s.finishReason }));
}

test("constrained outputs are the same with speculation on and off: schemas, regexes, EBNF, jump-forward on and off", async () => {
  const on = await engine("ngram");
  const off = await engine("off");
  try {
    const specs: GrammarSpec[] = [
      ...Object.values(SCHEMAS).map((schema): GrammarSpec => ({ kind: "json_schema", schema })),
      { kind: "json_object" },
      { kind: "regex", pattern: "([a-z]{2,6} ){3,12}[0-9]{2}" },
      { kind: "ebnf", grammar: 'root ::= item (", " item)*\nitem ::= "abc" | "abd" | [0-9]+' },
    ];
    const inputs: GenerateInput[] = [];
    specs.forEach((spec, i) => {
      for (const jumpForward of [true, false]) {
        inputs.push({ prompt: `x ${i}`, n: 2, params: { temperature: 1, seed: 5 + i, maxNewTokens: 120, logprobs: true, topLogprobs: 2 }, grammar: spec, jumpForward });
        inputs.push({ prompt: `y ${i}`, params: { temperature: 0, maxNewTokens: 60, repetitionPenalty: 1.1 }, grammar: spec, jumpForward });
      }
    });
    const run = (e: Engine): Promise<unknown[]> => Promise.all(inputs.map(async (x) => strip(await e.complete(x))));
    const [a, b] = await Promise.all([run(on), run(off)]);
    assert.deepEqual(a, b);
    const st = on.stats();
    assert.ok(st.specAcceptedTokens > 0, `drafts under grammars were accepted (${st.specAcceptedTokens} of ${st.specDraftTokens})`);
    assert.equal(off.stats().specDraftTokens, 0);
  } finally {
    await Promise.all([on.close(), off.close()]);
  }
});

test("a grammar that waits for the end of thinking: verification stops where it wakes", async () => {
  const on = await engine("ngram");
  const off = await engine("off");
  try {
    const grammar: GrammarSpec = { kind: "choices", choices: ["yes", "no"] };
    const think = on.model.tokenizer.encode("z", { addSpecial: false })[0]!;
    // The prompt repeats "... z" so that drafts run into the token that wakes the grammar.
    const prompt = "a b z a b z a b z a b";
    for (const seed of [1, 2, 3]) {
      const input: GenerateInput = { prompt, params: { temperature: 0.8, seed, maxNewTokens: 24, logitBias: { [think]: 3 } }, grammar, grammarAfter: [think] };
      const [a, b] = await Promise.all([on.complete(input), off.complete(input)]);
      assert.deepEqual(strip(a), strip(b));
    }
  } finally {
    await Promise.all([on.close(), off.close()]);
  }
});

test("the worker cuts a draft at the first token the grammar refuses, and its masks are those of the draft's prefixes", async () => {
  const e = await engine("off");
  try {
    const grammar = await e.compileGrammar({ kind: "regex", pattern: "[0-9]{3}-[a-z]{2}" });
    const tok = e.model.tokenizer;
    const ids = (s: string): number[] => [...s].map((ch) => tok.encode(ch, { addSpecial: false })[0]!);
    const allows = (mask: Uint32Array, t: number): boolean => ((mask[t >>> 5]! >>> (t & 31)) & 1) === 1;
    const c = new Constraint(grammar);
    try {
      const [one, two, a, dash] = [ids("1")[0]!, ids("2")[0]!, ids("a")[0]!, ids("-")[0]!];
      await c.prepareDraft([one, two, a, dash]);
      assert.equal(c.draftAllowed, 2, "1 and 2 are allowed, then a letter is not");
      c.useDraftMask(0);
      assert.ok(allows(c.nextMask(), one) && !allows(c.nextMask(), a));
      c.useDraftMask(2);
      assert.ok(allows(c.nextMask(), one) && !allows(c.nextMask(), dash) && !allows(c.nextMask(), a));
      // The matcher is where it was: the draft was rolled back.
      await c.prepare();
      assert.ok(allows(c.nextMask(), one) && !allows(c.nextMask(), dash));
      c.accept(one);
      c.accept(two);
      c.accept(ids("3")[0]!);
      await c.prepareDraft([dash, a, a, one]);
      assert.equal(c.draftAllowed, 3, "-, a, a; then the pattern is complete and a digit is refused");
      c.useDraftMask(1);
      assert.ok(allows(c.nextMask(), a) && !allows(c.nextMask(), one));
    } finally {
      c.dispose();
    }
  } finally {
    await e.close();
  }
});
