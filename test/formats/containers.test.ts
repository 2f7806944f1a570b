// GGUF and safetensors: what we write reads back the same, through the mapped-file path
// and the range-read fallback alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readGGUF, writeGGUF } from "../../src/formats/gguf.js";
import { readSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { openFileBytes } from "../../src/formats/file-bytes.js";
import { quantize } from "../../src/formats/quant.js";
import { tempDir } from "../helpers/models.js";

const f32bytes = (v: Float32Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

test("GGUF metadata of every kind and tensors of mixed types round-trip", async () => {
  const p = path.join(tempDir(), "roundtrip.gguf");
  const a = Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 2 * 32 }, (_, i) => i / 7);
  const q = quantize("q8_0", b);
  writeGGUF(p, {
    "general.architecture": "llama",
    "x.u32": 7,
    "x.neg": -3,
    "x.float": 0.5,
    "x.f32": { type: "f32", value: 10000 },
    "x.bool": true,
    "x.str": "héllo",
    "x.strs": ["a", "b c", ""],
    "x.scores": Float32Array.of(-1.5, 2),
    "x.types": Int32Array.of(1, 3, 6),
  }, [
    { name: "a", type: "f32", shape: [3, 64], data: () => f32bytes(a) },
    { name: "b", type: "q8_0", shape: [2, 32], data: () => q },
  ]);
  const f = await readGGUF(p);
  assert.equal(f.version, 3);
  const m = f.metadata;
  assert.equal(m["x.u32"], 7);
  assert.equal(m["x.neg"], -3);
  assert.equal(m["x.float"], 0.5);
  assert.equal(m["x.f32"], 10000);
  assert.equal(m["x.bool"], true);
  assert.equal(m["x.str"], "héllo");
  assert.deepEqual(m["x.strs"], ["a", "b c", ""]);
  assert.deepEqual(m["x.scores"], [-1.5, 2]);
  assert.deepEqual(m["x.types"], [1, 3, 6]);
  const ta = f.tensors.get("a")!;
  assert.deepEqual(ta.shape, [3, 64]);
  assert.equal(ta.offset % 32, 0);
  assert.deepEqual(new Float32Array(f.bytes.slice(ta.offset, ta.byteLength).slice().buffer), a);
  const tb = f.tensors.get("b")!;
  assert.equal(tb.type, "q8_0");
  assert.deepEqual(f.bytes.slice(tb.offset, tb.byteLength), q);
  f.bytes.close();
});

test("safetensors round-trip, and a lying header is caught", () => {
  const p = path.join(tempDir(), "roundtrip.safetensors");
  const a = Float32Array.from({ length: 12 }, (_, i) => i * 1.25);
  const h = Uint16Array.of(0x3c00, 0xc000, 0x7bff);
  writeSafetensors(p, [
    { name: "a", type: "f32", shape: [3, 4], data: () => f32bytes(a) },
    { name: "h", type: "f16", shape: [3], data: () => new Uint8Array(h.buffer) },
  ]);
  const f = readSafetensors(p);
  const ta = f.tensors.get("a")!;
  assert.deepEqual(ta.shape, [3, 4]);
  assert.deepEqual(new Float32Array(f.bytes.slice(ta.offset, ta.byteLength).slice().buffer), a);
  const th = f.tensors.get("h")!;
  assert.equal(th.type, "f16");
  assert.deepEqual(new Uint16Array(f.bytes.slice(th.offset, th.byteLength).slice().buffer), h);
  f.bytes.close();

  const bad = path.join(tempDir(), "lying.safetensors");
  const header = Buffer.from(JSON.stringify({ a: { dtype: "F32", shape: [4], data_offsets: [0, 12] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(bad, Buffer.concat([len, header, Buffer.alloc(12)]));
  assert.throws(() => readSafetensors(bad), /lying\.safetensors: tensor "a" data_offsets: \[0, 12\] span 12 bytes, but F32 \[4\] needs 16/);
});

test("file bytes: the mapped path and the range-read fallback return the same bytes", () => {
  const p = path.join(tempDir(), "bytes.bin");
  const data = Buffer.from(Array.from({ length: 10000 }, (_, i) => (i * 31) & 255));
  fs.writeFileSync(p, data);
  for (const map of [true, false]) {
    const f = openFileBytes(p, map);
    assert.equal(f.size, data.length);
    assert.deepEqual(Buffer.from(f.slice(123, 4567)), data.subarray(123, 123 + 4567));
    assert.throws(() => f.slice(9000, 2000), /beyond the end of the file/);
    f.close();
  }
});
