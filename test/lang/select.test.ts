import { test } from "node:test";
import assert from "node:assert/strict";
import { program, localEngine } from "../../src/lang/index.js";
import { withEngine, words } from "./setup.js";

test("select picks the option the model finds most likely, scored as the model's own next-token logprobs", async () => {
  await withEngine(async (engine) => {
    const tok = engine.model.tokenizer;
    const encode = (t: string): number[] => tok.encode(t, { addSpecial: true, parseSpecial: true });
    const question = `Pick a word. ${words(12)}`;
    const probe = program(async (s) => {
      s.user(question);
      s.beginRole("assistant");
    });
    const prefix = (await probe.run(undefined, { backend: localEngine(engine) })).text;
    // The model's own distribution of the next token, from the sampler's top logprobs.
    const r = await engine.complete({ prompt: prefix, params: { maxNewTokens: 1, temperature: 0, logprobs: true, topLogprobs: 20 } });
    const top = r.samples[0]!.logprobs[0]!.topLogprobs!;
    const prefixIds = encode(prefix);
    // Single-token options that tokenize as themselves after the prefix.
    const singles = top.map((t) => ({ ...t, text: tok.decode([t.token]) })).filter((t) => {
      if (t.text.trim() === "" || tok.isSpecial(t.token)) return false;
      const ids = encode(prefix + t.text);
      return ids.length === prefixIds.length + 1 && ids[ids.length - 1] === t.token;
    });
    assert.ok(singles.length >= 4, `only ${singles.length} usable candidates`);
    const best = singles.reduce((a, b) => (b.logprob > a.logprob ? b : a));
    const others = singles.filter((t) => t !== best).slice(-3);
    const options = [others[0]!, others[1]!, best, others[2]!];

    const pick = program(async (s) => {
      s.user(question);
      await s.assistant(async (a) => {
        await a.select("word", options.map((o) => o.text));
      });
    });
    const out = await pick.run(undefined, { backend: localEngine(engine) });
    assert.equal(out.vars.word, best.text);
    const scores = out.state.info("word")!.scores!;
    options.forEach((o, i) => assert.ok(Math.abs(scores[i]! - o.logprob) < 1e-3, `option ${i}: score ${scores[i]}, model ${o.logprob}`));
    // The choice is written into the turn like any text.
    assert.deepEqual(out.messages.at(-1), { role: "assistant", content: best.text });
  });
});

test("select over multi-token options: the sum picks the likeliest, mean the best per token", async () => {
  await withEngine(async (engine) => {
    const options = ["yes", "no", "maybe so, with a long tail of words", "kilo lima"];
    const p = program(async (s, method: "sum" | "mean") => {
      s.append(`${words(30)}\nAnswer: `);
      const choice = await s.select("a", options, { method });
      s.append("\nReason: ");
      await s.gen("why", { maxTokens: 4, ignoreEos: true });
      return choice;
    });
    const backend = localEngine(engine);
    for (const method of ["sum", "mean"] as const) {
      const r = await p.run(method, { backend });
      const scores = r.state.info("a")!.scores!;
      const tokens = r.state.info("a")!.scoredTokens!;
      // Each option's own tokens: those of prefix + option past the prefix's.
      const prefix = r.text.slice(0, r.text.indexOf("Answer: ") + "Answer: ".length);
      const encode = (t: string): number[] => engine.model.tokenizer.encode(t, { addSpecial: true, parseSpecial: true });
      const lcp = (a: number[], b: number[]): number => {
        let i = 0;
        while (a[i] === b[i]) i++;
        return i;
      };
      assert.deepEqual(tokens, options.map((o) => encode(prefix + o).length - lcp(encode(prefix), encode(prefix + o))));
      const value = (i: number): number => (method === "sum" ? scores[i]! : scores[i]! / tokens[i]!);
      const want = options.reduce((bi, _o, i) => (value(i) > value(bi) ? i : bi), 0);
      assert.equal(r.value, options[want], `${method}: scores ${scores}`);
      assert.ok(scores.every((x) => Number.isFinite(x) && x < 0));
      assert.ok(r.text.includes(`Answer: ${r.value}\nReason: ${r.vars.why}`));
    }
  });
});
