// Hyperparameters out of range, token ids outside the vocabulary, and tensors that do not
// match what the architecture expects for their name: each refused at load with one line
// naming the file and the field, instead of NaN logits, an empty sampler or a crash later.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModel } from "../../src/model/load.js";
import { readGGUF, writeGGUF, type GGUFWriteValue, type TensorToWrite } from "../../src/formats/gguf.js";
import { dequantize, quantize } from "../../src/formats/quant.js";
import type { WeightType } from "../../src/formats/dtype.js";
import { tempDir, testModel } from "../helpers/models.js";
import { rejectsWithFormatError } from "../helpers/format-error.js";
import { IsolatedLoader } from "../helpers/isolated-load.js";
import {
  appendGGUFArray, editJson, editSafetensors, ggufFields, ggufKV, ggufString, scalarBytes, setGGUFNumber, setGGUFScalar, setGGUFStringField,
} from "../helpers/model-fields.js";

const U32 = 4, I32 = 5, F32 = 6;

const ggufPath = (): Promise<string> => testModel("ranges-llama-gguf-f16", { arch: "llama", format: "gguf", dtype: "f16", seed: 7 });
const hfPath = (): Promise<string> => testModel("ranges-llama-hf-f16", { arch: "llama", format: "hf", dtype: "f16", seed: 7 });

let n = 0;
function writeGGUFBytes(b: Buffer, name: string): string {
  const p = path.join(tempDir(), `ranges-${n++}-${name}.gguf`);
  fs.writeFileSync(p, b);
  return p;
}

/** A copy of the HF test folder with one JSON file edited; returns the folder. */
async function hfWith(file: string, edit: (j: Record<string, unknown>) => void): Promise<string> {
  const dir = path.join(tempDir(), `ranges-${n++}-hf`);
  fs.cpSync(await hfPath(), dir, { recursive: true });
  const p = path.join(dir, file);
  fs.writeFileSync(p, editJson(fs.readFileSync(p), edit));
  return dir;
}

test("GGUF hyperparameters out of range name their key", async () => {
  const b = fs.readFileSync(await ggufPath());
  const cases: [string, number, number, string][] = [
    ["llama.rope.freq_base", F32, 0, "must be a finite number > 0, got 0"],
    ["llama.rope.freq_base", F32, -1, "must be a finite number > 0, got -1"],
    ["llama.rope.freq_base", F32, NaN, "must be a finite number, got NaN"],
    ["llama.rope.freq_base", F32, Infinity, "must be a finite number, got Infinity"],
    ["llama.attention.layer_norm_rms_epsilon", F32, -1e-5, "must be a finite number > 0"],
    ["llama.attention.layer_norm_rms_epsilon", F32, 0, "must be a finite number > 0, got 0"],
    ["llama.context_length", U32, 0, "must be an integer >= 1, got 0"],
    ["llama.context_length", I32, -1, "must be an integer >= 1, got -1"],
    ["llama.block_count", U32, 0, "must be an integer >= 1, got 0"],
    ["llama.embedding_length", U32, 0, "must be an integer >= 1, got 0"],
    ["llama.attention.head_count_kv", U32, 3, "3 does not divide llama.attention.head_count (4)"],
    ["llama.attention.key_length", U32, 63, "head dim 63 is odd"],
    ["llama.rope.dimension_count", U32, 32, "32 differs from the head dim 64"],
    ["llama.vocab_size", U32, 1000, "1000 tokens, but the token embedding has 1024 rows"],
    ["tokenizer.ggml.eos_token_id", U32, 5000, "5000 is not a token of the model's vocabulary (1024 tokens)"],
    ["tokenizer.ggml.padding_token_id", U32, 1024, "1024 is not a token id (the vocabulary has 1024 tokens)"],
  ];
  for (const [key, type, value, needle] of cases) {
    const p = writeGGUFBytes(setGGUFScalar(b, key, type, value), key);
    await rejectsWithFormatError(loadModel(p), p, `${key}: ${needle}`);
  }
  // A BOS id (the test vocabulary has none: padding_token_id becomes bos_token_id).
  const f = ggufFields(b);
  const bos = setGGUFNumber(setGGUFStringField(b, ggufKV(f, "tokenizer.ggml.padding_token_id").key, "tokenizer.ggml.bos_token_id"), "tokenizer.ggml.bos_token_id", 4096);
  const p = writeGGUFBytes(bos, "bos");
  await rejectsWithFormatError(loadModel(p), p, "tokenizer.ggml.bos_token_id: 4096 is not a token");
});

