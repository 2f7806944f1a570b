import assert from "node:assert/strict";
import { test } from "node:test";
import { checkSamplingParams, DEFAULT_SAMPLING, type SamplingParams } from "../../src/sampling/params.js";
import { deriveSeed, Sampler, uniformAt, type SamplerOptions } from "../../src/sampling/sampler.js";
import { expNeg } from "../../src/sampling/logprobs.js";
import { mulberry32 } from "../../src/util/random.js";

// ---- helpers ----

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);
const params = (fields: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING, ...fields });
const sampler = (fields: Partial<SamplingParams>, opts?: SamplerOptions): Sampler => new Sampler(params(fields), opts);

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function randomLogits(n: number, rand: () => number, scale = 2, step = 0): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = gaussian(rand) * scale;
    x[i] = step > 0 ? Math.round(v / step) * step : v; // a step makes many ties
  }
  return x;
}

function softmax(x: ArrayLike<number>, t = 1): number[] {
  const xs = Array.from(x);
  const max = Math.max(...xs);
  const e = xs.map((v) => Math.exp((v - max) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Tokens sampled from one sampler, `count` times in a row (each accepted). */
function histogram(s: Sampler, logits: Float32Array, count: number): number[] {
  const h = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < count; i++) h[s.sampleToken(logits)]!++;
  return h;
}

/** Upper 0.1% point of chi-square with df degrees of freedom (Wilson-Hilferty). */
function chi2Critical(df: number): number {
  const z = 3.09;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Asserts the counts fit the probabilities: zero where p is 0, chi-square below the 0.1% point. */
function assertFits(counts: number[], p: number[], label: string): void {
  const total = counts.reduce((a, b) => a + b, 0);
  let chi2 = 0;
  let df = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) {
      assert.equal(counts[i], 0, `${label}: token ${i} has probability 0 but was drawn ${counts[i]} times`);
      continue;
    }
    const e = total * p[i]!;
    chi2 += (counts[i]! - e) ** 2 / e;
    df++;
  }
  if (df > 0) assert.ok(chi2 < chi2Critical(df), `${label}: chi2 ${chi2.toFixed(2)} >= ${chi2Critical(df).toFixed(2)} (df ${df}); counts ${counts}`);
}

/** Normalised probabilities over `keep` (others 0). */
function restricted(p: number[], keep: number[]): number[] {
  const s = keep.reduce((a, i) => a + p[i]!, 0);
  return p.map((v, i) => (keep.includes(i) ? v / s : 0));
}

/** The processed logits as the sampler sees them, up to a constant: from a full top_logprobs list. */
function processed(s: Sampler, logits: Float32Array): number[] {
  const r = s.sample(logits);
  const out = new Array<number>(logits.length).fill(-Infinity);
  for (const e of r.topLogprobs!) out[e.token] = e.logprob;
  return out;
}

function assertClose(actual: number, expected: number, tol: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${label}: ${actual} vs ${expected}`);
}

/** Checks every pair difference of processed logits against the expected logits. */
function assertProcessed(s: Sampler, logits: Float32Array, expected: number[], label: string): void {
  const lp = processed(s, logits);
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === -Infinity) {
      assert.equal(lp[i], -Infinity, `${label}: token ${i} should be excluded`);
      continue;
    }
    assertClose(lp[i]! - lp[0]!, expected[i]! - expected[0]!, 1e-5, `${label}: token ${i}`);
  }
}

/**
 * The sampler's draw computed the slow way: sort everything, cut min_p, top_k, top_p on
 * the sorted list, then walk the kept tokens in id order with the same uniform. (Same
 * weights: expNeg((logit - max) / T), tested against Math.exp below.)
 */
function referenceDraw(x: Float32Array, ranked: readonly number[], p: SamplingParams, u: number): number {
  const max = x[ranked[0]!]!;
  const invT = 1 / p.temperature;
  const zFloor = (p.minP ?? 0) > 0 ? Math.log(p.minP!) : -Infinity;
  const z = (id: number): number => (x[id]! - max) * invT;
  const w = (id: number): number => expNeg(z(id));
  let kept = ranked.filter((i) => z(i) >= zFloor);
  if (p.topK > 0) kept = kept.slice(0, p.topK);
  if (p.topP < 1) {
    const total = kept.reduce((a, id) => a + w(id), 0);
    let cum = 0;
    for (let i = 0; i < kept.length; i++) {
      cum += w(kept[i]!);
      if (cum >= p.topP * total) {
        kept = kept.slice(0, i + 1);
        break;
      }
    }
  }
  kept.sort((a, b) => a - b);
  let total = 0;
  for (const id of kept) total += w(id);
  const r = u * total;
  let acc = 0;
  let last = kept[0]!;
  for (const id of kept) {
    if (w(id) === 0) continue;
    acc += w(id);
    last = id;
    if (r < acc) return id;
  }
  return last;
}

// ---- greedy and temperature ----

test("greedy picks the largest logit, the lowest id among equal maxima, and leaves the logits alone", () => {
  const logits = f32(0.5, 3, -1, 3, 2);
  const copy = logits.slice();
  assert.equal(sampler({ temperature: 0 }).sample(logits).token, 1);
  assert.equal(sampler({ temperature: 1e-6 }).sample(logits).token, 1, "below 1e-5 is greedy");
  assert.deepEqual(logits, copy);
  assert.equal(sampler({}).sample(f32(-Infinity, -5, NaN, -5)).token, 1);
  // the legacy loop form
  const s = sampler({ temperature: 0 });
  assert.equal(s.sampleToken(logits), 1);
  assert.equal(s.generated, 1);
});

test("top_k = 1 is greedy, ties included, whatever the seed", () => {
  const rand = mulberry32(11);
  for (let trial = 0; trial < 200; trial++) {
    const x = randomLogits(1 + Math.floor(rand() * 300), rand, 1, trial % 2 ? 0.5 : 0);
    const greedy = sampler({ temperature: 0 }).sample(x).token;
    assert.equal(sampler({ temperature: 1.3, topK: 1, seed: trial }).sample(x).token, greedy);
  }
});

test("at temperature 1, 20k samples follow the softmax (chi-square)", () => {
  const logits = f32(1, 0.2, -0.5, 2, 1.5, -2, 0, 0.7);
  assertFits(histogram(sampler({ temperature: 1, seed: 42 }), logits, 20000), softmax(logits), "T=1");
  // and a larger vocabulary, through the same code path
  const big = randomLogits(64, mulberry32(5), 1);
  assertFits(histogram(sampler({ temperature: 1, seed: 7 }), big, 20000), softmax(big), "T=1, 64 tokens");
});

test("temperature scales the logits; towards 0 it becomes greedy", () => {
  const logits = f32(1, 0.2, -0.5, 2, 1.5);
  assertFits(histogram(sampler({ temperature: 2, seed: 1 }), logits, 20000), softmax(logits, 2), "T=2");
  assertFits(histogram(sampler({ temperature: 0.5, seed: 2 }), logits, 20000), softmax(logits, 0.5), "T=0.5");
  const cold = histogram(sampler({ temperature: 0.01, seed: 3 }), logits, 2000);
  assert.deepEqual(cold, [0, 0, 0, 2000, 0]);
  // equal maxima share the mass even when cold
  const tie = histogram(sampler({ temperature: 0.001, seed: 4 }), f32(0, 5, 5, 1), 4000);
  assert.equal(tie[0]! + tie[3]!, 0);
  assert.ok(tie[1]! > 1800 && tie[2]! > 1800, String(tie));
});

// ---- cuts ----

test("top_k keeps the k most likely tokens, renormalised", () => {
  const logits = f32(1, 0.2, -0.5, 2, 1.5, -2, 0, 0.7);
  const p = softmax(logits);
  assertFits(histogram(sampler({ temperature: 1, topK: 3, seed: 9 }), logits, 20000), restricted(p, [0, 3, 4]), "top_k 3");
});

test("top_p keeps the smallest head reaching the mass, and cuts the tail exactly", () => {
  const probs = [0.5, 0.25, 0.15, 0.1];
  const logits = Float32Array.from(probs, Math.log);
  // 0.5 < 0.7 <= 0.75: the first two
  assertFits(histogram(sampler({ temperature: 1, topP: 0.7, seed: 1 }), logits, 20000), restricted(probs, [0, 1]), "top_p 0.7");
  // 0.75 < 0.76 <= 0.9: three
  assertFits(histogram(sampler({ temperature: 1, topP: 0.76, seed: 2 }), logits, 20000), restricted(probs, [0, 1, 2]), "top_p 0.76");
  // 0.5 reached by the first one alone
  assert.deepEqual(histogram(sampler({ temperature: 1, topP: 0.49, seed: 3 }), logits, 500), [500, 0, 0, 0]);
  // after top_k = 2 the mass is renormalised: 0.5/0.75 = 0.667 < 0.7, so both stay
  assertFits(histogram(sampler({ temperature: 1, topK: 2, topP: 0.7, seed: 4 }), logits, 20000), restricted(probs, [0, 1]), "top_k 2 + top_p 0.7");
  assert.deepEqual(histogram(sampler({ temperature: 1, topK: 2, topP: 0.6, seed: 5 }), logits, 500), [500, 0, 0, 0]);
  // top_p applies after temperature
  const hot = softmax(logits, 3);
  const keep = hot[0]! + hot[1]! >= 0.7 ? [0, 1] : [0, 1, 2];
  assertFits(histogram(sampler({ temperature: 3, topP: 0.7, seed: 6 }), logits, 20000), restricted(hot, keep), "T=3, top_p 0.7");
});

test("equal logits: top_k and top_p keep the lowest ids", () => {
  const x = new Float32Array(1000).fill(0.5);
  const maxDrawn = (fields: Partial<SamplingParams>): number => {
    let m = 0;
    for (let seed = 0; seed < 2000; seed++) m = Math.max(m, sampler({ temperature: 1, seed, ...fields }).sample(x).token);
    return m;
  };
  assert.equal(maxDrawn({ topK: 10 }), 9);
  assert.equal(maxDrawn({ topK: 100 }), 99);
  assert.equal(maxDrawn({ topP: 0.3004 }), 300);
  assert.equal(maxDrawn({ topK: 500, topP: 0.2004 }), 100);
});

test("min_p drops tokens below min_p times the top probability", () => {
  const probs = [0.5, 0.25, 0.15, 0.1];
  const logits = Float32Array.from(probs, Math.log);
  // threshold 0.5 * 0.29 = 0.145: keeps 0.15
  assertFits(histogram(sampler({ temperature: 1, minP: 0.29, seed: 1 }), logits, 20000), restricted(probs, [0, 1, 2]), "min_p 0.29");
  // threshold 0.5 * 0.31 = 0.155: drops it
  assertFits(histogram(sampler({ temperature: 1, minP: 0.31, seed: 2 }), logits, 20000), restricted(probs, [0, 1]), "min_p 0.31");
  assert.deepEqual(histogram(sampler({ temperature: 1, minP: 1, seed: 3 }), logits, 300), [300, 0, 0, 0]);
});

test("the cuts agree exactly with a sort-everything reference, ties and large vocabularies included", () => {
  const rand = mulberry32(2024);
  const configs: Partial<SamplingParams>[] = [
    { temperature: 1 },
    { temperature: 0.7, topK: 1 },
    { temperature: 1, topK: 5 },
    { temperature: 1.5, topK: 64 },
    { temperature: 1.5, topK: 65 },
    { temperature: 1, topK: 500 },
    { temperature: 2, topK: 5000 },
    { temperature: 1, topP: 0.5 },
    { temperature: 0.8, topP: 0.9 },
    { temperature: 3, topP: 0.99 },
    { temperature: 1, topK: 40, topP: 0.9 },
    { temperature: 2, topK: 6000, topP: 0.95 },
    { temperature: 1, minP: 0.05 },
    { temperature: 1.2, minP: 0.1, topK: 100, topP: 0.8 },
    { temperature: 4, minP: 0.02, topP: 0.97 },
  ];
  for (const n of [10, 300, 20000, 151936]) {
    // Gaussian rows, rows with many ties, and all-equal rows (ties broken by id alone)
    for (const step of n > 20000 ? [0] : [0, 0.25, 100]) {
      const x = randomLogits(n, rand, 2, step);
      const ranked = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[b]! - x[a]! || a - b);
      for (const cfg of n > 20000 ? [configs[0]!, configs[9]!, configs[11]!] : configs) {
        for (let seed = 0; seed < (n > 1000 ? 4 : 40); seed++) {
          const p = params({ ...cfg, seed });
          const s = new Sampler(p);
          const want = referenceDraw(x, ranked, p, uniformAt(s.seed, 0));
          assert.equal(s.sample(x).token, want, `vocab ${n}, ${JSON.stringify(cfg)}, step ${step}, seed ${seed}`);
        }
      }
    }
  }
});

test("expNeg is exp on z <= 0 to 1e-13", () => {
  assert.equal(expNeg(0), 1);
  assert.equal(expNeg(-0), 1);
  assert.equal(expNeg(-Infinity), 0);
  assert.equal(expNeg(-800), 0);
  const rand = mulberry32(1);
  for (let i = 0; i < 100000; i++) {
    const z = i < 50000 ? -rand() * 30 : -rand() * 700;
    const rel = Math.abs(expNeg(z) / Math.exp(z) - 1);
    assert.ok(rel < 1e-13, `z ${z}: relative error ${rel}`);
  }
});

// ---- penalties and bias ----

test("repetition_penalty divides positive and multiplies negative logits of prompt and output tokens", () => {
  const logits = f32(2, -1, 0.5, 1, -0.5, 3);
  const s = sampler({ repetitionPenalty: 2, logprobs: true, topLogprobs: 6 }, { promptTokens: [0, 1, 0] });
  assertProcessed(s, logits, [1, -2, 0.5, 1, -0.5, 3], "prompt only");
  s.accept(4);
  s.accept(4);
  assertProcessed(s, logits, [1, -2, 0.5, 1, -1, 3], "prompt + output, counted once");
  // a penalty below 1 rewards repetition
  const r = sampler({ repetitionPenalty: 0.5, logprobs: true, topLogprobs: 6 }, { promptTokens: [5] });
  assertProcessed(r, logits, [2, -1, 0.5, 1, -0.5, 6], "penalty 0.5");
});

test("frequency and presence penalties count generated tokens only", () => {
  const logits = f32(2, -1, 0.5, 1, -0.5);
  const s = sampler({ frequencyPenalty: 0.5, presencePenalty: 0.25, logprobs: true, topLogprobs: 5 }, { promptTokens: [0, 1] });
  assertProcessed(s, logits, [2, -1, 0.5, 1, -0.5], "nothing generated");
  for (const t of [2, 2, 3]) s.accept(t);
  assertProcessed(s, logits, [2, -1, 0.5 - 2 * 0.5 - 0.25, 1 - 0.5 - 0.25, -0.5], "after 2, 2, 3");
  const neg = sampler({ frequencyPenalty: -1, logprobs: true, topLogprobs: 5 });
  neg.accept(4);
  neg.accept(4);
  assertProcessed(neg, logits, [2, -1, 0.5, 1, 1.5], "negative frequency penalty");
});

test("logit_bias adds to logits; -100 bans a token and +100 forces it", () => {
  const logits = f32(2, -1, 0.5, 1);
  const s = sampler({ logitBias: { "1": 1.5, "3": -0.25 }, logprobs: true, topLogprobs: 4 });
  assertProcessed(s, logits, [2, 0.5, 0.5, 0.75], "small biases");
  for (let seed = 0; seed < 300; seed++) {
    assert.notEqual(sampler({ temperature: 1.5, seed, logitBias: { "0": -100 } }).sample(logits).token, 0);
    assert.equal(sampler({ temperature: 1.5, seed, logitBias: new Map([[1, 100]]) }).sample(logits).token, 1);
  }
  assert.equal(sampler({ temperature: 0, logitBias: { "0": -100 } }).sample(logits).token, 3);
});

test("penalties combine in order: repetition, frequency/presence, then bias", () => {
  const logits = f32(4, -2, 1);
  const s = sampler({ repetitionPenalty: 2, frequencyPenalty: 1, presencePenalty: 0.5, logitBias: { "0": 1 }, logprobs: true, topLogprobs: 3 });
  s.accept(0);
  // 4 / 2 = 2, - 1 - 0.5 = 0.5, + 1 = 1.5
  assertProcessed(s, logits, [1.5, -2, 1], "combined");
});

// ---- stop tokens, min_new_tokens, masks ----

test("min_new_tokens keeps EOS and stop_token_ids out until enough tokens were generated", () => {
  const logits = f32(10, 0, 9, 1); // 0 is EOS, 2 a stop token id
  const s = sampler({ minNewTokens: 3, stopTokenIds: [2], temperature: 0 }, { eosTokenIds: [0] });
  assert.ok(s.isStopToken(0) && s.isStopToken(2) && !s.isStopToken(1));
  assert.deepEqual([s.sampleToken(logits), s.sampleToken(logits), s.sampleToken(logits), s.sampleToken(logits)], [3, 3, 3, 0]);
  const hot = sampler({ minNewTokens: 50, stopTokenIds: [2], temperature: 2, seed: 1 }, { eosTokenIds: [0] });
  const h = histogram(hot, logits, 50);
  assert.equal(h[0]! + h[2]!, 0);
  // ignore_eos: EOS is an ordinary token, neither banned nor a stop
  const ign = sampler({ minNewTokens: 3, ignoreEos: true, temperature: 0 }, { eosTokenIds: [0] });
  assert.equal(ign.sampleToken(logits), 0);
  assert.equal(ign.isStopToken(0), false);
  // a mask that allows only EOS wins over min_new_tokens
  const only = sampler({ minNewTokens: 3, temperature: 0 }, { eosTokenIds: [0] });
  assert.equal(only.sample(logits, { mask: Uint32Array.of(0b0001) }).token, 0);
});

test("a mask restricts the choice before temperature and top_k", () => {
  const logits = f32(5, 4, 3, 2, 1, 0);
  const mask = Uint32Array.of(0b101010); // 1, 3, 5
  assert.equal(sampler({ temperature: 0 }).sample(logits, { mask }).token, 1);
  assert.equal(sampler({ temperature: 1, topK: 1, seed: 1 }).sample(logits, { mask }).token, 1);
  const h = histogram(sampler({ temperature: 1, seed: 2 }), logits, 20000);
  const hm = new Array<number>(6).fill(0);
  const s = sampler({ temperature: 1, seed: 2 });
  for (let i = 0; i < 20000; i++) hm[s.sampleToken(logits, { mask })]!++;
  assertFits(h, softmax(logits), "no mask");
  assertFits(hm, restricted(softmax(logits), [1, 3, 5]), "mask");
  // masks over many words, with a partial last word
  const n = 100;
  const big = randomLogits(n, mulberry32(3));
  const allow = new Uint32Array(4);
  for (const id of [7, 40, 64, 99]) allow[id >>> 5]! |= 1 << (id & 31);
  for (let seed = 0; seed < 100; seed++) assert.ok([7, 40, 64, 99].includes(sampler({ temperature: 2, seed }).sample(big, { mask: allow }).token));
  assert.throws(() => sampler({}).sample(big, { mask: new Uint32Array(3) }), /mask has 3 words, the vocabulary needs 4/);
  assert.throws(() => sampler({}).sample(big, { mask: new Uint32Array(4) }), /no token is allowed/);
});

// ---- seeds ----

test("the draws are the mulberry32 stream of the seed", () => {
  const next = mulberry32(1234);
  for (let k = 0; k < 100; k++) assert.equal(uniformAt(1234, k), next());
});

test("a seed reproduces the same tokens, whatever else samples in between; other seeds differ", () => {
  const rand = mulberry32(77);
  const rows = Array.from({ length: 64 }, () => randomLogits(500, rand, 1.5));
  const run = (seed: number, interleave: boolean): number[] => {
    const s = sampler({ temperature: 1, topP: 0.95, seed, frequencyPenalty: 0.3 });
    const other = sampler({ temperature: 1, seed: seed + 1 });
    return rows.map((x) => {
      if (interleave) other.sampleToken(x);
      return s.sampleToken(x);
    });
  };
  const a = run(5, false);
  assert.deepEqual(run(5, true), a);
  assert.notDeepEqual(run(6, false), a);
  assert.notDeepEqual(run(-5, false), a);
  // big seeds fold into 32 bits differently from their low words
  assert.notEqual(new Sampler(params({ seed: 2 ** 40 + 5 })).seed, new Sampler(params({ seed: 5 })).seed);
  // unseeded samplers draw their own seeds
  assert.notEqual(sampler({ temperature: 1 }).seed, sampler({ temperature: 1 }).seed);
});

test("sample() changes no state: it can be repeated, and only accept() moves on", () => {
  const x = randomLogits(1000, mulberry32(8), 1);
  const s = sampler({ temperature: 1, seed: 3, repetitionPenalty: 1.3, presencePenalty: 0.5, logprobs: true, topLogprobs: 3 }, { promptTokens: [1, 2, 3] });
  const first = s.sample(x);
  assert.deepEqual(s.sample(x), first);
  assert.equal(s.generated, 0);
  const tokens = [];
  for (let i = 0; i < 20; i++) tokens.push(s.sampleToken(x));
  assert.equal(s.generated, 20);
  assert.ok(new Set(tokens).size > 1);
});

test("each of n samples has its own stream, derived from the request seed and the index", () => {
  const x = randomLogits(400, mulberry32(9), 1);
  const p = params({ temperature: 1, seed: 99, n: 4 });
  const seqs = [0, 1, 2, 3].map((i) => {
    const s = new Sampler(p, { sampleIndex: i });
    assert.equal(s.seed, deriveSeed(99, i));
    return Array.from({ length: 30 }, () => s.sampleToken(x));
  });
  for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) assert.notDeepEqual(seqs[i], seqs[j]);
  // sample 0 is the plain request's stream; the same index gives the same stream again
  const plain = sampler({ temperature: 1, seed: 99 });
  assert.deepEqual(Array.from({ length: 30 }, () => plain.sampleToken(x)), seqs[0]);
  const again = new Sampler(p, { sampleIndex: 2 });
  assert.deepEqual(Array.from({ length: 30 }, () => again.sampleToken(x)), seqs[2]);
  assert.throws(() => new Sampler(p, { sampleIndex: 4 }), /sample index 4/);
});

// ---- logprobs ----

test("logprobs are normalised, top_logprobs sorted, and agree with the chosen token", () => {
  const rand = mulberry32(31);
  for (let trial = 0; trial < 50; trial++) {
    const n = 2 + Math.floor(rand() * 19);
    const x = randomLogits(n, rand, 3, trial % 3 === 0 ? 0.5 : 0);
    const s = sampler({ temperature: 0.8, seed: trial, logprobs: true, topLogprobs: n });
    const r = s.sample(x);
    const top = r.topLogprobs!;
    assert.equal(top.length, n);
    const sum = top.reduce((a, e) => a + Math.exp(e.logprob), 0);
    assertClose(sum, 1, 1e-6, "normalised");
    for (let i = 1; i < n; i++) {
      const [a, b] = [top[i - 1]!, top[i]!];
      assert.ok(a.logprob > b.logprob || (a.logprob === b.logprob && a.token < b.token), `sorted at ${i}`);
    }
    assert.equal(top.find((e) => e.token === r.token)!.logprob, r.logprob);
    const p = softmax(x);
    for (const e of top) assertClose(e.logprob, Math.log(p[e.token]!), 1e-5, "log softmax");
  }
});

test("logprobs describe the processed logits, before temperature and the cuts", () => {
  const x = f32(2, 1, 0.5, -1, 0);
  const base = sampler({ logprobs: true, topLogprobs: 2 }).sample(x);
  const knobs = sampler({ temperature: 0.3, topK: 2, topP: 0.5, minP: 0.2, seed: 1, logprobs: true, topLogprobs: 2 }).sample(x);
  assert.deepEqual(knobs.topLogprobs, base.topLogprobs);
  assert.equal(base.topLogprobs![0]!.token, 0);
  assert.equal(knobs.logprob, base.logprob);
  // masked tokens are gone, the rest renormalised
  const masked = sampler({ logprobs: true, topLogprobs: 5 }).sample(x, { mask: Uint32Array.of(0b00110) });
  assert.deepEqual(masked.topLogprobs!.map((e) => e.token), [1, 2]);
  assertClose(Math.exp(masked.topLogprobs![0]!.logprob) + Math.exp(masked.topLogprobs![1]!.logprob), 1, 1e-6, "masked sum");
  // not asked: NaN and no list
  const none = sampler({}).sample(x);
  assert.ok(Number.isNaN(none.logprob));
  assert.equal(none.topLogprobs, undefined);
  assert.equal(sampler({ logprobs: true }).sample(x).topLogprobs, undefined);
});

test("vocabulary size and sample index are checked", () => {
  assert.throws(() => sampler({}, { vocabSize: 5 }).sample(new Float32Array(6)), /6 entries, the vocabulary 5/);
  // Parameters are checked once, at the engine boundary, not again by the sampler.
  assert.throws(() => checkSamplingParams(params({ logitBias: { "9": 1 } }), 5), /logit_bias has token id 9/);
  assert.throws(() => sampler({}, { sampleIndex: 1 }), /sample index 1/);
});

test("logprobs_mode raw: the log-softmax of the model's logits, whatever mask, bias or penalty was applied", () => {
  const x = f32(1, 3, -2, 0.5, 2, 2.5);
  const mask = Uint32Array.of(0b010001); // tokens 0 and 4
  const s = sampler({ temperature: 0, logprobs: true, topLogprobs: 2, logprobsMode: "raw", logitBias: { "0": 5 }, repetitionPenalty: 1.3 }, { promptTokens: [4] });
  const r = s.sample(x, { mask });
  assert.equal(r.token, 0); // chosen under the mask and the bias
  const logZ = Math.log(Array.from(x).reduce((a, v) => a + Math.exp(v), 0));
  assert.ok(Math.abs(r.logprob - (1 - logZ)) < 1e-5);
  assert.deepEqual(r.topLogprobs!.map((t) => t.token), [1, 5]);
  assert.ok(Math.abs(r.topLogprobs![0]!.logprob - (3 - logZ)) < 1e-5);
  // processed (default): the same token has log-probability 0 when the mask allows it alone
  const only = sampler({ temperature: 0, logprobs: true }).sample(x, { mask: Uint32Array.of(0b1) });
  assert.equal(only.logprob, 0);
  assert.throws(() => checkSamplingParams(params({ logprobsMode: "cooked" as "raw" })), /logprobs_mode/);
});
