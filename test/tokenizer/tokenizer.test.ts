// The Tokenizer API on small hand-made vocabularies (no test data needed): special and added
// tokens, BOS/EOS, token bytes, SentencePiece spaces, every GGUF pre-tokenizer name, errors.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte-level.js";
import { GGUF_PRE_TOKENIZERS } from "../../src/tokenizer/gguf-pre.js";
import { loadTokenizerFile, loadTokenizerJson, tokenizerFromGGUF } from "../../src/tokenizer/load.js";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { referenceVocab } from "../../src/tokenizer/vocab-testdata.js";

const enc = (s: string): number[] => [...new TextEncoder().encode(s)];

/** Byte-level BPE: the 256 byte characters (id = byte), a few merges, three added tokens. */
function byteLevelJson(): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((ch, b) => (vocab[ch] = b));
  const merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["l", "l"], ["he", "ll"], ["hell", "o"]];
  merges.forEach(([a, b]) => (vocab[a + b] ??= Object.keys(vocab).length));
  const added = [
    { id: 262, content: "<|bos|>", special: true },
    { id: 263, content: "<|eos|>", special: true },
    { id: 264, content: "<x>", special: false },
  ].map((t) => ({ single_word: false, lstrip: false, rstrip: false, normalized: false, ...t }));
  return {
    tokenizer: {
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|bos|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [],
        special_tokens: { "<|bos|>": { id: "<|bos|>", ids: [262], tokens: ["<|bos|>"] } },
      },
      decoder: { type: "ByteLevel" },
      model: { type: "BPE", vocab, merges, unk_token: null, byte_fallback: false, fuse_unk: false },
    },
    config: { bos_token: "<|bos|>", eos_token: { content: "<|eos|>" } },
  };
}

