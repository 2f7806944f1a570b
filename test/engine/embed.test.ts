// Engine.embed and Engine.rerank on generated models: pooling as the files declare it, the
// same bits alone or batched, cached or not, in any chunking, on both backends; prefix reuse;
// headless embedding models; rerankers by classifier head and by yes/no logits.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { InputError } from "../../src/engine/input.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { nativeBackend, runnerAddon } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { testModel, yesNoTokenizer } from "../helpers/models.js";
import { TEST_RERANK_TEMPLATE } from "../../src/model/test-embedding.js";

const addon = runnerAddon();
const native = (): Backend => (addon ? nativeBackend(addon, 2) : referenceBackend);

const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

async function engine(model: LoadedModel, opts: Partial<Omit<EngineOptions, "model">> = {}): Promise<Engine> {
  const e = await Engine.create({ model, backend: native(), maxTotalTokens: 4096, checkInvariants: true, ...opts });
  engines.push(e);
  return e;
}

const plainModel = testModel("embed-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 11 }).then(loadModel);
const yesNoModel = testModel("rerank-llama", { arch: "llama", format: "hf", dtype: "f32", seed: 16, tokenizer: yesNoTokenizer() }).then(loadModel);
const meanModel = testModel("embed-mean-hf", { arch: "qwen3", format: "hf", dtype: "f32", seed: 12, embedding: { pooling: "mean" } }).then(loadModel);

const texts = [
  "The quick brown fox jumps over the lazy dog.",
  "A cat sat on the mat and looked at the sky.",
  "The quick brown fox jumps over the lazy cat!",
  "Numbers: 1 2 3 4 5 6 7 8 9 10 11 12",
];

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s / (norm(a) * norm(b));
}

const bits = (v: Float32Array): number[] => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

