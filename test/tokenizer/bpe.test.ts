// Our BPE merge loop against a plain reference and against the JS library's encode.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BpeModel } from "../../src/tokenizer/bpe.js";
import { libTokenizer } from "../../src/tokenizer/library.js";
import { referenceVocab, variedText } from "../../src/tokenizer/vocab-testdata.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/** The textbook loop: merge the adjacent pair of lowest rank, leftmost first, until none is left. */
function referenceBpe(word: string[], ranks: Map<string, number>): string[] {
  const syms = [...word];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = ranks.get(syms[i] + "\u0000" + syms[i + 1]);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return syms;
    syms.splice(best, 2, syms[best] + syms[best + 1]);
  }
}

/** A random vocabulary over a small alphabet, with merges learned from random text. */
function randomModel(seed: number): { vocab: Map<string, number>; merges: [string, string][]; ranks: Map<string, number> } {
  const r = rng(seed);
  const alphabet = "abcde";
  const vocab = new Map<string, number>([...alphabet].map((c, i) => [c, i]));
  const merges: [string, string][] = [];
  const ranks = new Map<string, number>();
  let corpus = Array.from({ length: 200 }, () => Array.from({ length: 12 }, () => alphabet[Math.floor(r() * 5)]));
  for (let step = 0; step < 60; step++) {
    const counts = new Map<string, number>();
    for (const w of corpus) for (let i = 0; i + 1 < w.length; i++) counts.set(w[i] + "\u0000" + w[i + 1], (counts.get(w[i] + "\u0000" + w[i + 1]) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!top) break;
    const [a, b] = top[0].split("\u0000");
    ranks.set(top[0], merges.length);
    merges.push([a, b]);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    corpus = corpus.map((w) => referenceBpe(w, new Map([[top[0], 0]])));
  }
  return { vocab, merges, ranks };
}

describe("BpeModel", () => {
  test("matches the reference loop on short and long words", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { vocab, merges, ranks } = randomModel(seed);
      const model = new BpeModel({ vocab, merges, unkId: undefined, byteFallback: false, fuseUnk: false, ignoreMerges: false, source: "test" });
      const r = rng(seed * 7);
      for (const len of [1, 2, 3, 5, 10, 30, 47, 48, 49, 60, 200, 1000]) {
        const word = Array.from({ length: len }, () => "abcde"[Math.floor(r() * 5)]);
        const want = referenceBpe(word, ranks).map((t) => vocab.get(t));
        const got: number[] = [];
        model.encodeWord(word.join(""), got);
        assert.deepEqual(got, want, `seed ${seed}, length ${len}`);
      }
    }
  });

  test("unknown characters: byte fallback, else one fused unk", () => {
    const vocab = new Map<string, number>([["<unk>", 0], ["a", 1], ["<0xC3>", 2], ["<0xA9>", 3]]);
    const opts = { vocab, merges: [], unkId: 0, fuseUnk: true, ignoreMerges: false, source: "test" };
    const out: number[] = [];
    new BpeModel({ ...opts, byteFallback: true }).encodeWord("aéa", out);
    assert.deepEqual(out, [1, 2, 3, 1]);
    const fused: number[] = [];
    new BpeModel({ ...opts, byteFallback: true }).encodeWord("axyza", fused);
    assert.deepEqual(fused, [1, 0, 1]);
    const unfused: number[] = [];
    new BpeModel({ ...opts, fuseUnk: false, byteFallback: false }).encodeWord("axya", unfused);
    assert.deepEqual(unfused, [1, 0, 0, 1]);
  });

  test("a merge that names a token outside the vocabulary is an error naming the file", () => {
    const vocab = new Map<string, number>([["a", 0], ["b", 1]]);
    assert.throws(
      () => new BpeModel({ vocab, merges: [["a", "b"]], unkId: undefined, byteFallback: false, fuseUnk: false, ignoreMerges: false, source: "x/tokenizer.json" }),
      /^Error: x\/tokenizer\.json: merge 0 \("a b"\) uses "ab", which is not in model\.vocab$/,
    );
  });
});

describe("whole-text encode equals the JS library's", () => {
  // The library is the reference for these vocabularies on text without U+0085/U+FEFF (where its
  // ByteLevel regex differs from the Rust one). SentencePiece text is one long word there, which
  // we cut at safe places: this checks the cuts change nothing.
  for (const name of ["gpt-2", "qwen2", "llama-spm", "phi-3"]) {
    test(name, async (t) => {
      const v = referenceVocab(name);
      if (typeof v === "string") return t.skip(v);
      const tok = await v.load();
      const { tokenizer, config } = tok.toTokenizerJson();
      const lib = libTokenizer(tokenizer, config) as unknown as { encode(text: string, o: object): { ids: number[] } };
      const text = variedText(30_000, v.cases.map((c) => c.text));
      for (const part of [text, text.replaceAll(" ", ""), "日本語のテキスト".repeat(40) + " end"]) {
        assert.deepEqual(tok.encode(part), lib.encode(part, { add_special_tokens: false }).ids);
      }
    });
  }
  // These split digits; the JS library only knows ASCII digits there, so compare on ASCII text.
  for (const name of ["deepseek-llm", "falcon"]) {
    test(`${name} (ASCII text)`, async (t) => {
      const v = referenceVocab(name);
      if (typeof v === "string") return t.skip(v);
      const tok = await v.load();
      const { tokenizer, config } = tok.toTokenizerJson();
      const lib = libTokenizer(tokenizer, config) as unknown as { encode(text: string, o: object): { ids: number[] } };
      const text = variedText(30_000).replace(/[^\x00-\x7f]/g, "");
      assert.deepEqual(tok.encode(text), lib.encode(text, { add_special_tokens: false }).ids);
    });
  }
});
