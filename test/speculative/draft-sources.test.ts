// The draft sources on their own: prompt lookup over a request's tokens, the n-gram table of
// recent outputs, and the radix tree's continuation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { followCorpus, promptLookup } from "../../src/speculative/prompt-lookup.js";
import { NgramTable, saltHash } from "../../src/speculative/ngram-table.js";
import { RadixCache } from "../../src/kvcache/radix-cache.js";

test("prompt lookup continues the latest occurrence of the longest suffix", () => {
  // "1 2 3" occurs twice; the suffix 2 3 matches both, 1 2 3 only the later... both are 1 2 3:
  // the latest wins.
  const t = [1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8, 0, 1, 2, 3];
  assert.deepEqual(promptLookup(t, 2), [7, 8]);
  // A longer match beats a later shorter one: "4 2 3" occurs once, early.
  const u = [4, 2, 3, 10, 11, 5, 2, 3, 20, 21, 4, 2, 3];
  assert.deepEqual(promptLookup(u, 3), [10, 11, 5]);
  // Nothing to continue: the last token never occurred before.
  assert.deepEqual(promptLookup([1, 2, 3, 4], 4), []);
  assert.deepEqual(promptLookup([5], 4), []);
  assert.deepEqual(promptLookup([5, 6, 5], 0), []);
  // A minimum match length.
  assert.deepEqual(promptLookup([1, 2, 9, 2], 2, 2), []);
  assert.deepEqual(promptLookup([1, 2, 9, 1, 2], 2, 2), [9, 1]);
});

test("prompt lookup repeats a loop past the end of the text: what followed d tokens ago, with period d", () => {
  assert.deepEqual(promptLookup([8, 8, 8, 8], 5), [8, 8, 8, 8, 8]);
  assert.deepEqual(promptLookup([1, 2, 3, 1, 2, 3, 1, 2], 7), [3, 1, 2, 3, 1, 2, 3]);
  // A rewritten text: after "the cat" in the copy comes what came after it in the original.
  const original = [10, 11, 12, 13, 14, 15, 16];
  assert.deepEqual(promptLookup([...original, 99, 10, 11, 12], 4), [13, 14, 15, 16]);
});

test("the n-gram table continues runs of recent outputs, per salt, and stays within its bound", () => {
  const t = new NgramTable(8);
  const a = saltHash("");
  const b = saltHash("tenant-b");
  assert.notEqual(a, b);
  // Prompt 1 2 3, output 4 5 6 7 8 from position 3.
  t.learn(a, [1, 2, 3, 4, 5, 6, 7, 8], 2);
  assert.deepEqual(t.lookup(a, [9, 9, 2, 3, 4], 3), [5, 6, 7]);
  assert.deepEqual(t.lookup(a, [0, 1, 2, 3], 8), [4, 5, 6, 7, 8]);
  assert.deepEqual(t.lookup(b, [0, 1, 2, 3], 8), [], "another salt sees nothing");
  assert.deepEqual(t.lookup(a, [7, 7, 7], 3), []);
  assert.deepEqual(t.lookup(a, [3, 4], 3), [], "shorter than a run");
  // A later output of the same run wins.
  t.learn(a, [1, 2, 3, 40, 50], 2);
  assert.deepEqual(t.lookup(a, [1, 2, 3], 2), [40, 50]);
  for (let i = 0; i < 50; i++) t.learn(a, [100 + i, 200 + i, 300 + i, 400 + i, 500 + i], 0);
  assert.ok(t.size <= 8, `bounded: ${t.size}`);
  assert.deepEqual(t.lookup(a, [1, 2, 3], 2), [], "the oldest runs went first");
  assert.deepEqual(t.lookup(a, [149, 249, 349], 2), [449, 549]);
});

test("the radix tree continues a context it holds, most recently used branch first, reading only", () => {
  const c = new RadixCache();
  const slots = (n: number, base: number) => Int32Array.from({ length: n }, (_, i) => base + i);
  c.insert({ ids: [1, 2, 3, 4, 5, 6], salt: "" }, slots(6, 0));
  c.insert({ ids: [1, 2, 3, 7, 8], salt: "" }, slots(5, 100));
  // [1 2 3 7 8] was used last.
  assert.deepEqual(c.continuation({ ids: [1, 2], salt: "" }, 4), [3, 7, 8]);
  assert.deepEqual(c.continuation({ ids: [1, 2, 3, 4], salt: "" }, 9), [5, 6]);
  assert.deepEqual(c.continuation({ ids: [1, 2, 3, 4, 5, 6], salt: "" }, 3), []);
  assert.deepEqual(c.continuation({ ids: [1, 2, 9], salt: "" }, 3), [], "the context leaves the tree");
  assert.deepEqual(c.continuation({ ids: [1, 2], salt: "other" }, 3), [], "other salts hold nothing");
  const before = c.stats();
  c.match({ ids: [1, 2, 3, 4], salt: "" });
  // Now [1 2 3 4 ...] is the most recently used branch.
  assert.deepEqual(c.continuation({ ids: [1, 2, 3], salt: "" }, 2), [4, 5]);
  assert.equal(c.stats().cachedTokens, before.cachedTokens);
});

test("a prediction is followed in order: from where the output goes on, else the first match from there, else from its start", () => {
  const prediction = [10, 11, 12, 13, 10, 11, 20, 21];
  // The output so far ends with 10 11: the first occurrence is at the start.
  assert.deepEqual(followCorpus(prediction, 0, [1, 2, 10, 11], 3), { draft: [12, 13, 10], at: 2 });
  // From position 4 on, the later occurrence is the one followed.
  assert.deepEqual(followCorpus(prediction, 4, [1, 2, 10, 11], 3), { draft: [20, 21], at: 6 });
  // Nothing after `from`: back to the start.
  assert.deepEqual(followCorpus(prediction, 7, [13], 2), { draft: [10, 11], at: 4 });
  assert.equal(followCorpus(prediction, 0, [99], 3), null);
  assert.equal(followCorpus(prediction, 0, [21], 3), null, "the last token has nothing after it");
  // Where the output goes on as predicted, the draft continues there, though the suffix
  // occurs later too (a search from 4 would find 5, 6 and draft only 7).
  const repeats = [5, 6, 5, 6, 5, 6, 7];
  assert.deepEqual(followCorpus(repeats, 4, [1, 5, 6], 3), { draft: [5, 6, 7], at: 4 });
  assert.deepEqual(followCorpus(repeats, 5, [1, 5, 6], 3), { draft: [7], at: 6 }, "the token before 5 is not the last: searched");
});
