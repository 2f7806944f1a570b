// /v1/embeddings and /v1/rerank through the real server: the official openai client's
// embeddings.create (base64 by default, and float), every input form, usage and cached
// prefixes, bounds as 400s, and reranking by a model's yes/no logits.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { envelope, get, post, spawnServe, start, until, type Running } from "./harness.js";
import { loadModel } from "../../src/model/load.js";
import { testModel, yesNoTokenizer } from "../helpers/models.js";

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

describe("/v1/embeddings", () => {
  let srv: Running;
  before(async () => {
    srv = await start();
  });
  after(() => srv.close());

  test("embeddings.create (the client asks for base64 and decodes it) equals Engine.embed, bit for bit", async () => {
    const r = await srv.client.embeddings.create({ model: "text-embedding-3-small", input: "The quick brown fox." });
    assert.equal(r.object, "list");
    assert.equal(r.data.length, 1);
    assert.equal(r.data[0]!.object, "embedding");
    const v = r.data[0]!.embedding;
    assert.equal(v.length, srv.engine.model.config.hiddenSize);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    const ids = srv.engine.model.tokenizer.encode("The quick brown fox.", { addSpecial: true, parseSpecial: true });
    assert.equal(r.usage.prompt_tokens, ids.length);
    assert.equal(r.usage.total_tokens, ids.length);
    const direct = (await srv.engine.embed([ids])).embeddings[0]!;
    assert.deepEqual(Float32Array.from(v), direct);
  });

  test("float encoding, lists of texts, token ids and lists of them; usage sums the inputs", async () => {
    const texts = ["alpha beta gamma", "delta", "epsilon zeta eta theta"];
    const f = await srv.client.embeddings.create({ model: "any", input: texts, encoding_format: "float" });
    assert.deepEqual(f.data.map((d) => d.index), [0, 1, 2]);
    const ids = texts.map((t) => srv.engine.model.tokenizer.encode(t, { addSpecial: true, parseSpecial: true }));
    assert.equal(f.usage.prompt_tokens, ids.reduce((a, x) => a + x.length, 0));
    const byIds = await srv.client.embeddings.create({ model: "any", input: ids, encoding_format: "float" });
    assert.deepEqual(byIds.data.map((d) => d.embedding), f.data.map((d) => d.embedding));
    const one = await post(`${srv.url}/v1/embeddings`, { input: ids[2], encoding_format: "float" });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.data[0].embedding, f.data[2]!.embedding);
    // base64 is the float32 bytes, little-endian.
    const b = await post(`${srv.url}/v1/embeddings`, { input: texts[1], encoding_format: "base64" });
    const bytes = Buffer.from(b.body.data[0].embedding as string, "base64");
    assert.deepEqual(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)), f.data[1]!.embedding);
  });

  test("a shared prefix is computed once: the second request reports cached tokens", async () => {
    const prefix = "Instruct: Given a question, retrieve passages that answer it. Query: ";
    await post(`${srv.url}/v1/embeddings`, { input: prefix + "how far is the moon" });
    const r = await post(`${srv.url}/v1/embeddings`, { input: [prefix + "why do cats purr", prefix + "what is rain"] });
    assert.equal(r.status, 200);
    assert.ok(r.body.usage.prompt_tokens_details.cached_tokens > 20, JSON.stringify(r.body.usage));
  });

  test("bad inputs are 400s naming the parameter, and the server goes on", async () => {
    const cases: [unknown, string | null, RegExp][] = [
      [{}, "input", /input/],
      [{ input: [] }, "input", /empty/],
      [{ input: [""] }, "input", /empty/],
      [{ input: new Array(1025).fill("a") }, "input", /1024/],
      [{ input: [[1, 2], [999999]] }, "input[1]", /vocabulary/],
      [{ input: [1, "a"] }, "input[0]", /string/],
      [{ input: "x", encoding_format: "int8" }, "encoding_format", /float/],
      [{ input: "x", dimensions: 8 }, "dimensions", /Matryoshka/],
      [{ input: ["short", "word ".repeat(5000)] }, "input[1]", /context|tokens/],
    ];
    for (const [body, param, msg] of cases) {
      const r = await post(`${srv.url}/v1/embeddings`, body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      const e = envelope(r.body);
      assert.equal(e.param, param, `${JSON.stringify(body).slice(0, 80)}: ${e.message}`);
      assert.match(e.message, msg);
    }
    const ok = await srv.client.embeddings.create({ model: "m", input: "still serving" });
    assert.equal(ok.data.length, 1);
    assert.equal(srv.engine.inflight, 0);
  });

  test("a model that cannot rerank answers /v1/rerank with a 400", async () => {
    const r = await post(`${srv.url}/v1/rerank`, { query: "q", documents: ["d"] });
    assert.equal(r.status, 400);
    assert.match(envelope(r.body).message, /cannot rerank/);
  });
});