test("a GGUF vocabulary with more tokens than the embedding has rows", async () => {
  const b = fs.readFileSync(await ggufPath());
  const more = appendGGUFArray(appendGGUFArray(b, "tokenizer.ggml.tokens", ggufString("zzzz")), "tokenizer.ggml.token_type", scalarBytes(I32, 1));
  const p = writeGGUFBytes(more, "more-tokens");
  await rejectsWithFormatError(loadModel(p), p, "tokenizer.ggml.tokens: 1025 tokens, but token_embd.weight has 1024 rows");
});

test("config.json fields out of range name their key", async () => {
  const cases: [string, (j: Record<string, unknown>) => void, string][] = [
    ["config.json", (j) => { j.rope_theta = 0; }, "rope_theta: must be a finite number > 0, got 0"],
    ["config.json", (j) => { j.rope_theta = -1; }, "rope_theta: must be a finite number > 0, got -1"],
    ["config.json", (j) => { j.rms_norm_eps = -1e-6; }, "rms_norm_eps: must be a finite number > 0"],
    ["config.json", (j) => { j.rms_norm_eps = "1e-6"; }, 'rms_norm_eps: must be a finite number, got "1e-6"'],
    ["config.json", (j) => { j.max_position_embeddings = 0; }, "max_position_embeddings: must be an integer >= 1, got 0"],
    ["config.json", (j) => { j.max_position_embeddings = -1; }, "max_position_embeddings: must be an integer >= 1, got -1"],
    ["config.json", (j) => { j.num_hidden_layers = 2 ** 32 - 1; }, "num_hidden_layers: 4294967295 is too large"],
    ["config.json", (j) => { j.hidden_size = 0; }, "hidden_size: must be an integer >= 1, got 0"],
    ["config.json", (j) => { j.intermediate_size = 1.5; }, "intermediate_size: must be an integer >= 1, got 1.5"],
    ["config.json", (j) => { delete j.head_dim; j.num_attention_heads = 3; }, "num_attention_heads: 3 heads do not divide hidden_size (256)"],
    ["config.json", (j) => { j.num_key_value_heads = 3; }, "num_key_value_heads: 3 does not divide num_attention_heads (4)"],
    ["config.json", (j) => { j.vocab_size = 300; }, "vocab_size: 300 tokens, but the token embedding has 1024 rows"],
    ["config.json", (j) => { j.bos_token_id = 99999; }, "bos_token_id: 99999 is not a token of the model's vocabulary (1024 tokens)"],
    ["config.json", (j) => { j.eos_token_id = [1, 1024]; }, "eos_token_id: 1024 is not a token"],
    ["config.json", (j) => { j.eos_token_id = "</s>"; }, 'eos_token_id: must be token ids, got "</s>"'],
    ["config.json", (j) => { j.rope_scaling = { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 4 }; },
      "rope_scaling.high_freq_factor: 4 must be above low_freq_factor (4)"],
    ["config.json", (j) => { j.rope_scaling = { rope_type: "llama3", factor: 0 }; }, "rope_scaling.factor: must be a finite number > 0, got 0"],
    ["generation_config.json", (j) => { j.eos_token_id = 99999; }, "eos_token_id: 99999 is not a token"],
  ];
  for (const [file, edit, needle] of cases) {
    const dir = await hfWith(file, edit);
    await rejectsWithFormatError(loadModel(dir), path.join(dir, file), needle);
  }
});

test("tokenizer.json ids beyond the embedding, and ids given to two tokens", async () => {
  const cases: [(j: Record<string, unknown>) => void, string][] = [
    [(j) => { (j.model as { vocab: Record<string, number> }).vocab.zzzz = 5000; },
      'model.vocab["zzzz"]: id 5000 is beyond the model\'s 1024 embedding rows'],
    [(j) => { (j.model as { vocab: Record<string, number> }).vocab.zzzz = 2 ** 32 - 1; }, "id 4294967295 is beyond"],
    [(j) => { (j.added_tokens as { id: number }[])[0]!.id = 1024; }, "added_tokens[0]: id 1024 is beyond"],
    [(j) => { const v = (j.model as { vocab: Record<string, number> }).vocab; v.e = v.t!; }, "model.vocab: tokens"],
    [(j) => { (j.added_tokens as { id: number }[])[0]!.id = 5; }, 'added_tokens[0]: id 5 of "<|endoftext|>" is already the id of'],
    [(j) => { const a = j.added_tokens as { id: number }[]; a[1]!.id = a[0]!.id; }, "added_tokens[1]: id"],
  ];
  for (const [edit, needle] of cases) {
    const dir = await hfWith("tokenizer.json", edit);
    await rejectsWithFormatError(loadModel(dir), path.join(dir, "tokenizer.json"), needle);
  }
});

