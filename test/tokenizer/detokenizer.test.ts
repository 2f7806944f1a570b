// The incremental detokenizer: fed one token at a time, its deltas are whole characters and add
// up to decode(allIds), for every reference tokenizer and test string.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IncrementalDetokenizer } from "../../src/tokenizer/detokenizer.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { REFERENCE_VOCABS, referenceVocab } from "../../src/tokenizer/vocab-testdata.js";

const EXTRA = [
  "🦙 llama 👩‍💻 family 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷",
  "日本語のテキストと中文和한국어",
  "e\u0301le\u0300ve, n\u0303, a\u030a\u0301, क्षि, ﷺ",
  "price: 5€ or ½ of ¥1000 — “quoted” …",
  "\tindent\n    code();\n\n\n  trailing  ",
  " leading space",
  "  two leading spaces",
];

/** Streams `ids` through a detokenizer, checking every delta on the way; returns the whole text. */
function stream(tok: Tokenizer, ids: number[], skipSpecial: boolean): string {
  const detok = new IncrementalDetokenizer(tok, { skipSpecial });
  const expected = tok.decode(ids, { skipSpecial });
  let text = "";
  for (const id of ids) {
    const delta = detok.push(id);
    assert.ok(!/[\ud800-\udbff]$/.test(delta), `delta ends inside a surrogate pair: ${JSON.stringify(delta)}`);
    if (!expected.includes("\ufffd")) assert.ok(!delta.includes("\ufffd"), `delta has U+FFFD: ${JSON.stringify(delta)}`);
    text += delta;
    assert.ok(expected.startsWith(text), `${JSON.stringify(text)} is not a prefix of ${JSON.stringify(expected)}`);
  }
  text += detok.flush();
  assert.equal(text, expected);
  return text;
}

for (const name of REFERENCE_VOCABS) {
  const v = referenceVocab(name);
  describe(`detokenizer ${name}`, () => {
    if (typeof v === "string") {
      test("streams the test strings", (t) => t.skip(v));
      return;
    }
    test("streams the test strings and extra unicode to decode()'s text", async () => {
      const tok = await v.load();
      for (const text of [...v.cases.map((c) => c.text), ...EXTRA]) {
        const out = stream(tok, tok.encode(text), false);
        // Qwen's tokenizer NFC-normalizes; text already in NFC comes back unchanged everywhere.
        if (text === text.normalize("NFC")) assert.equal(out, text);
        stream(tok, tok.encode(text, { addSpecial: true }), false);
        stream(tok, tok.encode(text, { addSpecial: true }), true);
      }
    });
  });
}

describe("detokenizer with SentencePiece byte fallback", () => {
  test("holds back the bytes of a character until it completes", async (t) => {
    const v = referenceVocab("llama-spm");
    if (typeof v === "string") return t.skip(v);
    const tok = await v.load();
    const ids = tok.encode("🦙");
    assert.deepEqual(ids, [29871, 243, 162, 169, 156]); // "▁" then <0xF0><0x9F><0xA6><0x99>
    const detok = new IncrementalDetokenizer(tok);
    assert.deepEqual(ids.map((id) => detok.push(id)), ["", "", "", "", "🦙"]);
    assert.equal(detok.flush(), "");
  });

  test("drops the first token's leading space only, as decode does", async (t) => {
    const v = referenceVocab("llama-spm");
    if (typeof v === "string") return t.skip(v);
    const tok = await v.load();
    const ids = tok.encode(" Hello Hello");
    assert.deepEqual(ids, [29871, 15043, 15043]);
    const detok = new IncrementalDetokenizer(tok);
    assert.deepEqual(ids.map((id) => detok.push(id)), ["", " Hello", " Hello"]);
    // With BOS skipped, the token after it is the first one.
    const withBos = tok.encode("Hello", { addSpecial: true });
    assert.deepEqual(withBos, [1, 15043]);
    const skipping = new IncrementalDetokenizer(tok, { skipSpecial: true });
    assert.equal(withBos.map((id) => skipping.push(id)).join("") + skipping.flush(), "Hello");
    const keeping = new IncrementalDetokenizer(tok);
    assert.equal(withBos.map((id) => keeping.push(id)).join("") + keeping.flush(), "<s> Hello");
    assert.equal(tok.decode(withBos), "<s> Hello");
  });

  test("flush turns an incomplete character into U+FFFD", async (t) => {
    const v = referenceVocab("llama-spm");
    if (typeof v === "string") return t.skip(v);
    const tok = await v.load();
    const e2 = tok.tokenToId("<0xE2>") as number;
    const x82 = tok.tokenToId("<0x82>") as number;
    const detok = new IncrementalDetokenizer(tok);
    assert.equal(detok.push(tok.tokenToId("▁a") as number), "a");
    assert.equal(detok.push(e2), "");
    assert.equal(detok.push(x82), "");
    assert.equal(detok.flush(), "\ufffd");
    assert.equal(tok.decode([tok.tokenToId("▁a") as number, e2, x82]), "a\ufffd");
  });
});