describe("/v1/rerank", () => {
  let srv: Running;
  before(async () => {
    const model = await loadModel(await testModel("server-rerank", { arch: "qwen3", format: "hf", dtype: "f32", seed: 21, tokenizer: yesNoTokenizer() }));
    srv = await start({ model });
  });
  after(() => srv.close());

  const docs = ["The fox is quick.", "Paris is the capital of France.", "Dogs sleep a lot.", "Quick brown foxes run."];

  test("results sorted by relevance, with documents, usage and top_n; the scores are Engine.rerank's", async () => {
    const r = await post(`${srv.url}/v1/rerank`, { model: "reranker", query: "Which animal is quick?", documents: docs });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const results = r.body.results as { index: number; relevance_score: number; document: { text: string } }[];
    assert.equal(results.length, 4);
    for (let i = 1; i < results.length; i++) assert.ok(results[i - 1]!.relevance_score >= results[i]!.relevance_score);
    for (const x of results) {
      assert.ok(x.relevance_score > 0 && x.relevance_score < 1);
      assert.equal(x.document.text, docs[x.index]);
    }
    const direct = await srv.engine.rerank("Which animal is quick?", docs);
    for (const x of results) assert.equal(x.relevance_score, direct.scores[x.index]);
    assert.ok(r.body.usage.prompt_tokens > 0);
    const top = await post(`${srv.url}/rerank`, { query: "Which animal is quick?", documents: docs.map((text) => ({ text })), top_n: 2, return_documents: false });
    assert.equal(top.status, 200);
    assert.deepEqual(top.body.results, results.slice(0, 2).map(({ index, relevance_score }) => ({ index, relevance_score })));
  });

  test("bad rerank bodies are 400s", async () => {
    for (const body of [{ query: "q" }, { documents: ["d"] }, { query: "q", documents: [] }, { query: "q", documents: [{ txt: "d" }] }, { query: "q", documents: ["d"], top_n: 0 }]) {
      const r = await post(`${srv.url}/v1/rerank`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      envelope(r.body);
    }
  });
});

describe("radixlm serve with an embedding model", () => {
  test("a model without an LM head warms up, says how to embed, answers /health_generate, and --matryoshka allows dimensions", async () => {
    const bare = await testModel("serve-bare-embedding", { arch: "qwen3", format: "hf", dtype: "f32", seed: 22, embedding: { pooling: "last", bare: true } });
    const child = await spawnServe(["--model", bare, "--matryoshka"]);
    try {
      // The try line follows the ready line.
      assert.ok(await until(() => child.stdout.some((l) => l.includes("try:"))));
      assert.ok(child.stdout.some((l) => l.includes("try:") && l.includes("/v1/embeddings")), child.stdout.join("\n"));
      assert.equal((await get(`${child.url}/health_generate`)).status, 200);
      const r = await post(`${child.url}/v1/embeddings`, { input: "A cat sat on the mat.", dimensions: 16 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data[0].embedding.length, 16);
      const chat = await post(`${child.url}/v1/chat/completions`, { messages: [{ role: "user", content: "hi" }] });
      assert.equal(chat.status, 400);
      assert.match(envelope(chat.body).message, /no language-model head/);
    } finally {
      child.kill("SIGTERM");
      await child.exit;
    }
  });
});
