// maxTextBytesPerToken (text-bound.ts) is a bound, never an estimate: for every text, its
// UTF-8 bytes <= its token count x the bound, on real vocabularies and on texts made to
// push it (the longest tokens repeated, whitespace runs, characters that normalization
// shrinks). Where a pipeline can drop or shrink text without limit the bound is Infinity,
// and the tests show the text that would break a finite one.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildTestTokenizer } from "../../src/model/test-tokenizer.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chat-template.js";
import { loadTokenizerJson } from "../../src/tokenizer/load.js";
import { normalizerShrink } from "../../src/tokenizer/text-bound.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { referenceVocab, variedText } from "../../src/tokenizer/vocab-testdata.js";

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");

/** Texts that push bytes per token up: the tokenizer's longest tokens repeated, and the usual suspects. */
function hardTexts(tok: Tokenizer): string[] {
  const longest: number[] = [];
  for (let id = 0; id < tok.vocabSize; id++) longest.push(id);
  longest.sort((a, b) => tok.tokenBytes(b).length - tok.tokenBytes(a).length);
  const texts = longest.slice(0, 20).map((id) => tok.decode([id]).repeat(50));
  texts.push(" ".repeat(5000), "\n".repeat(3000), "\t \n".repeat(999), "a".repeat(10_000), "0".repeat(5000), "-".repeat(4096), "=".repeat(4096));
  // Characters normalization shrinks: U+1FEF (to "`"), the Ohm and Kelvin signs, Hangul jamo
  // that compose to one syllable, a full-width letter, a 4-byte mathematical letter.
  texts.push("\u1fef".repeat(999), "\u2126\u212a".repeat(999), "\u1100\u1161\u11a8".repeat(999), "\uff21".repeat(999), "\u{1d400}".repeat(999));
  texts.push("🦙".repeat(999), "e\u0301".repeat(999), "\u0000\u0001\u007f".repeat(99), "\ud800x\udfff".repeat(99));
  texts.push(variedText(50_000, ["<|im_start|>", "<|endoftext|>", "<s>", "</s>", "<unk>"]));
  return texts;
}

function checkBound(tok: Tokenizer, label: string): number {
  const bound = tok.maxTextBytesPerToken();
  assert.ok(Number.isFinite(bound) && bound > 0, `${label}: bound ${bound}`);
  let worst = 0;
  for (const text of hardTexts(tok)) {
    for (const options of [{}, { addSpecial: true, parseSpecial: true }, { parseSpecial: true }]) {
      const n = tok.encode(text, options).length;
      assert.ok(bytes(text) <= n * bound, `${label}: ${bytes(text)} bytes in ${n} tokens, bound ${bound}: ${JSON.stringify(text.slice(0, 40))}`);
      if (n > 0) worst = Math.max(worst, bytes(text) / n);
    }
  }
  return worst;
}

test("the normalizers' shrink factors hold for every code point", () => {
  const r = { nfd: 0, nfkd: 0, compose: 0, lower: 0 };
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    const b = bytes(c);
    const d = c.normalize("NFD");
    r.nfd = Math.max(r.nfd, b / bytes(d));
    r.nfkd = Math.max(r.nfkd, b / bytes(c.normalize("NFKD")));
    // composition: a composed character from its canonical decomposition
    if (c.normalize("NFC") === c) r.compose = Math.max(r.compose, bytes(d) / b);
    r.lower = Math.max(r.lower, b / bytes(c.toLowerCase()));
  }
  assert.ok(r.nfd <= normalizerShrink({ type: "NFD" }), `NFD ${r.nfd}`);
  assert.ok(r.nfkd <= normalizerShrink({ type: "NFKD" }), `NFKD ${r.nfkd}`);
  assert.ok(r.lower <= normalizerShrink({ type: "Lowercase" }), `Lowercase ${r.lower}`);
  // NFC = compose(NFD), NFKC = compose(NFKD)
  assert.ok(r.nfd * r.compose <= normalizerShrink({ type: "NFC" }), `NFC ${r.nfd} x ${r.compose}`);
  assert.ok(r.nfkd * r.compose <= normalizerShrink({ type: "NFKC" }), `NFKC ${r.nfkd} x ${r.compose}`);
  assert.equal(normalizerShrink({ type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] }), 1);
  assert.equal(normalizerShrink({ type: "Replace", pattern: { String: "abcd" }, content: "x" }), 4);
  for (const type of ["Strip", "StripAccents", "BertNormalizer", "Precompiled"]) assert.equal(normalizerShrink({ type }), Infinity, type);
  assert.equal(normalizerShrink({ type: "Replace", pattern: { Regex: "\\s+" }, content: " " }), Infinity);
});

describe("bounds of real vocabularies", () => {
  for (const name of ["gpt-2", "llama-spm", "deepseek-llm", "qwen2"]) {
    const v = referenceVocab(name);
    test(`${name}: bytes <= tokens x bound on every hard text`, async (t) => {
      if (typeof v === "string") return t.skip(v);
      const tok = await v.load();
      const worst = checkBound(tok, name);
      t.diagnostic(`${name}: bound ${tok.maxTextBytesPerToken()}, worst seen ${worst.toFixed(1)} bytes per token`);
      for (const c of v.cases) assert.ok(bytes(c.text) <= c.ids.length * tok.maxTextBytesPerToken() || c.ids.length === 0 && c.text === "");
    });
  }
  for (const [name, why] of [["phi-3", "added tokens that strip whitespace"], ["falcon", "bytes with no token, dropped"]] as const) {
    const v = referenceVocab(name);
    test(`${name}: no bound (${why})`, async (t) => {
      if (typeof v === "string") return t.skip(v);
      assert.equal((await v.load()).maxTextBytesPerToken(), Infinity);
    });
  }
});

/** The test models' tokenizer.json, changed by `edit`. */
function testTokenizer(edit: (json: Record<string, unknown>) => void = () => {}): Tokenizer {
  const files = buildTestTokenizer(400, CHATML_TEMPLATE);
  const json = structuredClone(files.tokenizer);
  edit(json);
  return loadTokenizerJson(json, files.config);
}

test("the test models' tokenizer: its bound holds", () => {
  const tok = testTokenizer();
  assert.equal(tok.maxTextBytesPerToken(), Buffer.byteLength("<|endoftext|>"));
  checkBound(tok, "test tokenizer");
});

test("no bound where text can vanish, and the text that shows why", () => {
  // an added token that swallows the whitespace before it: 10,000 bytes, one token
  const lstrip = testTokenizer((j) => ((j.added_tokens as Record<string, unknown>[])[0]!.lstrip = true));
  assert.equal(lstrip.maxTextBytesPerToken(), Infinity);
  assert.equal(lstrip.encode(" ".repeat(10_000) + "<|endoftext|>", { parseSpecial: true }).length, 1);
  // whitespace dropped by the pre-tokenizer
  const split = testTokenizer((j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, j.pre_tokenizer] }));
  assert.equal(split.maxTextBytesPerToken(), Infinity);
  assert.equal(split.encode(" ".repeat(10_000)).length, 0);
  // a normalizer that strips
  const strip = testTokenizer((j) => (j.normalizer = { type: "Strip", strip_left: true, strip_right: true }));
  assert.equal(strip.maxTextBytesPerToken(), Infinity);
  assert.equal(strip.encode(" ".repeat(10_000)).length, 0);
  // a split that removes what it matches
  const removed = testTokenizer((j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { String: " " }, behavior: "Removed", invert: false }, j.pre_tokenizer] }));
  assert.equal(removed.maxTextBytesPerToken(), Infinity);
});
