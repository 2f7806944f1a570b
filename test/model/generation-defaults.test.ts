// A model's own sampling defaults: generation_config.json's fields in an HF folder, llama.cpp's
// general.sampling.* keys in a GGUF, the converter carrying one into the other, and a bad value
// refused at load with one line naming the file and the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModel } from "../../src/model/load.js";
import { convertToGGUF } from "../../src/model/convert.js";
import { readGGUF } from "../../src/formats/gguf.js";
import { tempDir, testModel } from "../helpers/models.js";
import { rejectsWithFormatError } from "../helpers/format-error.js";
import { setGGUFNumber } from "../helpers/model-fields.js";

const hfPath = (): Promise<string> => testModel("gendefaults-llama-hf-f16", { arch: "llama", format: "hf", dtype: "f16", seed: 7 });

let n = 0;
/** A copy of the HF test folder with this generation_config.json. */
async function hfWith(gen: Record<string, unknown>): Promise<string> {
  const dir = path.join(tempDir(), `gendefaults-${n++}-hf`);
  fs.cpSync(await hfPath(), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify(gen));
  return dir;
}

const QWEN3 = { bos_token_id: 151643, do_sample: true, eos_token_id: [1, 2], temperature: 0.6, top_k: 20, top_p: 0.95, min_p: 0, repetition_penalty: 1.05 };

test("generation_config.json's sampling fields are the model's defaults, and convert writes them as GGUF general.sampling.* keys", async () => {
  const { bos_token_id: _bos, ...gen } = QWEN3;
  const dir = await hfWith(gen);
  const hf = await loadModel(dir);
  const want = { temperature: 0.6, topK: 20, topP: 0.95, minP: 0, repetitionPenalty: 1.05 };
  try {
    assert.deepEqual(hf.generationDefaults, want);
  } finally {
    hf.close();
  }
  const out = path.join(tempDir(), `gendefaults-${n++}.gguf`);
  await convertToGGUF({ src: dir, out, dtype: "f16" });
  const f = await readGGUF(out);
  try {
    assert.equal(f.metadata["general.sampling.temp"], Math.fround(0.6));
    assert.equal(f.metadata["general.sampling.top_k"], 20);
    assert.equal(f.metadata["general.sampling.penalty_repeat"], Math.fround(1.05));
  } finally {
    f.bytes.close();
  }
  // Read back from f32 to the digits an f32 holds: the two formats agree exactly.
  const gg = await loadModel(out);
  try {
    assert.deepEqual(gg.generationDefaults, want);
  } finally {
    gg.close();
  }
});

test("do_sample false means greedy whatever temperature says; no generation_config means no defaults", async () => {
  const greedy = await loadModel(await hfWith({ do_sample: false, temperature: 0.7, top_p: 0.9 }));
  const bare = await loadModel(await hfWith({ eos_token_id: 1 }));
  try {
    assert.deepEqual(greedy.generationDefaults, { temperature: 0, topP: 0.9 });
    assert.deepEqual(bare.generationDefaults, {});
  } finally {
    greedy.close();
    bare.close();
  }
});

test("a bad sampling default in generation_config.json is a one-line FormatError naming the file and field", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ temperature: -1 }, "temperature: must be a number >= 0, got -1"],
    [{ temperature: "hot" }, "temperature: must be a finite number"],
    [{ top_p: 0 }, "top_p: must be a number in (0, 1], got 0"],
    [{ top_p: 1.5 }, "top_p: must be a number in (0, 1], got 1.5"],
    [{ top_k: 2.5 }, "top_k: must be an integer >= -1"],
    [{ min_p: 2 }, "min_p: must be a number in [0, 1], got 2"],
    [{ repetition_penalty: 0 }, "repetition_penalty: must be a number > 0, got 0"],
    [{ do_sample: "yes" }, 'do_sample: must be true or false, got "yes"'],
  ];
  for (const [gen, needle] of cases) {
    const dir = await hfWith(gen);
    await rejectsWithFormatError(loadModel(dir), path.join(dir, "generation_config.json"), needle);
  }
});

test("a bad general.sampling.* value in a GGUF is a one-line FormatError naming the key", async () => {
  const dir = await hfWith({ temperature: 0.5, top_p: 0.9 });
  const out = path.join(tempDir(), `gendefaults-${n++}.gguf`);
  await convertToGGUF({ src: dir, out, dtype: "f16" });
  const b = fs.readFileSync(out);
  for (const [key, value, needle] of [["general.sampling.top_p", 2, "must be a number in (0, 1], got 2"], ["general.sampling.temp", -0.5, "must be a number >= 0"]] as const) {
    const p = path.join(tempDir(), `gendefaults-${n++}-bad.gguf`);
    fs.writeFileSync(p, setGGUFNumber(b, key, value));
    await rejectsWithFormatError(loadModel(p), p, `${key}: ${needle}`);
  }
});
