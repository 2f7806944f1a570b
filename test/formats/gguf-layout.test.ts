// A GGUF file whose header lies is refused by the reader with one line naming the field:
// counts and lengths that cannot fit in the file (before anything is allocated for them),
// tensor types, shapes and offsets that do not match the data the file holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readGGUF } from "../../src/formats/gguf.js";
import { tempDir, testModel } from "../helpers/models.js";
import { rejectsWithFormatError } from "../helpers/format-error.js";
import { ggufFields, ggufKV, ggufTensor, writeU32, writeU64, setGGUFStringField, spliceGGUFHeader, GGUF_ARRAY } from "../helpers/model-fields.js";

const original = async (): Promise<Buffer> =>
  fs.readFileSync(await testModel("layout-llama-gguf-f16", { arch: "llama", format: "gguf", dtype: "f16", seed: 7 }));

let n = 0;
function write(b: Buffer, name: string): string {
  const p = path.join(tempDir(), `layout-${n++}-${name}.gguf`);
  fs.writeFileSync(p, b);
  return p;
}

const GGML = { f32: 0, f16: 1, q8_0: 8 };

test("the unmodified file reads, and the locator agrees with the reader", async () => {
  const b = await original();
  const f = ggufFields(b);
  const g = await readGGUF(write(b, "good"));
  assert.equal(g.tensors.size, f.tensors.length);
  for (const t of f.tensors) assert.equal(g.tensors.get(t.name.value)!.offset, f.dataStart + Number(t.offset));
  g.bytes.close();
});

test("a matrix's type changed from f16 to q8_0 or f32 is caught by the next tensor's offset", async () => {
  const b = await original();
  const q = ggufTensor(ggufFields(b), "blk.0.attn_q.weight");
  assert.equal(q.type, GGML.f16);
  for (const type of [GGML.q8_0, GGML.f32]) {
    const p = write(writeU32(b, q.typeAt, type), `type-${type}`);
    await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_k.weight" offset', '"blk.0.attn_q.weight"');
  }
});

test("the last tensor's type changed: leftover bytes, or data past the end of the file", async () => {
  const b = await original();
  const f = ggufFields(b);
  const last = f.tensors[f.tensors.length - 1]!;
  assert.equal(last.type, GGML.f16);
  const name = `tensor "${last.name.value}"`;
  const q8 = write(writeU32(b, last.typeAt, GGML.q8_0), "last-q8");
  await rejectsWithFormatError(readGGUF(q8), q8, name, "belong to no tensor");
  const f32 = write(writeU32(b, last.typeAt, GGML.f32), "last-f32");
  await rejectsWithFormatError(readGGUF(f32), f32, name, "beyond the end of the file");
});

test("offsets of 1, 2, 3 and 16 are not aligned; another tensor's offset overlaps it", async () => {
  const b = await original();
  const f = ggufFields(b);
  const k = ggufTensor(f, "blk.0.attn_k.weight");
  for (const off of [1, 2, 3, 16]) {
    const p = write(writeU64(b, k.offsetAt, off), `offset-${off}`);
    await rejectsWithFormatError(readGGUF(p), p, `tensor "blk.0.attn_k.weight" offset: ${off} is not a multiple of general.alignment (32)`);
  }
  const q = ggufTensor(f, "blk.0.attn_q.weight");
  const p = write(writeU64(b, k.offsetAt, q.offset), "offset-of-q");
  await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_k.weight" offset', 'overlaps tensor "blk.0.attn_q.weight"');
  const first = f.tensors[0]!;
  const p2 = write(writeU64(b, first.offsetAt, 32), "first-moved");
  await rejectsWithFormatError(readGGUF(p2), p2, `tensor "${first.name.value}" offset: 32, but the data section starts at 0`);
});