test("tokenizer.json parts that would only fail at the first encode or decode fail the load", async () => {
  const cases: [(j: Record<string, unknown>) => void, string][] = [
    [(j) => { j.decoder = { type: "X" }; }, "Unknown Decoder type: X"],
    [(j) => { (j.model as Record<string, unknown>).type = "Unigram"; }, "model.vocab must be a list of [piece, score] for a Unigram model"],
    [(j) => { (j.model as Record<string, unknown>).type = "X"; }, 'model.type: "X" is not a tokenizer model'],
  ];
  for (const [edit, needle] of cases) {
    const dir = await hfWith("tokenizer.json", edit);
    await rejectsWithFormatError(loadModel(dir), path.join(dir, "tokenizer.json"), needle);
  }
  // Special tokens the post-processor adds must be in the vocabulary (tokenizer_config.json
  // then leaves BOS to the post-processor).
  const dir = await hfWith("tokenizer.json", (j) => {
    j.post_processor = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<x>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      special_tokens: { "<x>": { id: "<x>", ids: [99999], tokens: ["<x>"] } } };
  });
  const cfg = path.join(dir, "tokenizer_config.json");
  fs.writeFileSync(cfg, editJson(fs.readFileSync(cfg), (j) => { delete j.add_bos_token; }));
  await rejectsWithFormatError(loadModel(dir), path.join(dir, "tokenizer.json"), "post_processor: special token id 99999 is not in the vocabulary");
});

test("what llama.cpp would refuse too: an unknown GGUF tensor, a missing required key; and what HF would not run", async () => {
  const b = fs.readFileSync(await ggufPath());
  const f = ggufFields(b);
  const renamed = writeGGUFBytes(setGGUFStringField(b, f.tensors[f.tensors.length - 1]!.name, "output.weight.renamed"), "renamed");
  await rejectsWithFormatError(loadModel(renamed), renamed, 'tensor "output.weight.renamed": not a tensor of this architecture');
  for (const key of ["llama.attention.layer_norm_rms_epsilon", "llama.context_length", "llama.block_count"]) {
    const p = writeGGUFBytes(setGGUFStringField(b, ggufKV(f, key).key, `${key}.x`), `no-${key}`);
    await rejectsWithFormatError(loadModel(p), p, `${key}: missing`);
  }
  const untied = await hfWith("config.json", (j) => { j.tie_word_embeddings = false; });
  fs.rmSync(path.join(untied, "model.safetensors"));
  fs.writeFileSync(path.join(untied, "model.safetensors"), editSafetensors(fs.readFileSync(path.join(await hfPath(), "model.safetensors")), (h) => {
    h["lm_head.unused"] = h["lm_head.weight"];
    delete h["lm_head.weight"];
  }));
  await rejectsWithFormatError(loadModel(untied), untied, 'tensor "lm_head.weight": missing (config.json says tie_word_embeddings: false)');
  const gelu = await hfWith("config.json", (j) => { j.hidden_act = "gelu"; });
  await rejectsWithFormatError(loadModel(gelu), path.join(gelu, "config.json"), 'hidden_act: "gelu" is not supported');
  const mlpBias = await hfWith("config.json", (j) => { j.mlp_bias = true; });
  await rejectsWithFormatError(loadModel(mlpBias), path.join(mlpBias, "config.json"), "mlp_bias: MLP biases are not supported");
});

/** The test GGUF rewritten, consistently laid out, with tensors changed by `edit`. */
async function rewritten(name: string, edit: (t: { name: string; type: WeightType; shape: number[] }) => { type: WeightType; shape: number[] } | null): Promise<string> {
  const src = await readGGUF(await ggufPath());
  const meta: Record<string, GGUFWriteValue> = {};
  for (const [k, v] of Object.entries(src.metadata)) {
    if (Array.isArray(v)) meta[k] = typeof v[0] === "string" ? (v as string[]) : k.endsWith("scores") ? Float32Array.from(v as number[]) : Int32Array.from(v as number[]);
    else if (typeof v === "number" && !Number.isInteger(v)) meta[k] = { type: "f32", value: v };
    else meta[k] = v as GGUFWriteValue;
  }
  const tensors: TensorToWrite[] = [];
  for (const t of src.tensors.values()) {
    const to = edit({ name: t.name, type: t.type, shape: [...t.shape] });
    if (!to) continue;
    const count = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
    tensors.push({
      name: t.name, type: to.type, shape: to.shape,
      data: () => {
        const v = dequantize(t.type, src.bytes.slice(t.offset, t.byteLength), count(t.shape));
        const w = new Float32Array(count(to.shape));
        w.set(v.subarray(0, Math.min(v.length, w.length)));
        return quantize(to.type, w);
      },
    });
  }
  const out = path.join(tempDir(), `ranges-${n++}-${name}.gguf`);
  writeGGUF(out, meta, tensors);
  src.bytes.close();
  return out;
}