describe("Engine.embed", () => {
  test("a plain causal LM embeds by its last token, normalized", async () => {
    const m = await plainModel;
    assert.equal(m.embedding.pooling.type, "last");
    assert.equal(m.embedding.pooling.declared, false);
    const e = await engine(m);
    const r = await e.embed(texts);
    assert.equal(r.embeddings.length, texts.length);
    for (const v of r.embeddings) {
      assert.equal(v.length, m.config.hiddenSize);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    }
    const ids = texts.map((t) => m.tokenizer.encode(t, { addSpecial: true, parseSpecial: true }));
    assert.equal(r.promptTokens, ids.reduce((a, x) => a + x.length, 0));
    // Token ids give the same vector as their text.
    const byIds = await e.embed([ids[1]!]);
    assert.deepEqual(bits(byIds.embeddings[0]!), bits(r.embeddings[1]!));
  });

  test("a vector is the same bits alone or batched, cached or not, in any chunking, on any thread count", async () => {
    const m = await plainModel;
    const batched = (await (await engine(m)).embed(texts)).embeddings.map(bits);
    const fresh = await engine(m, { disableRadixCache: true, chunkedPrefillSize: 3 });
    for (const [i, t] of texts.entries()) assert.deepEqual(bits((await fresh.embed([t])).embeddings[0]!), batched[i], `alone, uncached, chunks of 3: ${i}`);
    const warm = await engine(m, { chunkedPrefillSize: 5, backend: addon ? nativeBackend(addon, 1) : referenceBackend });
    await warm.embed(texts);
    const again = await warm.embed([...texts].reverse());
    assert.ok(again.cachedTokens > 0, "the second call reuses the cached prompts");
    assert.deepEqual(again.embeddings.map(bits).reverse(), batched);
  });

  test("a shared instruction prefix is computed once", async () => {
    const m = await plainModel;
    const e = await engine(m);
    const prefix = "Instruct: Given a web search query, retrieve relevant passages that answer the query. Query: ";
    await e.embed([prefix + "what is a fox"]);
    const r = await e.embed([prefix + "why is the sky blue", prefix + "how do cats sleep"]);
    const shared = m.tokenizer.encode(prefix, { addSpecial: true, parseSpecial: true }).length;
    assert.ok(r.cachedTokens >= 2 * (shared - 2), `cached ${r.cachedTokens} of a ${shared}-token prefix twice`);
  });

  test("the native forward's hidden rows equal the reference backend's", { skip: addon ? false : "no native addon" }, async () => {
    const m = await plainModel;
    const a = await (await engine(m)).embed(texts, { normalize: false });
    const b = await (await engine(m, { backend: referenceBackend })).embed(texts, { normalize: false });
    for (let i = 0; i < texts.length; i++) {
      const x = a.embeddings[i]!;
      const y = b.embeddings[i]!;
      for (let j = 0; j < x.length; j++) assert.ok(Math.abs(x[j]! - y[j]!) <= 1e-3 * (1 + Math.abs(y[j]!)), `text ${i} [${j}]: ${x[j]} vs ${y[j]}`);
    }
  });

  test("mean pooling (sentence-transformers modules.json) is the mean of every position's hidden state", async () => {
    const m = await meanModel;
    assert.deepEqual(m.embedding.pooling, { type: "mean", normalize: true, declared: true });
    const e = await engine(m);
    const ids = m.tokenizer.encode(texts[0]!, { addSpecial: true, parseSpecial: true });
    const mean = (await e.embed([ids], { normalize: false })).embeddings[0]!;
    // Position p's hidden state is the last-token pool of the first p + 1 tokens.
    const rows = (await e.embed(ids.map((_, p) => ids.slice(0, p + 1)), { pooling: "last", normalize: false })).embeddings;
    const sum = new Float64Array(m.config.hiddenSize);
    for (const r of rows) for (let j = 0; j < sum.length; j++) sum[j]! += r[j]!;
    assert.deepEqual(bits(mean), bits(Float32Array.from(sum, (v) => v / ids.length)));
    // A mean pool computes every row (the cache keeps no hidden states): chunks and batches change nothing.
    const other = await engine(m, { chunkedPrefillSize: 4 });
    assert.deepEqual(bits((await other.embed([texts[1]!, ids], { normalize: false })).embeddings[1]!), bits(mean));
  });

  test("texts that share most tokens are closer under mean pooling than unrelated ones", async () => {
    const m = await meanModel;
    const e = await engine(m);
    const base = "The committee met on Tuesday to discuss the budget for the new library and the park";
    const [a, b, c] = (await e.embed([base + " in spring.", base + " in autumn.", "Numbers: 7 7 7 9 9 9 1 1 1 zebra quartz"])).embeddings;
    assert.ok(cosine(a!, b!) > cosine(a!, c!), `${cosine(a!, b!)} vs ${cosine(a!, c!)}`);
    assert.ok(cosine(a!, b!) > cosine(b!, c!));
    assert.ok(Math.abs(cosine(a!, a!) - 1) < 1e-6);
  });

  test("CLS pooling takes the first token's hidden state", async () => {
    const m = await loadModel(await testModel("embed-cls-hf", { arch: "llama", format: "hf", dtype: "f32", seed: 13, embedding: { pooling: "cls", normalize: false } }));
    assert.deepEqual(m.embedding.pooling, { type: "cls", normalize: false, declared: true });
    const e = await engine(m);
    const ids = m.tokenizer.encode(texts[2]!, { addSpecial: true, parseSpecial: true });
    const [cls, first] = (await e.embed([ids, ids.slice(0, 1)], { pooling: undefined })).embeddings;
    const firstLast = (await e.embed([ids.slice(0, 1)], { pooling: "last" })).embeddings[0]!;
    assert.deepEqual(bits(cls!), bits(first!));
    assert.deepEqual(bits(cls!), bits(firstLast));
  });

  test("a bare backbone without an LM head (Qwen3-Embedding's form) embeds and refuses to generate", async () => {
    const m = await loadModel(await testModel("embed-bare-hf", { arch: "qwen3", format: "hf", dtype: "f32", seed: 14, embedding: { pooling: "last", bare: true, matryoshka: true } }));
    assert.equal(m.headless, true);
    const e = await engine(m);
    const r = await e.embed(texts.slice(0, 2));
    assert.ok(Math.abs(norm(r.embeddings[0]!) - 1) < 1e-5);
    await assert.rejects(e.complete({ prompt: "hello" }), (err: unknown) => err instanceof InputError && /no language-model head/.test(err.message));
    // Matryoshka: the first components, normalized.
    const full = (await e.embed([texts[0]!], { normalize: false })).embeddings[0]!;
    const cut = (await e.embed([texts[0]!], { dimensions: 8 })).embeddings[0]!;
    assert.equal(cut.length, 8);
    const head = full.slice(0, 8);
    for (let j = 0; j < 8; j++) assert.ok(Math.abs(cut[j]! - head[j]! / norm(head)) < 1e-6);
    await assert.rejects(e.embed(["x"], { dimensions: 0 }), (err: unknown) => err instanceof InputError && err.param === "dimensions");
  });

  test("dimensions on a model not trained for truncation, too many inputs, and bad ids are refused", async () => {
    const e = await engine(await plainModel);
    await assert.rejects(e.embed(["x"], { dimensions: 8 }), (err: unknown) => err instanceof InputError && /Matryoshka/.test(err.message));
    await assert.rejects(e.embed([]), (err: unknown) => err instanceof InputError && err.param === "input");
    await assert.rejects(e.embed(new Array<string>(1025).fill("a")), (err: unknown) => err instanceof InputError && /1024/.test(err.message));
    await assert.rejects(e.embed([[1, 2, 1e9]]), (err: unknown) => err instanceof InputError);
    assert.equal(e.inflight, 0);
  });
});

