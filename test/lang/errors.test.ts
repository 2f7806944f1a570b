import { test } from "node:test";
import assert from "node:assert/strict";
import { program, localEngine, LangError } from "../../src/lang/index.js";
import { withEngine, words } from "./setup.js";

test("a failing gen rejects the run with a clear error, and the other branches' requests are released", async () => {
  await withEngine(async (engine) => {
    let started = 0;
    const p = program(async (s) => {
      s.append(words(40));
      const forks = s.fork(3);
      await Promise.all(forks.map(async (f, i) => {
        if (i === 2) {
          // Let the others get going first.
          for (let t = 0; started < 2 && t < 1000; t++) await new Promise((r) => setTimeout(r, 5));
          await f.gen("bad", { maxTokens: 4, temperature: -1 });
          return;
        }
        const g = f.gen("long", { maxTokens: 1500, ignoreEos: true });
        for await (const _c of g) started = Math.max(started, i + 1);
      }));
    });
    await assert.rejects(p.run(undefined, { backend: localEngine(engine) }), (e: unknown) => {
      assert.ok(e instanceof LangError);
      assert.match(e.message, /^gen "bad" failed: the engine refused the request: temperature must be a finite number >= 0, got -1/);
      return true;
    });
    // Nothing the program started is left running.
    const st = engine.stats();
    assert.equal(st.running, 0);
    assert.equal(st.queued, 0);
    assert.equal(st.protectedTokens, 0);
    engine.checkAccounting();
    assert.ok(st.generatedTokensTotal < 2 * 1500);
  });
});

test("an aborted run rejects and leaves nothing in flight", async () => {
  await withEngine(async (engine) => {
    const ac = new AbortController();
    const p = program(async (s) => {
      s.append(words(30));
      const [a, b] = s.fork(2);
      await Promise.all([a!, b!].map(async (f) => {
        for await (const _c of f.gen("x", { maxTokens: 1500, ignoreEos: true })) ac.abort();
      }));
    });
    await assert.rejects(p.run(undefined, { backend: localEngine(engine), signal: ac.signal }), (e: unknown) => {
      assert.ok(e instanceof LangError);
      assert.match(e.message, /gen "x": the program was aborted/);
      return true;
    });
    assert.equal(engine.stats().running, 0);
    assert.equal(engine.stats().protectedTokens, 0);
    engine.checkAccounting();
    await assert.rejects(p.run(undefined, { backend: localEngine(engine), signal: ac.signal }), /aborted before it started/);
  });
});

test("an error thrown by the program itself rejects the run as is, after releasing its requests", async () => {
  await withEngine(async (engine) => {
    const p = program(async (s) => {
      s.append(words(30));
      // Started, never awaited.
      void s.fork(1)[0]!.gen("orphan", { maxTokens: 1500, ignoreEos: true });
      throw new RangeError("the program's own mistake");
    });
    await assert.rejects(p.run(undefined, { backend: localEngine(engine) }), (e: unknown) => e instanceof RangeError && e.message === "the program's own mistake");
    assert.equal(engine.stats().running, 0);
    engine.checkAccounting();
  });
});

test("bad calls fail clearly: role misuse, bad fork and select arguments, a prompt over the limit", async () => {
  await withEngine(async (engine) => {
    const backend = localEngine(engine);
    const run = (fn: Parameters<typeof program>[0]) => program(fn).run(undefined, { backend });
    await assert.rejects(run(async (s) => {
      s.beginRole("user");
      s.beginRole("assistant");
    }), /cannot open a assistant turn inside the open user turn/);
    await assert.rejects(run(async (s) => void s.endRole()), /endRole: no turn is open/);
    await assert.rejects(run(async (s) => void s.fork(0)), /fork: n must be an integer >= 1, got 0/);
    await assert.rejects(run(async (s) => void await s.select("c", [])), /select "c": give at least one option/);
    await assert.rejects(run(async (s) => {
      s.append(words(10));
      await s.gen("x", { maxTokens: 100_000 });
    }), /gen "x" failed: the engine refused the request: prompt \(\d+ tokens\) \+ max tokens \(100000\) exceeds the limit/);
    assert.equal(engine.stats().running, 0);
  });
});

test("runBatch: the first failing input rejects the batch, names the input, and the other runs are released", async () => {
  await withEngine(async (engine) => {
    const p = program(async (s, i: number) => {
      s.append(`${words(20)} ${i}`);
      await s.gen("x", i === 3 ? { maxTokens: 4, topP: 0 } : { maxTokens: 1500, ignoreEos: true });
    });
    await assert.rejects(p.runBatch([0, 1, 2, 3, 4, 5], { backend: localEngine(engine), concurrency: 4 }),
      (e: unknown) => e instanceof LangError && /^runBatch: input 3 failed: gen "x" failed: the engine refused the request: top_p must be in \(0, 1\], got 0/.test(e.message));
    assert.equal(engine.stats().running, 0);
    assert.equal(engine.stats().queued, 0);
    assert.ok(engine.stats().generatedTokensTotal < 3 * 1500);
    engine.checkAccounting();
  });
});
