// A safetensors file whose header lies is refused with one line naming the field: the header
// length, the JSON, each tensor's dtype, shape and data_offsets, and how the tensors tile the
// data section (no overlap, no hole, nothing left over).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readSafetensors } from "../../src/formats/safetensors.js";
import { tempDir, testModel } from "../helpers/models.js";
import { rejectsWithFormatError } from "../helpers/format-error.js";
import { editSafetensors, safetensorsParts, writeU64 } from "../helpers/model-fields.js";

interface Entry {
  dtype: unknown;
  shape: unknown;
  data_offsets: [number, number];
}

const original = async (): Promise<Buffer> =>
  fs.readFileSync(path.join(await testModel("layout-llama-hf-f16", { arch: "llama", format: "hf", dtype: "f16", seed: 7 }), "model.safetensors"));

let n = 0;
function write(b: Buffer, name: string): string {
  const p = path.join(tempDir(), `st-layout-${n++}-${name}.safetensors`);
  fs.writeFileSync(p, b);
  return p;
}

/** Tensor names in data order. */
function byOffset(b: Buffer): string[] {
  const h = safetensorsParts(b).header as Record<string, Entry>;
  return Object.keys(h).filter((k) => k !== "__metadata__").sort((x, y) => h[x]!.data_offsets[0] - h[y]!.data_offsets[0]);
}

const entry = (h: Record<string, unknown>, name: string): Entry => h[name] as Entry;

test("the unmodified file reads", async () => {
  const f = readSafetensors(write(await original(), "good"));
  assert.ok(f.tensors.size > 10);
  f.bytes.close();
});

test("a header length one byte short, or one byte long", async () => {
  const b = await original();
  const len = Number(b.readBigUInt64LE(0));
  // The writer pads the JSON with spaces, so one byte short still parses: the data offsets
  // no longer cover the data section.
  const short = write(writeU64(b, 0, len - 1), "short");
  await rejectsWithFormatError(() => readSafetensors(short), short, "data_offsets: the tensors cover", `header length ${len - 1}`);
  const long = write(writeU64(b, 0, len + 1), "long");
  await rejectsWithFormatError(() => readSafetensors(long), long, "header: not valid JSON");
  const huge = write(writeU64(b, 0, 2n ** 63n), "huge");
  await rejectsWithFormatError(() => readSafetensors(huge), huge, "header length: 9223372036854775808 runs past the end of the file");
});

test("overlapping data_offsets, a hole, offsets past the end", async () => {
  const b = await original();
  const [a, c, d] = byOffset(b);
  const overlap = write(editSafetensors(b, (h) => {
    // c moved onto a's bytes (a's span has the same length: both are norms, or both matrices).
    const ea = entry(h, a!);
    const ec = entry(h, c!);
    ec.data_offsets = [ea.data_offsets[1] - (ec.data_offsets[1] - ec.data_offsets[0]), ea.data_offsets[1]];
  }), "overlap");
  await rejectsWithFormatError(() => readSafetensors(overlap), overlap, "data_offsets", "overlap");
  const shifted = write(editSafetensors(b, (h) => {
    const e = entry(h, d!);
    e.data_offsets = [e.data_offsets[0] + 2, e.data_offsets[1] + 2];
  }), "shifted");
  await rejectsWithFormatError(() => readSafetensors(shifted), shifted, `tensor "${d}" data_offsets`);
  const beyond = write(editSafetensors(b, (h) => {
    const e = entry(h, a!);
    e.data_offsets = [e.data_offsets[0] + 2 ** 40, e.data_offsets[1] + 2 ** 40];
  }), "beyond");
  await rejectsWithFormatError(() => readSafetensors(beyond), beyond, `tensor "${a}" data_offsets`, "beyond the end of the file");
});

test("a dtype or shape that does not match the span", async () => {
  const b = await original();
  const name = "model.layers.0.self_attn.q_proj.weight";
  const f32 = write(editSafetensors(b, (h) => { entry(h, name).dtype = "F32"; }), "dtype-f32");
  await rejectsWithFormatError(() => readSafetensors(f32), f32, `tensor "${name}" data_offsets`, "needs 262144");
  const shape = write(editSafetensors(b, (h) => { entry(h, name).shape = [256, 255]; }), "shape");
  await rejectsWithFormatError(() => readSafetensors(shape), shape, `tensor "${name}" data_offsets`, "F16 [256, 255] needs");
  const negative = write(editSafetensors(b, (h) => { entry(h, name).shape = [-1, 256]; }), "negative");
  await rejectsWithFormatError(() => readSafetensors(negative), negative, `tensor "${name}" shape`);
  const i64 = write(editSafetensors(b, (h) => { entry(h, name).dtype = "I64"; }), "i64");
  await rejectsWithFormatError(() => readSafetensors(i64), i64, `tensor "${name}" dtype: unsupported dtype "I64"`);
});

test("malformed headers: not JSON, not an object, bad __metadata__, bad entries", async () => {
  const b = await original();
  const { data } = safetensorsParts(b);
  const make = (text: string): Buffer => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
    return Buffer.concat([len, Buffer.from(text), data]);
  };
  const cases: [string, string, string][] = [
    ["not-json", '{"a": {"dtype": "F32", ', "header: not valid JSON"],
    ["array", "[1, 2]", "header: does not start with"],
    ["metadata", '{"__metadata__": {"format": 5}}', "__metadata__: must be an object of strings"],
    ["entry", '{"x": 5}', 'tensor "x": not an object'],
    ["offsets", '{"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}', 'tensor "x" data_offsets: must be [begin, end]'],
  ];
  for (const [name, text, needle] of cases) {
    const p = write(make(text), name);
    await rejectsWithFormatError(() => readSafetensors(p), p, needle);
  }
});

test("a tensor name with terminal escapes is quoted with the escapes escaped", async () => {
  const b = await original();
  const evil = "\u001b]0;owned\u0007\u001b[2J\u009b31m" + "x".repeat(500);
  const p = write(editSafetensors(b, (h) => {
    const [first] = byOffset(b);
    h[evil] = { ...entry(h, first!), dtype: "F64" };
    delete h[first!];
  }), "evil-name");
  const err = await rejectsWithFormatError(() => readSafetensors(p), p, "\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m");
  assert.ok(err.message.length < 300, err.message);
});