/** SentencePiece-style GGUF metadata: <unk> <s> </s>, 256 byte tokens, a few pieces with scores. */
function spmMetadata(): Record<string, unknown> {
  const pieces: [string, number][] = [["▁", -1], ["a", -2], ["b", -3], ["▁a", -4], ["ab", -5], ["▁ab", -6], ["▁▁", -7]];
  const tokens = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`), ...pieces.map((p) => p[0])];
  return {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.scores": [0, 0, 0, ...new Array(256).fill(0), ...pieces.map((p) => p[1])],
    "tokenizer.ggml.token_type": [2, 3, 3, ...new Array(256).fill(6), ...pieces.map(() => 1)],
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.unknown_token_id": 0,
  };
}

/** Byte-level GGUF metadata with the given pre-tokenizer name. */
function gpt2Metadata(pre: string | undefined): Record<string, unknown> {
  const md: Record<string, unknown> = {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.tokens": [...BYTE_TO_CHAR, "Ġt", "he", "Ġthe", "<|endoftext|>"],
    "tokenizer.ggml.token_type": [...new Array(259).fill(1), 3],
    "tokenizer.ggml.merges": ["Ġ t", "h e", "Ġt he"],
    "tokenizer.ggml.eos_token_id": 259,
  };
  if (pre !== undefined) md["tokenizer.ggml.pre"] = pre;
  return md;
}

describe("tokenizer.json API", () => {
  const { tokenizer, config } = byteLevelJson();
  const tok = loadTokenizerJson(tokenizer, config);

  test("BPE merges and decode", () => {
    assert.deepEqual(tok.encode("hello the"), [261, 258]); // "hello", "Ġthe"
    assert.equal(tok.decode(tok.encode("hello the")), "hello the");
    assert.equal(tok.vocabSize, 265);
  });

  test("special tokens only with parseSpecial; non-special added tokens always", () => {
    assert.deepEqual(tok.encode("<|bos|>hi", { parseSpecial: true }), [262, ...enc("hi")]);
    assert.deepEqual(tok.encode("<|bos|>hi"), enc("<|bos|>hi"));
    assert.deepEqual(tok.encode("a<x>b"), [...enc("a"), 264, ...enc("b")]);
    assert.ok(tok.isSpecial(262) && tok.isSpecial(263));
    assert.ok(!tok.isSpecial(264) && !tok.isSpecial(104));
  });

  test("BOS/EOS from the template and the config", () => {
    assert.equal(tok.bosId, 262);
    assert.deepEqual(tok.eosIds, [263]);
    assert.equal(tok.addBos, true);
    assert.equal(tok.addEos, false);
    assert.deepEqual(tok.encode("hi", { addSpecial: true }), [262, ...enc("hi")]);
    const noBos = loadTokenizerJson(tokenizer, { ...config, add_bos_token: false, add_eos_token: true });
    assert.deepEqual(noBos.encode("hi", { addSpecial: true }), [...enc("hi"), 263]);
  });

  test("token bytes and decoding with special tokens", () => {
    assert.deepEqual([...tok.tokenBytes(tok.tokenToId("Ġ") as number)], [0x20]);
    assert.deepEqual([...tok.tokenBytes(0xe2)], [0xe2]);
    assert.equal(tok.idToToken(262), "<|bos|>");
    assert.equal(new TextDecoder().decode(tok.tokenBytes(262)), "<|bos|>");
    assert.equal(tok.decode([262, 104, 105]), "<|bos|>hi");
    assert.equal(tok.decode([262, 104, 105], { skipSpecial: true }), "hi");
  });
});

describe("SentencePiece-style GGUF vocabulary", () => {
  const tok = tokenizerFromGGUF(spmMetadata());
  const id = (t: string): number => tok.tokenToId(t) as number;

  test("space prefix, merges by score, byte fallback", () => {
    assert.deepEqual(tok.encode("ab a"), [id("▁ab"), id("▁a")]);
    assert.deepEqual(tok.encode("é"), [id("▁"), id("<0xC3>"), id("<0xA9>")]);
    assert.deepEqual(tok.encode("ab", { addSpecial: true }), [1, id("▁ab")]);
    assert.equal(tok.addBos, true);
  });

  test("decode drops the added leading space once", () => {
    for (const s of ["ab a", " ab", "  a", "é b", ""]) assert.equal(tok.decode(tok.encode(s)), s);
    assert.deepEqual([...tok.tokenBytes(id("▁ab"))], enc(" ab"));
    assert.deepEqual([...tok.pieceBytes(id("▁ab"), true)], enc("ab"));
    assert.deepEqual([...tok.tokenBytes(id("<0x41>"))], [0x41]);
  });

  test("writes back as the same GGUF keys and as tokenizer.json", () => {
    const md = tok.toGGUFMetadata();
    assert.deepEqual(md["tokenizer.ggml.tokens"], spmMetadata()["tokenizer.ggml.tokens"]);
    const viaJson = loadTokenizerJson(tok.toTokenizerJson().tokenizer, tok.toTokenizerJson().config);
    assert.deepEqual(viaJson.encode("ab a é"), tok.encode("ab a é"));
    const back = viaJson.toGGUFMetadata();
    assert.equal(back["tokenizer.ggml.model"], "llama");
    assert.deepEqual(tokenizerFromGGUF(back).encode("ab a é b"), tok.encode("ab a é b"));
  });
});

describe("GGUF pre-tokenizer names", () => {
  const sample = "Hello, world! It's 2024-06-01: 12345 apples & ½ pear.\n\n\tcode_x = f(y) // 日本語 한국어 Привет 🦙  end  ";

  test("every known name gives a working byte-level tokenizer", () => {
    for (const name of GGUF_PRE_TOKENIZERS.keys()) {
      const tok = tokenizerFromGGUF(gpt2Metadata(name), { source: `pre ${name}` });
      assert.equal(tok.decode(tok.encode(sample)).normalize("NFC"), sample, name);
    }
  });

  test("tokenizer.json made from each name is written back as an equivalent name", () => {
    for (const [name, spec] of GGUF_PRE_TOKENIZERS) {
      const tok = tokenizerFromGGUF(gpt2Metadata(name));
      const { tokenizer, config } = tok.toTokenizerJson();
      const md = loadTokenizerJson(tokenizer, config).toGGUFMetadata();
      const written = GGUF_PRE_TOKENIZERS.get(md["tokenizer.ggml.pre"] as string);
      assert.ok(written, `${name} written as ${String(md["tokenizer.ggml.pre"])}`);
      assert.deepEqual([written.normalizer, written.preTokenizer, written.ignoreMerges ?? false], [spec.normalizer, spec.preTokenizer, spec.ignoreMerges ?? false], name);
      assert.deepEqual(tokenizerFromGGUF(md).encode(sample), tok.encode(sample), name);
    }
    assert.equal(loadTokenizerJson(tokenizerFromGGUF(gpt2Metadata("llama3")).toTokenizerJson().tokenizer).toGGUFMetadata()["tokenizer.ggml.pre"], "llama-bpe");
  });

  test("an unknown name falls back to the default with a warning", (t) => {
    const warn = t.mock.method(console, "warn", () => undefined);
    const tok = tokenizerFromGGUF(gpt2Metadata("no-such-pre"), { source: "x.gguf" });
    assert.equal(warn.mock.callCount(), 1);
    assert.match(String(warn.mock.calls[0].arguments[0]), /x\.gguf: unknown tokenizer\.ggml\.pre "no-such-pre"/);
    assert.deepEqual(tok.encode(sample), tokenizerFromGGUF(gpt2Metadata("default")).encode(sample));
    assert.deepEqual(tok.encode(sample), tokenizerFromGGUF(gpt2Metadata(undefined)).encode(sample));
  });

  test("tokenizer.json with an unknown pre-tokenizer keeps it whole in GGUF", (t) => {
    t.mock.method(console, "warn", () => undefined);
    const { tokenizer, config } = byteLevelJson();
    const custom = { ...tokenizer, pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: "[a-z]+" }, behavior: "Isolated", invert: false }, { type: "ByteLevel", use_regex: false }] } };
    const tok = loadTokenizerJson(custom, config);
    const md = tok.toGGUFMetadata();
    assert.equal(md["tokenizer.ggml.pre"], "default");
    assert.equal(typeof md["tokenizer.huggingface.json"], "string");
    assert.deepEqual(tokenizerFromGGUF(md).encode("hello the other"), tok.encode("hello the other"));
  });
});

describe("qwen3 tokenizer.json", () => {
  test("chat markup, <think> and end-of-generation ids", async (t) => {
    const v = referenceVocab("qwen2");
    if (typeof v === "string") return t.skip(v);
    const tok = await v.load();
    const text = "<|im_start|>user\nhi<think>x</think><|im_end|>";
    assert.deepEqual(tok.encode(text, { parseSpecial: true }), [151644, 872, 198, 6023, 151667, 87, 151668, 151645]);
    const plain = tok.encode(text);
    assert.ok(!plain.includes(151644) && plain.includes(151667), "specials as text, <think> still one token");
    assert.deepEqual([...tok.eosIds].sort(), [151643, 151645]);
    assert.equal(tok.bosId, undefined);
    assert.equal(tok.addBos, false);
    assert.equal(tok.decode(tok.encode(text, { parseSpecial: true })), text);
  });
});

describe("other tokenizer.json shapes", () => {
  test("Metaspace pre-tokenizer and decoder (newer SentencePiece exports) give the same ids", async (t) => {
    const v = referenceVocab("llama-spm");
    if (typeof v === "string") return t.skip(v);
    const { tokenizer, config } = (await v.load()).toTokenizerJson();
    const metaspace = {
      ...tokenizer,
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
      decoder: { type: "Sequence", decoders: [{ type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false }, { type: "ByteFallback" }, { type: "Fuse" }] },
    };
    const tok = loadTokenizerJson(metaspace, config);
    // Text that starts with a space differs: Metaspace adds no "▁" in front of one (HF does the same).
    for (const c of v.cases.filter((c) => !c.text.startsWith(" "))) {
      assert.deepEqual(tok.encode(c.text), c.ids, JSON.stringify(c.text));
      assert.equal(tok.decode(c.ids), c.text);
    }
  });

  test("added tokens with lstrip/rstrip eat the whitespace beside them", () => {
    const { tokenizer, config } = byteLevelJson();
    const added = (tokenizer.added_tokens as Record<string, unknown>[]).map((t) => (t.id === 264 ? { ...t, lstrip: true, rstrip: true } : t));
    const tok = loadTokenizerJson({ ...tokenizer, added_tokens: added }, config);
    assert.deepEqual(tok.encode("a  <x>\n b"), [...enc("a"), 264, ...enc("b")]);
  });

  test("WordPiece goes through the JS library", () => {
    const tok = loadTokenizerJson({
      normalizer: null,
      pre_tokenizer: { type: "WhitespaceSplit" },
      decoder: { type: "WordPiece", prefix: "##", cleanup: false },
      model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: { "[UNK]": 0, hello: 1, hel: 2, "##lo": 3 } },
    });
    assert.deepEqual(tok.encode("hello hellolo xyz"), [1, 1, 3, 0]);
    assert.equal(tok.decode([1, 1, 3]), "hello hellolo");
  });
});

describe("errors name the file and the problem in one line", () => {
  const oneLine = (f: () => unknown, re: RegExp): void => {
    assert.throws(f, (e: Error) => {
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"), e.message);
      return true;
    });
  };

  test("malformed tokenizer.json objects", () => {
    oneLine(() => loadTokenizerJson({}), /^tokenizer\.json: missing "model" object$/);
    oneLine(() => loadTokenizerJson({ model: { type: "BPE", vocab: [], merges: [] } }, {}, { source: "m/tokenizer.json" }), /^m\/tokenizer\.json: model\.vocab/);
    oneLine(() => loadTokenizerJson({ model: { type: "BPE", vocab: { a: "x" }, merges: [] } }), /model\.vocab\["a"\] is not a non-negative integer id/);
    oneLine(() => loadTokenizerJson({ model: { type: "BPE", vocab: { a: 0 }, merges: ["a"] } }), /model\.merges\[0\] "a" is not "left right"/);
    oneLine(() => loadTokenizerJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: [{ content: "x" }] }), /added_tokens\[0\]/);
  });

  test("files", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-tok-"));
    try {
      const bad = path.join(dir, "tokenizer.json");
      fs.writeFileSync(bad, "{ not json");
      await assert.rejects(loadTokenizerFile(bad), (e: Error) => e.message.startsWith(`${bad}: invalid JSON`) && !e.message.includes("\n"));
      await assert.rejects(loadTokenizerFile(path.join(dir, "nope.json")), /nope\.json: no such file or folder/);
      const empty = path.join(dir, "empty");
      fs.mkdirSync(empty);
      await assert.rejects(loadTokenizerFile(empty), /empty: no tokenizer\.json in this folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("malformed GGUF vocabularies", () => {
    oneLine(() => tokenizerFromGGUF({ "tokenizer.ggml.model": "gpt2" }, { source: "v.gguf" }), /^v\.gguf: missing tokenizer\.ggml\.tokens$/);
    oneLine(() => tokenizerFromGGUF({ ...gpt2Metadata("gpt-2"), "tokenizer.ggml.model": "bert" }, { source: "v.gguf" }), /^v\.gguf: unsupported tokenizer\.ggml\.model "bert"/);
    oneLine(() => tokenizerFromGGUF({ ...spmMetadata(), "tokenizer.ggml.scores": [1, 2] }, { source: "v.gguf" }), /^v\.gguf: tokenizer\.ggml\.scores has 2 entries for 266 tokens$/);
    oneLine(() => tokenizerFromGGUF({ ...gpt2Metadata("gpt-2"), "tokenizer.ggml.merges": ["Ġ q"] }, { source: "v.gguf" }), /^v\.gguf: merge 0 \("Ġ q"\) uses "Ġq"/);
  });
});

/** Loads each GGUF reference file through loadTokenizerFile's folder and file paths alike. */
test("loadTokenizerFile reads a GGUF vocabulary file", async (t) => {
  const v = referenceVocab("gpt-2");
  if (typeof v === "string") return t.skip(v);
  const tok: Tokenizer = await v.load();
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.toGGUFMetadata()["tokenizer.ggml.pre"], "gpt-2");
});
