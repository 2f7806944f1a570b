import { test } from "node:test";
import assert from "node:assert/strict";
import { program, localEngine, endpoint, LangError, type LangBackend } from "../../src/lang/index.js";
import { model, start } from "../server/harness.js";
import { withEngine, words } from "./setup.js";

/** A program that uses everything: roles, appends, gens, streaming, fork, select. */
const everything = program(async (s, topic: string) => {
  s.system("You write short notes.");
  s.user(`Topic: ${topic}. ${words(25)}`);
  const streamed: string[] = [];
  await s.assistant(async (a) => {
    a.append("Title: ");
    const g = a.gen("title", { maxTokens: 8, ignoreEos: true });
    for await (const c of g) streamed.push(c);
    a.append("\nMood: ");
    await a.select("mood", ["happy", "sad", "calm and quiet"]);
  });
  const forks = s.fork(3);
  await Promise.all(forks.map(async (f, i) => {
    f.user(`Idea ${i}?`);
    await f.assistant(async (a) => {
      await a.gen("idea", { maxTokens: 6, stop: ["\n"] });
    });
    s.set(`idea${i}`, f.get("idea"));
  }));
  return streamed.join("");
});

test("the same program gives the same result through localEngine and endpoint under greedy decoding", async () => {
  const srv = await start();
  try {
    const template = (await model()).chatTemplate!;
    await withEngine(async (engine) => {
      const backends: LangBackend[] = [localEngine(engine), endpoint(srv.url, { chatTemplate: template })];
      const topics = ["rivers", "tea", "small robots"];
      const results = await Promise.all(backends.map((backend) => everything.runBatch(topics, { backend, concurrency: 2 })));
      const [local, remote] = results as [typeof results[0], typeof results[0]];
      for (let i = 0; i < topics.length; i++) {
        assert.equal(remote[i]!.text, local[i]!.text, `topic ${i}`);
        assert.deepEqual(remote[i]!.vars, local[i]!.vars);
        assert.equal(remote[i]!.value, local[i]!.vars.title, "the streamed chunks add up to the title");
        assert.deepEqual(remote[i]!.messages, local[i]!.messages);
        assert.equal(remote[i]!.usage.requests, local[i]!.usage.requests);
        assert.equal(remote[i]!.usage.promptTokens, local[i]!.usage.promptTokens);
      }
      // The forks' shared prefix shows up as cached tokens through the server too.
      assert.ok(remote.every((r) => r.usage.cachedTokens > 0 && r.usage.cacheHitRate > 0.3), JSON.stringify(remote.map((r) => r.usage)));
    });
  } finally {
    await srv.close();
  }
});

test("endpoint: the API key is sent, a wrong one fails clearly; the server's chat template renders role turns", async () => {
  const srv = await start({}, { apiKey: "sekret" });
  try {
    const plain = program(async (s) => {
      s.append(words(8));
      return s.gen("x", { maxTokens: 3, ignoreEos: true });
    });
    const ok = await plain.run(undefined, { backend: endpoint(`${srv.url}/`, { apiKey: "sekret" }) });
    assert.equal(ok.state.info("x")!.usage.completionTokens, 3);
    await assert.rejects(plain.run(undefined, { backend: endpoint(srv.url, { apiKey: "wrong" }) }),
      (e: unknown) => e instanceof LangError && /answered \/get_model_info with 401: Incorrect API key provided/.test(e.message));
    // /get_model_info names the template, so role helpers need no chatTemplate option.
    const chat = program(async (s) => void s.user("hi"));
    const r = await chat.run(undefined, { backend: endpoint(srv.url, { apiKey: "sekret" }) });
    assert.match(r.state.text, /hi/);
    assert.notEqual(r.state.text, "hi", "the user turn is wrapped by the template");
  } finally {
    await srv.close();
  }
});

test("endpoint: a server that goes away mid-gen, or is not there, rejects the run with a clear error", async () => {
  const srv = await start();
  const backend = endpoint(srv.url);
  let gone: Promise<void> | null = null;
  const p = program(async (s) => {
    s.append(words(20));
    const [a, b] = s.fork(2);
    await Promise.all([a!, b!].map(async (f) => {
      for await (const _c of f.gen("long", { maxTokens: 1500, ignoreEos: true })) gone ??= srv.close();
    }));
  });
  await assert.rejects(p.run(undefined, { backend }), (e: unknown) => {
    assert.ok(e instanceof LangError, String(e));
    assert.match(e.message, /^gen "long"/);
    return true;
  });
  await gone;
  assert.equal(srv.engine.stats().running, 0);
  await assert.rejects(p.run(undefined, { backend: endpoint(srv.url) }), /cannot reach the radixlm server at http:\/\/127\.0\.0\.1:\d+/);
});