test("tensors must have the type and shape the architecture expects for their name", async () => {
  const good = await rewritten("same", (t) => t);
  (await loadModel(good)).close();
  const q8norm = await rewritten("norm-q8", (t) => (t.name === "blk.0.attn_norm.weight" ? { ...t, type: "q8_0" } : t));
  await rejectsWithFormatError(loadModel(q8norm), q8norm, 'tensor "blk.0.attn_norm.weight" type: q8_0, but norm and bias vectors must be f32, f16 or bf16');
  const embd = await rewritten("embd", (t) => (t.name === "token_embd.weight" ? { ...t, shape: [1024, 128] } : t));
  await rejectsWithFormatError(loadModel(embd), embd, 'tensor "token_embd.weight" shape: [1024, 128], but the GGUF metadata makes it [1024, 256]');
  const missing = await rewritten("missing", (t) => (t.name === "blk.1.ffn_up.weight" ? null : t));
  await rejectsWithFormatError(loadModel(missing), missing, 'tensor "blk.1.ffn_up.weight": missing');
  const bias = await rewritten("bias", (t) => (t.name === "blk.0.attn_norm.weight" ? { ...t, shape: [100] } : t));
  await rejectsWithFormatError(loadModel(bias), bias, 'tensor "blk.0.attn_norm.weight" shape: [100]');
  // A shape check against the HF names of a folder.
  const dir = await hfWith("config.json", (j) => { j.intermediate_size = 384; });
  await rejectsWithFormatError(loadModel(dir), path.join(dir, "model.safetensors"),
    'tensor "model.layers.0.mlp.gate_proj.weight" shape: [512, 256], but config.json makes it [384, 256]');
});

const loader = new IsolatedLoader({ heapMb: 256 });
after(() => loader.close());

test("block_count 0xFFFFFFFF: a clear error in well under a second, in a 256 MB heap", async () => {
  const b = fs.readFileSync(await ggufPath());
  const p = writeGGUFBytes(setGGUFNumber(b, "llama.block_count", 0xffffffff), "block-count");
  const r = await loader.load(p, 20_000);
  assert.equal(r.kind, "refused", JSON.stringify(r));
  if (r.kind !== "refused") return;
  assert.ok(r.formatError);
  assert.equal(r.message, `${p}: llama.block_count: 4294967295 is too large: the file holds only 21 tensors`);
  assert.ok(r.ms < 500, `${r.ms} ms`);
  // The same through config.json.
  const dir = await hfWith("config.json", (j) => { j.num_hidden_layers = 0xffffffff; });
  const h = await loader.load(dir, 20_000);
  assert.equal(h.kind, "refused", JSON.stringify(h));
  if (h.kind === "refused") assert.ok(h.ms < 500 && h.message.includes("num_hidden_layers: 4294967295 is too large"), h.message);
});

test("sliding windows: every layer's (Mistral 7B v0.1's 4096), or layer_types' sliding layers; none when turned off or null; the context stays the model's", async () => {
  const w = (n: number, from = 0): number[] => Array.from({ length: 2 }, (_, i) => (i >= from ? n : 0));
  const cases: [(j: Record<string, unknown>) => void, number[] | undefined][] = [
    [(j) => { j.sliding_window = 1000; }, w(1000)],
    [(j) => { j.sliding_window = 1000; j.use_sliding_window = false; }, undefined], // Qwen2's form: off
    [(j) => { j.sliding_window = null; }, undefined], // Mistral v0.2's
    [(j) => { j.sliding_window = 100000; }, w(100000)],
    [(j) => { j.sliding_window = 64; j.layer_types = ["full_attention", "sliding_attention"]; }, w(64, 1)],
  ];
  for (const [edit, windows] of cases) {
    const m = await loadModel(await hfWith("config.json", edit));
    try {
      assert.deepEqual(m.config.attentionWindows, windows);
      assert.equal(m.config.maxPositionEmbeddings, 2048);
    } finally {
      m.close();
    }
  }
  const types = await hfWith("config.json", (j) => { j.sliding_window = 64; j.layer_types = ["full_attention"]; });
  await rejectsWithFormatError(loadModel(types), path.join(types, "config.json"), "layer_types: must name sliding_attention or full_attention for each of the 2 layers");
  const dir = await hfWith("config.json", (j) => { j.sliding_window = 0.5; });
  await rejectsWithFormatError(loadModel(dir), path.join(dir, "config.json"), "sliding_window: must be an integer >= 1");
});