test("shapes: a zero dimension, too many dimensions, a row that is not whole blocks", async () => {
  const b = await original();
  const f = ggufFields(b);
  const q = ggufTensor(f, "blk.0.attn_q.weight");
  let p = write(writeU64(b, q.dimsAt[1]!, 0), "dim-zero");
  await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_q.weight" shape: dimension 0 is 0');
  p = write(writeU32(b, q.nDimsAt, 5), "ndims-5");
  await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_q.weight" n_dims: 5 dimensions');
  // q8_0 rows are blocks of 32: an inner dimension of 100 is not; and 2^40 rows need more than the file.
  let c = writeU32(b, q.typeAt, GGML.q8_0);
  c = writeU64(c, q.dimsAt[0]!, 100);
  p = write(c, "partial-block");
  await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_q.weight" shape', "not a whole number of q8_0 blocks");
  p = write(writeU64(b, q.dimsAt[1]!, 2 ** 40), "huge-dim");
  await rejectsWithFormatError(readGGUF(p), p, 'tensor "blk.0.attn_q.weight" shape', "more bytes than the file has");
});

test("huge counts and lengths fail at once, before anything is allocated for them", async () => {
  const b = await original();
  const f = ggufFields(b);
  const tokens = ggufKV(f, "tokenizer.ggml.tokens");
  assert.equal(tokens.type, GGUF_ARRAY);
  const cases: [string, Buffer, string][] = [
    ["tensor-count", writeU64(b, f.tensorCountAt, 2n ** 64n - 1n), "tensor_count"],
    ["tensor-count-2^40", writeU64(b, f.tensorCountAt, 2 ** 40), "tensor_count"],
    ["kv-count", writeU64(b, f.kvCountAt, 2 ** 32 - 1), "metadata_kv_count"],
    ["array-length", writeU64(b, tokens.countAt!, 2 ** 31), '"tokenizer.ggml.tokens"'],
    ["string-length", writeU64(b, tokens.elementsAt![5]!, 2 ** 33), '"tokenizer.ggml.tokens"'],
    ["key-length", writeU64(b, f.kvs[3]!.key.at, 2 ** 50), "metadata key 3"],
    ["name-length", writeU64(b, f.tensors[2]!.name.at, 2 ** 62), "tensor 2 name"],
    ["truncated-header", b.subarray(0, f.headerEnd - 10), `truncated at byte ${f.headerEnd - 10} while reading the header`],
  ];
  for (const [name, bytes, needle] of cases) {
    const p = write(bytes, name);
    const t0 = performance.now();
    await rejectsWithFormatError(readGGUF(p), p, needle);
    assert.ok(performance.now() - t0 < 500, `${name}: ${performance.now() - t0} ms`);
  }
});

test("duplicate keys and tensor names, unknown value types, a bad alignment", async () => {
  const b = await original();
  const f = ggufFields(b);
  let p = write(setGGUFStringField(b, f.kvs[1]!.key, f.kvs[0]!.key.value), "dup-key");
  await rejectsWithFormatError(readGGUF(p), p, `"${f.kvs[0]!.key.value}": the key appears twice`);
  p = write(setGGUFStringField(b, f.tensors[1]!.name, f.tensors[0]!.name.value), "dup-tensor");
  await rejectsWithFormatError(readGGUF(p), p, `tensor "${f.tensors[0]!.name.value}": two tensors have this name`);
  p = write(writeU32(b, f.kvs[0]!.typeAt, 13), "value-type");
  await rejectsWithFormatError(readGGUF(p), p, `"${f.kvs[0]!.key.value}": unknown value type 13`);
  // general.alignment is added as a u32 key in place of general.name (same position, any length).
  const name = ggufKV(f, "general.name");
  const u32 = Buffer.alloc(4);
  u32.writeUInt32LE(48);
  const withAlignment = setGGUFStringField(b, name.key, "general.alignment");
  const g = ggufFields(withAlignment);
  const kv = ggufKV(g, "general.alignment");
  const aligned = spliceGGUFHeader(withAlignment, kv.typeAt, kv.end - kv.typeAt, Buffer.concat([Buffer.from([4, 0, 0, 0]), u32]));
  p = write(aligned, "alignment-48");
  await rejectsWithFormatError(readGGUF(p), p, "general.alignment: must be a power of two, got 48");
});
