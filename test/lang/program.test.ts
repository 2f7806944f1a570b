import { test } from "node:test";
import assert from "node:assert/strict";
import { program, localEngine, LangError, type ProgramState } from "../../src/lang/index.js";
import { template, withEngine, words } from "./setup.js";

test("the prompt accumulates role turns as the chat template renders them, gens inside a turn included", async () => {
  await withEngine(async (engine) => {
    const chat = program(async (s, question: string) => {
      s.system("You answer in one word.");
      s.user(question);
      await s.assistant(async (a) => {
        a.append("Answer: ");
        await a.gen("answer", { maxTokens: 6 });
        a.append(" (sure)");
      });
      s.user("And why?");
      await s.assistant(async (a) => {
        await a.gen("why", { maxTokens: 5 });
      });
      s.append("free text after the turns");
    });
    const r = await chat.run("What colour is the sky?", { backend: localEngine(engine) });
    const t = await template();
    const answer = r.state.get("answer");
    const why = r.state.get("why");
    assert.deepEqual(r.messages, [
      { role: "system", content: "You answer in one word." },
      { role: "user", content: "What colour is the sky?" },
      { role: "assistant", content: `Answer: ${answer} (sure)` },
      { role: "user", content: "And why?" },
      { role: "assistant", content: why },
    ]);
    assert.equal(r.text, t.render(r.messages) + "free text after the turns");
    // The first gen's prompt: the conversation so far, the open assistant turn's header and the appended text.
    const firstPrompt = t.render(r.messages.slice(0, 2), { addGenerationPrompt: true }) + "Answer: ";
    const ids = engine.model.tokenizer.encode(firstPrompt, { addSpecial: true, parseSpecial: true });
    assert.equal(r.state.info("answer")!.usage.promptTokens, ids.length);
    assert.equal(r.usage.requests, 2);
  });
});

test("captured variables: get, vars, info, set; a missing one is a clear error", async () => {
  await withEngine(async (engine) => {
    const p = program(async (s) => {
      s.append("Name three letters: ");
      const a = await s.gen("first", { maxTokens: 4, ignoreEos: true });
      s.append("\nAnd more: ");
      await s.gen("second", { maxTokens: 3, ignoreEos: true });
      s.set("note", "kept");
      return a;
    });
    const r = await p.run(undefined, { backend: localEngine(engine) });
    assert.equal(r.value, r.vars.first);
    assert.deepEqual(Object.keys(r.vars), ["first", "second", "note"]);
    assert.equal(r.text, `Name three letters: ${r.vars.first}\nAnd more: ${r.vars.second}`);
    assert.equal(r.state.info("second")!.finishReason, "length");
    assert.equal(r.state.info("second")!.usage.completionTokens, 3);
    assert.throws(() => r.state.get("third"), (e: unknown) => e instanceof LangError && /no variable "third" \(captured: first, second, note\)/.test(e.message));
    // The run is over: its state takes no more calls.
    assert.throws(() => r.state.append("x"), /the program has finished/);
  });
});

test("a gen streams its text; the chunks add up to the awaited text", async () => {
  await withEngine(async (engine) => {
    const chunks: string[] = [];
    const p = program(async (s) => {
      s.append(words(20));
      const g = s.gen("story", { maxTokens: 12, ignoreEos: true });
      assert.throws(() => s.append("too early"), /still running gen "story"; await it first/);
      for await (const c of g) chunks.push(c);
      return await g;
    });
    const r = await p.run(undefined, { backend: localEngine(engine) });
    assert.ok(chunks.length > 1, `expected several chunks, got ${chunks.length}`);
    assert.equal(chunks.join(""), r.value);
    assert.equal(r.vars.story, r.value);
  });
});

test("fork: branches share the prefix (the engine's hit tokens show it) and run concurrently", async () => {
  await withEngine(async (engine) => {
    const n = 4;
    const prefix = words(150);
    const firstChunkAt: number[] = [];
    const finishedAt: number[] = [];
    let clock = 0;
    const p = program(async (s) => {
      s.user(prefix);
      const forks = s.fork(n);
      await Promise.all(forks.map(async (f, i) => {
        f.append(` branch ${i}`);
        const g = f.gen("out", { maxTokens: 16, ignoreEos: true });
        for await (const _c of g) firstChunkAt[i] ??= clock++;
        finishedAt[i] = clock++;
        s.set(`out${i}`, await g);
      }));
    });
    const before = engine.stats();
    const r = await p.run(undefined, { backend: localEngine(engine) });
    const after = engine.stats();
    const sharedTokens = engine.model.tokenizer.encode(prefixText(r.text), { addSpecial: true, parseSpecial: true }).length;
    assert.ok(sharedTokens > 100, `shared prefix of ${sharedTokens} tokens`);
    // The warm-up computes the prefix once; each branch finds all but its last token or so in the cache.
    const hits = after.hitTokens - before.hitTokens;
    assert.ok(hits >= n * (sharedTokens - 2), `hit tokens ${hits}, want >= ${n} x ${sharedTokens - 2}`);
    assert.ok(r.usage.cachedTokens >= n * (sharedTokens - 2));
    // Every branch streamed its first text before any branch finished: they ran side by side.
    assert.ok(Math.max(...firstChunkAt) < Math.min(...finishedAt), `first chunks ${firstChunkAt}, finishes ${finishedAt}`);
    for (let i = 0; i < n; i++) assert.equal(r.vars[`out${i}`]!.length > 0, true);
  });
});

/** The text the forks share: everything before the first branch's own text. */
function prefixText(text: string): string {
  return text.slice(0, text.indexOf(" branch"));
}

test("runBatch runs many inputs, a few at a time, with the results in input order", async () => {
  await withEngine(async (engine) => {
    const p = program(async (s, topic: string) => {
      s.system("Write a title.");
      s.user(topic);
      await s.assistant(async (a) => {
        await a.gen("title", { maxTokens: 6, ignoreEos: true });
      });
      return a(s);
    });
    const a = (s: ProgramState): string => s.get("title");
    const topics = Array.from({ length: 10 }, (_, i) => `topic number ${i}: ${words(5, i + 1)}`);
    const backend = localEngine(engine);
    const batch = await p.runBatch(topics, { backend, concurrency: 4 });
    assert.equal(batch.length, topics.length);
    for (let i = 0; i < topics.length; i++) {
      const alone = await p.run(topics[i]!, { backend });
      assert.equal(batch[i]!.value, alone.value, `input ${i}`);
      assert.equal(batch[i]!.text, alone.text);
      assert.ok(batch[i]!.text.includes(topics[i]!));
    }
    // The shared system turn is served from the cache after the first requests.
    const hit = batch.reduce((sum, r) => sum + r.usage.cachedTokens, 0);
    assert.ok(hit > 0);
    await assert.rejects(p.runBatch(topics, { backend, concurrency: 0 }), /concurrency must be an integer >= 1/);
  });
});

test("defaults apply to every gen; gen options override them", async () => {
  await withEngine(async (engine) => {
    const p = program(async (s) => {
      s.append(words(10));
      await s.gen("a", { ignoreEos: true });
      await s.gen("b", { maxTokens: 2, ignoreEos: true });
    });
    const r = await p.run(undefined, { backend: localEngine(engine), defaults: { maxTokens: 5 } });
    assert.equal(r.state.info("a")!.usage.completionTokens, 5);
    assert.equal(r.state.info("b")!.usage.completionTokens, 2);
  });
});