describe("Engine.rerank", () => {
  test("a rank GGUF scores by its classifier head: P(yes) of its yes/no rows, on its own prompt", async () => {
    const m = await loadModel(await testModel("rerank-gguf", { arch: "qwen3", format: "gguf", dtype: "f32", seed: 15, tokenizer: yesNoTokenizer(), embedding: { pooling: "rank" } }));
    assert.deepEqual(m.embedding.classifier?.labels, ["yes", "no"]);
    assert.equal(m.embedding.rerankTemplate, TEST_RERANK_TEMPLATE);
    const e = await engine(m);
    const docs = ["The fox is quick.", "Paris is in France.", "Dogs are lazy sometimes."];
    const r = await e.rerank("Which animal is quick?", docs);
    assert.equal(r.scores.length, 3);
    for (const s of r.scores) assert.ok(s > 0 && s < 1);
    // The same model's "yes" and "no" logits on the same prompt give the same score.
    const yes = m.tokenizer.encode("yes", { addSpecial: false })[0]!;
    const no = m.tokenizer.encode("no", { addSpecial: false })[0]!;
    for (const [i, d] of docs.entries()) {
      const prompt = TEST_RERANK_TEMPLATE.replace("{query}", "Which animal is quick?").replace("{document}", d);
      const ids = m.tokenizer.encode(prompt, { addSpecial: true, parseSpecial: true });
      const res = await e.submit([{ inputIds: ids, pool: { type: "last", logitIds: [yes, no] } }]).result();
      const l = res.samples[0]!.pooled!.logits!;
      const p = 1 / (1 + Math.exp(l[1]! - l[0]!));
      assert.ok(Math.abs(p - r.scores[i]!) < 1e-4, `${p} vs ${r.scores[i]}`);
    }
    // The query's prompt prefix is shared by every document: computed once.
    const again = await e.rerank("Which animal is quick?", ["Cats nap."]);
    assert.ok(again.cachedTokens > 20);
  });

  test("a causal LM is asked yes or no in its chat template; the documents' order does not change a score", async () => {
    const m = await yesNoModel;
    const e = await engine(m);
    const docs = ["The fox is quick.", "Paris is in France.", "Dogs are lazy sometimes.", "Quick foxes run."];
    const a = await e.rerank("Which animal is quick?", docs);
    for (const s of a.scores) assert.ok(s > 0 && s < 1);
    const b = await (await engine(m, { disableRadixCache: true })).rerank("Which animal is quick?", [...docs].reverse());
    assert.deepEqual(b.scores.reverse(), a.scores);
    assert.ok(a.cachedTokens > 0, "the documents share the query's prompt");
  });

  test("a model whose vocabulary has no single-token yes and no cannot rerank", async () => {
    const e = await engine(await plainModel);
    await assert.rejects(e.rerank("q", ["d"]), (err: unknown) => err instanceof InputError && /cannot rerank/.test(err.message));
  });
});
