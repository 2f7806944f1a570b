// Reference tokenizations (shared/testdata/vocab): every test string must give exactly the ids
// the Hugging Face tokenizer gave, decode back to itself, and survive conversion between the
// tokenizer.json and GGUF forms.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadTokenizerJson, tokenizerFromGGUF } from "../../src/tokenizer/load.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { REFERENCE_VOCABS, referenceVocab, type VocabCase } from "../../src/tokenizer/vocab-testdata.js";

const NAMES = REFERENCE_VOCABS;
/** tokenizer.ggml.model and .pre that the tokenizer.json form must be written back as. */
const GGUF_KIND: Record<string, [string, string]> = {
  "gpt-2": ["gpt2", "gpt-2"],
  "deepseek-llm": ["gpt2", "deepseek-llm"],
  falcon: ["gpt2", "falcon"],
  qwen2: ["gpt2", "qwen2"],
  "llama-spm": ["llama", "default"],
  "phi-3": ["llama", "default"],
};

function checkCases(tok: Tokenizer, cases: VocabCase[], label: string): void {
  for (const c of cases) {
    assert.deepEqual(tok.encode(c.text), c.ids, `${label}: ids of ${JSON.stringify(c.text)}`);
  }
}

for (const name of NAMES) {
  const v = referenceVocab(name);
  describe(`vocab ${name}`, () => {
    if (typeof v === "string") {
      test("reference ids", (t) => t.skip(v));
      return;
    }

    test("every test string gives the reference ids", async () => {
      checkCases(await v.load(), v.cases, name);
    });

    test("decode(encode(s)) == s", async () => {
      const tok = await v.load();
      for (const c of v.cases) assert.equal(tok.decode(tok.encode(c.text)), c.text, JSON.stringify(c.text));
    });

    test("tokenizer.json form gives the same ids", async () => {
      const { tokenizer, config } = (await v.load()).toTokenizerJson();
      const again = loadTokenizerJson(JSON.parse(JSON.stringify(tokenizer)), JSON.parse(JSON.stringify(config)));
      checkCases(again, v.cases, `${name} via tokenizer.json`);
      for (const c of v.cases) assert.equal(again.decode(again.encode(c.text)), c.text);
    });

    test("GGUF form (from the tokenizer.json form) gives the same ids", async () => {
      const tok = await v.load();
      const { tokenizer, config } = tok.toTokenizerJson();
      const metadata = loadTokenizerJson(tokenizer, config).toGGUFMetadata();
      const [model, pre] = GGUF_KIND[name];
      assert.equal(metadata["tokenizer.ggml.model"], model);
      assert.equal(metadata["tokenizer.ggml.pre"], pre);
      if (model === "llama") {
        // The scores alone reproduce the merge list, so none is written.
        assert.equal(metadata["tokenizer.ggml.merges"], undefined);
        assert.equal((metadata["tokenizer.ggml.scores"] as number[]).length, tok.vocabSize);
      }
      const again = tokenizerFromGGUF(metadata);
      checkCases(again, v.cases, `${name} via GGUF metadata`);
      assert.equal(again.vocabSize, tok.vocabSize);
      assert.equal(again.bosId, tok.bosId);
      assert.equal(again.addBos, tok.addBos);
      assert.deepEqual([...again.eosIds].sort(), [...tok.eosIds].sort());
    });
  });
}

describe("GGUF metadata", () => {
  test("a GGUF-loaded tokenizer returns its own metadata", async (t) => {
    const v = referenceVocab("llama-spm");
    if (typeof v === "string") return t.skip(v);
    const md = (await v.load()).toGGUFMetadata();
    assert.equal(md["tokenizer.ggml.model"], "llama");
    assert.equal((md["tokenizer.ggml.scores"] as number[]).length, 32000);
    assert.equal(md["tokenizer.ggml.add_bos_token"], true);
  });
});
