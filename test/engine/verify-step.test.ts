// The verification of a draft on its own, over the real scheduler, pool, sampler and request,
// with rows of logits whose distribution is known: the tokens it keeps follow that
// distribution exactly (chi-square), a draft token is accepted as often as the model would
// sample it, and the rejected rows' slots go back to the pool.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KVPool } from "../../src/kvcache/pool.js";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { Speculator } from "../../src/speculative/speculator.js";
import { verifyDrafts } from "../../src/engine/verify-step.js";
import { makeRequest, VOCAB } from "../helpers/requests.js";

/** Rows of logits: row 0 puts probabilities `p` on tokens 10, 11, ...; the others are flat. */
function logits(p: readonly number[], rows: number): Float32Array {
  const x = new Float32Array(rows * VOCAB).fill(-Infinity);
  p.forEach((q, i) => (x[10 + i] = Math.log(q)));
  for (let r = 1; r < rows; r++) x.fill(0, r * VOCAB, (r + 1) * VOCAB);
  return x;
}

/** One request through prefill and its first token, then a decode step carrying `draft`; returns what verification kept. */
function verifyOnce(seed: number, draft: readonly number[], x: Float32Array, temperature = 1): { tokens: number[]; accepted: number; free: number } {
  const pool = new KVPool(64);
  const s = new Scheduler(pool, new RadixCache(), { chunkedPrefillSize: 64, maxRunningRequests: 4, policy: "fcfs", decodeReserveRatio: 0 });
  s.setDrafter({ propose: () => draft });
  const spec = new Speculator(8, null);
  const req = makeRequest(`r${seed}`, [1, 2, 3], 0, { params: { temperature, seed, maxNewTokens: 2 + draft.length, ignoreEos: true } });
  s.enqueue([req]);
  s.complete(s.schedule()!);
  s.postprocess([{ req, token: 7 }]);
  const b = s.schedule()!;
  assert.deepEqual(b.entries[0]!.draft, draft);
  s.complete(b);
  s.checkAccounting();
  verifyDrafts([{ req, position: b.entries[0]!.start, draft, logits: x }], VOCAB, s, spec);
  s.checkAccounting();
  const out = req.tokens.slice(req.promptLength + 1);
  if (req.status !== "finished") s.finish(req, "abort");
  s.flushCache();
  return { tokens: out, accepted: req.spec.acceptedTokens, free: pool.freeCount };
}

test("sampled verification keeps the model's distribution: the kept tokens pass a chi-square test, the draft is accepted as often as it is sampled", () => {
  const p = [0.4, 0.3, 0.2, 0.1];
  const x = logits(p, 2);
  const draft = [11];
  const N = 4000;
  const counts = [0, 0, 0, 0];
  let accepted = 0;
  for (let seed = 0; seed < N; seed++) {
    const r = verifyOnce(seed, draft, x);
    const t = r.tokens[0]!;
    assert.ok(t >= 10 && t < 14, `token ${t}`);
    counts[t - 10]!++;
    accepted += r.accepted;
    // Accepted: the draft and one token from the next row; refused: only the token kept instead.
    assert.equal(r.tokens.length, t === 11 ? 2 : 1);
    assert.equal(r.accepted, t === 11 ? 1 : 0);
    assert.equal(r.free, 64, "every slot is back in the pool");
  }
  let chi = 0;
  counts.forEach((c, i) => (chi += (c - N * p[i]!) ** 2 / (N * p[i]!)));
  // 3 degrees of freedom: P(X > 16.27) = 0.001.
  assert.ok(chi < 16.27, `chi-square ${chi.toFixed(2)}: ${counts.join(" ")}`);
  // P(accept) = p(draft) = 0.3: within 4 standard deviations.
  assert.ok(Math.abs(accepted / N - 0.3) < 4 * Math.sqrt(0.3 * 0.7 / N), `accept rate ${accepted / N}`);
});

test("greedy verification accepts exactly the drafts equal to the argmax, and a refused draft's rows are rolled back", () => {
  const x = logits([0.1, 0.6, 0.3], 4);
  // Row 0's argmax is 11; rows 1.. are flat, so their argmax is token 0.
  const all = verifyOnce(1, [11, 0, 0], x, 0);
  assert.deepEqual(all.tokens, [11, 0, 0, 0]);
  assert.equal(all.accepted, 3);
  const cut = verifyOnce(1, [11, 5, 0], x, 0);
  assert.deepEqual(cut.tokens, [11, 0], "the first disagreement is kept, the rest thrown away");
  assert.equal(cut.accepted, 1);
  const none = verifyOnce(1, [12, 0, 0], x, 0);
  assert.deepEqual(none.tokens, [11]);
  assert.equal(none.accepted, 0);
  for (const r of [all, cut, none]) assert.equal(r.free, 64);
});
