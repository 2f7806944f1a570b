// Split GGUF models (llama.cpp's gguf-split layout) load as one model from any part, give the
// same logits as the unsplit file, and every way a set of parts can disagree is one clear line.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModel } from "../../src/model/load.js";
import { readGGUF, writeGGUF, type TensorToWrite } from "../../src/formats/gguf.js";
import { parseSplitName, readGGUFModel, splitParts, writeGGUFSplit } from "../../src/formats/gguf-split.js";
import { FormatError } from "../../src/formats/errors.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { makeTestModel } from "../../src/model/test-model.js";
import { tempDir, testModel } from "../helpers/models.js";
import { logitsByChunks, range } from "../helpers/run.js";

const TOKENS = [5, 300, 17, 900, 42, 7, 1000, 3];

async function logits(file: string): Promise<Float32Array[]> {
  const m = await loadModel(file);
  const runner = referenceBackend.createRunner(m, { capacity: 32, dtype: "f32" });
  try {
    return await logitsByChunks(runner, TOKENS, TOKENS.length, range(0, TOKENS.length));
  } finally {
    runner.close();
    m.close();
  }
}

test("a split GGUF loads from any part and gives the unsplit file's logits exactly", async () => {
  const whole = await testModel("split-src-qwen2", { arch: "qwen2", format: "gguf", dtype: "q8_0", seed: 4 });
  const split = await makeTestModel({ arch: "qwen2", format: "gguf", dtype: "q8_0", seed: 4, out: path.join(tempDir(), "split-qwen2.gguf"), splitMaxTensors: 5 });
  const parts = splitParts(split.path);
  assert.ok(parts.length >= 3, `${parts.length} parts`);
  assert.equal(path.basename(split.path), `split-qwen2-00001-of-${String(parts.length).padStart(5, "0")}.gguf`);
  // gguf-split's keys: all metadata in the first part, only the split keys in the others
  const second = await readGGUF(parts[1]!);
  assert.deepEqual(Object.keys(second.metadata).sort(), ["split.count", "split.no", "split.tensors.count"]);
  assert.equal(second.metadata["split.no"], 1);
  second.bytes.close();

  const ref = await logits(whole);
  const unsplit = await loadModel(whole);
  const tensors = unsplit.weights.size;
  unsplit.close();
  for (const from of [parts[0]!, parts[parts.length - 1]!]) {
    const m = await loadModel(from);
    assert.equal(m.path, parts[0]);
    assert.equal(m.weights.size, tensors);
    m.close();
    const got = await logits(from);
    got.forEach((row, i) => assert.deepEqual(row, ref[i], `position ${i}`));
  }
});

/** A three-part set of tiny tensors (not a model: only the split checks see it). */
function writeParts(name: string): string[] {
  const t = (n: string): TensorToWrite => ({ name: n, type: "f32", shape: [4], data: () => new Uint8Array(16) });
  return writeGGUFSplit(path.join(tempDir(), name), { "general.architecture": "llama" }, [t("a"), t("b"), t("c"), t("d"), t("e")], 2);
}

/** The one line a set of parts is refused with (a FormatError, nothing else). */
async function loadProblem(file: string): Promise<string> {
  let message = "";
  await assert.rejects(readGGUFModel(file), (err: unknown) => {
    message = (err as Error).message;
    return err instanceof FormatError;
  });
  return message;
}

test("split parts that disagree are refused naming the file and the key", async () => {
  const ok = writeParts("parts-ok");
  const f = await readGGUFModel(ok[2]!);
  assert.equal(f.path, ok[0]);
  assert.equal(f.tensorCount, 5);
  f.close();

  const missing = writeParts("parts-missing");
  fs.rmSync(missing[1]!);
  assert.equal(await loadProblem(missing[0]!), `${missing[1]}: missing: part 2 of the 3-part split model "parts-missing-00001-of-00003.gguf"`);

  const t = (n: string): TensorToWrite => ({ name: n, type: "f32", shape: [4], data: () => new Uint8Array(16) });
  const split = (no: number, count: number, total: number): Record<string, { type: "u16" | "i32"; value: number }> =>
    ({ "split.no": { type: "u16", value: no }, "split.count": { type: "u16", value: count }, "split.tensors.count": { type: "i32", value: total } });

  const wrongNo = writeParts("parts-no");
  writeGGUF(wrongNo[1]!, split(2, 3, 5), [t("c"), t("d")]);
  assert.match(await loadProblem(wrongNo[0]!), /parts-no-00002-of-00003\.gguf: split\.no: 2, but the file name makes it part 2 \(split\.no 1\)$/);

  const wrongCount = writeParts("parts-count");
  writeGGUF(wrongCount[2]!, split(2, 4, 5), [t("e")]);
  assert.match(await loadProblem(wrongCount[0]!), /parts-count-00003-of-00003\.gguf: split\.count: 4, but the file name says 3 parts$/);

  const dup = writeParts("parts-dup");
  writeGGUF(dup[2]!, split(2, 3, 5), [t("a")]);
  assert.match(await loadProblem(dup[0]!), /parts-dup-00003-of-00003\.gguf: tensor "a": parts-dup-00001-of-00003\.gguf holds it too$/);

  const total = writeParts("parts-total");
  writeGGUF(total[2]!, split(2, 3, 5), [t("e"), t("f")]);
  assert.match(await loadProblem(total[0]!), /parts-total-00001-of-00003\.gguf: split\.tensors\.count: 5, but the 3 parts hold 6 tensors$/);

  const unnamed = path.join(tempDir(), "renamed.gguf");
  fs.copyFileSync(ok[0]!, unnamed);
  assert.match(await loadProblem(unnamed), /renamed\.gguf: split\.count: 3: the file is one part of a split model, but its name does not say which/);
});

test("split part names", () => {
  assert.deepEqual(parseSplitName("/m/Qwen-Q4_K_M-00002-of-00003.gguf"), { prefix: "/m/Qwen-Q4_K_M", index: 2, count: 3 });
  assert.equal(parseSplitName("/m/model.gguf"), null);
  assert.equal(parseSplitName("/m/x-00004-of-00003.gguf"), null);
  assert.deepEqual(splitParts("x-00002-of-00002.gguf"), ["x-00001-of-00002.gguf", "x-00002-of-00002.gguf"]);
});
