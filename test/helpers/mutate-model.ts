// Seeded corruptions of model files: GGUF, safetensors, config.json and tokenizer.json. Each
// mutation changes one thing the way a bad download, a buggy converter or a hostile file
// would (a flipped bit in the header, a count or length set to an edge value, a tensor's type,
// shape or offset changed, a JSON field given a wrong value, a truncation), and is
// deterministic: mutation `index` of `seed` is the same bytes on every run, so a failing case
// replays alone. Mutations stay out of tensor data on purpose: the loader does not read it,
// and random weights would make "the model runs with finite logits" untestable.
import fs from "node:fs";
import path from "node:path";
import { Buffer } from "node:buffer";
import { hashString, mulberry32 } from "../../src/util/random.js";
import {
  editSafetensors, ggufFields, safetensorsFrom, safetensorsParts, setGGUFStringField, spliceGGUFHeader, writeScalar, writeU32, writeU64,
  GGUF_ARRAY, GGUF_STRING, type GGUFFields, type GGUFStringField,
} from "./model-fields.js";

export type ModelFileKind = "gguf" | "safetensors" | "config.json" | "tokenizer.json";

export interface Mutation {
  readonly seed: number;
  readonly index: number;
  readonly kind: ModelFileKind;
  /** What was changed, e.g. `tensor "blk.0.attn_q.weight" offset = 1`. */
  readonly description: string;
  readonly bytes: Buffer;
}

/** The kind of a model file, by its name (and, for other names, its first bytes). */
export function kindOf(file: string): ModelFileKind {
  const base = path.basename(file);
  if (base === "config.json" || base === "tokenizer.json") return base;
  if (base.endsWith(".safetensors")) return "safetensors";
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, "r");
  fs.readSync(fd, head, 0, 4, 0);
  fs.closeSync(fd);
  if (head.toString("latin1") === "GGUF") return "gguf";
  throw new Error(`${file}: not a model file the mutator knows`);
}

/** `count` mutations of `file`, one at a time (each a full copy of the file). */
export function* mutations(seed: number, file: string, count: number): Generator<Mutation> {
  const original = fs.readFileSync(file);
  const kind = kindOf(file);
  for (let i = 0; i < count; i++) yield mutation(seed, i, original, kind);
}

/** Mutation `index` of `seed` applied to `original`. */
export function mutation(seed: number, index: number, original: Buffer, kind: ModelFileKind): Mutation {
  const rng = new Rng(hashString(`${kind}#${index}`, seed));
  const ops = OPS[kind];
  // An operator may not apply to this file (no such field): draw again, from the same stream.
  for (let attempt = 0; attempt < 100; attempt++) {
    const op = rng.weighted(ops);
    const r = op.apply(rng, original);
    if (r) return { seed, index, kind, description: `${op.name}: ${r.description}`, bytes: r.bytes };
  }
  throw new Error(`no mutation applies to this ${kind} file`);
}

// ---- randomness ----

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from nothing");
    return xs[this.int(xs.length)]!;
  }
  weighted<T extends { weight: number }>(xs: readonly T[]): T {
    let r = this.next() * xs.reduce((a, x) => a + x.weight, 0);
    for (const x of xs) if ((r -= x.weight) < 0) return x;
    return xs[xs.length - 1]!;
  }
}

interface Result {
  readonly description: string;
  readonly bytes: Buffer;
}

interface Op {
  readonly name: string;
  readonly weight: number;
  apply(rng: Rng, b: Buffer): Result | null;
}

const op = (name: string, weight: number, apply: (rng: Rng, b: Buffer) => Result | null): Op => ({ name, weight, apply });

// ---- values ----

/** Counts, lengths and offsets: edges of the integer types, and values near the original. */
function countValue(rng: Rng, orig: bigint): bigint {
  const edges = [0n, 1n, 2n, 3n, 16n, 31n, 32n, 33n, 255n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
  const near = [orig + 1n, orig > 0n ? orig - 1n : 1n, orig * 2n, orig / 2n, orig + 32n, orig > 32n ? orig - 32n : 0n, orig + 1000n];
  return rng.chance(0.5) ? rng.pick(edges) : rng.pick(near);
}

/** A value for a GGUF scalar of `type`. */
function scalarValue(rng: Rng, type: number): number | bigint {
  if (type === 6 || type === 12) return rng.pick([0, -0, -1, 1, 0.5, 1e-45, 1e-38, 3.4e38, -3.4e38, 1e6, NaN, Infinity, -Infinity]);
  if (type === 10 || type === 11) return rng.pick([0n, 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, -1n]);
  if (type === 7) return rng.int(2);
  return rng.pick([0, 1, 2, 3, 5, 7, 31, 32, 255, 256, 1000, 1023, 1024, 1025, 4096, 0x7fffffff, -1, 0xffffffff]);
}

/** Strings a file should not be able to use against us. */
const PAYLOADS: readonly (string | Uint8Array)[] = [
  "", " ", "\u001b[2J\u001b]0;owned\u0007", "\u009b31mred", "line\nbreak", "\u202eevil", "A".repeat(10000),
  Uint8Array.of(0xff, 0xfe, 0x80), Uint8Array.of(0xc3), "__proto__", "constructor", "llama", "qwen2", "qwen3", "mamba",
  "<|im_end|>", "<|endoftext|>", "Ġ", "Ġ e", "a b c", "%s%n", "\u0000",
];

function payload(rng: Rng): string | Uint8Array {
  return rng.pick(PAYLOADS);
}

const show = (v: unknown): string => {
  const s = v instanceof Uint8Array ? `bytes ${Buffer.from(v).toString("hex")}` : typeof v === "bigint" ? `${v}n` : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}... (${s.length})` : s;
};

// ---- GGUF ----

interface CountField {
  readonly at: number;
  readonly what: string;
}

function ggufCountFields(f: GGUFFields): CountField[] {
  const out: CountField[] = [{ at: f.tensorCountAt, what: "tensor_count" }, { at: f.kvCountAt, what: "metadata_kv_count" }];
  for (const kv of f.kvs) {
    out.push({ at: kv.key.at, what: `key length of ${kv.key.value}` });
    if (kv.text) out.push({ at: kv.text.at, what: `string length of ${kv.key.value}` });
    if (kv.countAt !== undefined) out.push({ at: kv.countAt, what: `array length of ${kv.key.value}` });
  }
  for (const t of f.tensors) out.push({ at: t.name.at, what: `name length of tensor ${t.name.value}` });
  return out;
}

/** Every string a GGUF header holds: keys, string values, string array elements, tensor names. */
function ggufStrings(b: Buffer, f: GGUFFields, rng: Rng): { field: GGUFStringField; what: string }[] {
  const out: { field: GGUFStringField; what: string }[] = [];
  for (const kv of f.kvs) {
    out.push({ field: kv.key, what: `key ${kv.key.value}` });
    if (kv.text) out.push({ field: kv.text, what: `value of ${kv.key.value}` });
    if (kv.arrayType === GGUF_STRING && kv.elementsAt!.length > 0) {
      const i = rng.int(kv.elementsAt!.length);
      const at = kv.elementsAt![i]!;
      const n = Number(b.readBigUInt64LE(at));
      out.push({ field: { at, value: b.toString("utf8", at + 8, at + 8 + n) }, what: `${kv.key.value}[${i}]` });
    }
  }
  for (const t of f.tensors) out.push({ field: t.name, what: `tensor name ${t.name.value}` });
  return out;
}

const GGML_TYPES = [0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 20, 24, 28, 29, 30, 31, 39, 99, 0xffffffff];

const GGUF_OPS: readonly Op[] = [
  op("flip a header bit", 3, (rng, b) => {
    const f = ggufFields(b);
    // Half the time in the fixed fields and tensor directory, which a uniform draw would rarely
    // reach past the vocabulary arrays.
    const dirStart = f.tensors[0]?.name.at ?? f.headerEnd;
    const at = rng.chance(0.5) ? rng.int(f.headerEnd) : rng.chance(0.3) ? rng.int(24) : dirStart + rng.int(f.headerEnd - dirStart);
    const out = Buffer.from(b);
    const bit = rng.int(8);
    out[at] = out[at]! ^ (1 << bit);
    return { description: `byte ${at} bit ${bit}`, bytes: out };
  }),
  op("overwrite a header byte", 1, (rng, b) => {
    const f = ggufFields(b);
    const at = rng.int(f.headerEnd);
    const v = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
    const out = Buffer.from(b);
    out[at] = v;
    return { description: `byte ${at} = ${v}`, bytes: out };
  }),
  op("set a count or length", 4, (rng, b) => {
    const c = rng.pick(ggufCountFields(ggufFields(b)));
    const v = countValue(rng, b.readBigUInt64LE(c.at));
    return { description: `${c.what} = ${v}`, bytes: writeU64(b, c.at, v) };
  }),
  op("set a tensor's type", 3, (rng, b) => {
    const t = rng.pick(ggufFields(b).tensors);
    const v = rng.pick(GGML_TYPES);
    return { description: `tensor ${t.name.value} type = ${v}`, bytes: writeU32(b, t.typeAt, v) };
  }),
  op("set a tensor's offset", 3, (rng, b) => {
    const f = ggufFields(b);
    const t = rng.pick(f.tensors);
    const other = rng.pick(f.tensors).offset;
    const a = BigInt(f.alignment);
    const v = rng.pick([0n, 1n, 2n, 3n, 16n, other, t.offset + 1n, t.offset + a, t.offset > a ? t.offset - a : 0n, 2n ** 40n, 2n ** 64n - 1n]);
    return { description: `tensor ${t.name.value} offset = ${v}`, bytes: writeU64(b, t.offsetAt, v) };
  }),
  op("set a tensor's shape", 3, (rng, b) => {
    const t = rng.pick(ggufFields(b).tensors);
    if (rng.chance(0.2)) {
      const v = rng.pick([0, 1, 2, 3, 4, 5, 0xffffffff]);
      return { description: `tensor ${t.name.value} n_dims = ${v}`, bytes: writeU32(b, t.nDimsAt, v) };
    }
    const d = rng.int(t.dims.length);
    const orig = t.dims[d]!;
    const v = rng.pick([0n, 1n, orig + 1n, orig - 1n, orig * 2n, orig / 2n, 32n, 256n, 2n ** 31n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n]);
    return { description: `tensor ${t.name.value} dim ${d} = ${v}`, bytes: writeU64(b, t.dimsAt[d]!, v) };
  }),
  op("set a metadata number", 4, (rng, b) => {
    const kvs = ggufFields(b).kvs.filter((k) => k.type !== GGUF_STRING && k.type !== GGUF_ARRAY);
    if (kvs.length === 0) return null;
    const kv = rng.pick(kvs);
    const v = scalarValue(rng, kv.type);
    return { description: `${kv.key.value} = ${show(v)}`, bytes: writeScalar(b, kv.valueAt, kv.type, v) };
  }),
  op("set a metadata type", 2, (rng, b) => {
    const kv = rng.pick(ggufFields(b).kvs);
    const v = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xffffffff]);
    return { description: `${kv.key.value} type = ${v}`, bytes: writeU32(b, kv.typeAt, v) };
  }),
  op("replace a string", 3, (rng, b) => {
    const f = ggufFields(b);
    const s = rng.pick(ggufStrings(b, f, rng));
    // Another string of the same header: a duplicate key, tensor name or token.
    const v = rng.chance(0.3) ? rng.pick(ggufStrings(b, f, rng)).field.value : payload(rng);
    return { description: `${s.what} = ${show(v)}`, bytes: setGGUFStringField(b, s.field, v) };
  }),
  op("set an array element", 2, (rng, b) => {
    const kvs = ggufFields(b).kvs.filter((k) => k.arrayType !== undefined && k.arrayType !== GGUF_STRING && k.elementsAt!.length > 0);
    if (kvs.length === 0) return null;
    const kv = rng.pick(kvs);
    const i = rng.int(kv.elementsAt!.length);
    const v = scalarValue(rng, kv.arrayType!);
    return { description: `${kv.key.value}[${i}] = ${show(v)}`, bytes: writeScalar(b, kv.elementsAt![i]!, kv.arrayType!, v) };
  }),
  op("drop or repeat a metadata entry", 2, (rng, b) => {
    const f = ggufFields(b);
    const i = rng.int(f.kvs.length);
    const kv = f.kvs[i]!;
    const entry = b.subarray(kv.key.at, kv.end);
    const drop = rng.chance(0.5);
    const out = drop ? spliceGGUFHeader(b, kv.key.at, entry.length, new Uint8Array(0)) : spliceGGUFHeader(b, kv.end, 0, entry);
    return { description: `${drop ? "drop" : "repeat"} ${kv.key.value}`, bytes: writeU64(out, f.kvCountAt, f.kvs.length + (drop ? -1 : 1)) };
  }),
  op("drop a tensor entry", 1, (rng, b) => {
    const f = ggufFields(b);
    const i = rng.int(f.tensors.length);
    const t = f.tensors[i]!;
    const out = spliceGGUFHeader(b, t.name.at, t.offsetAt + 8 - t.name.at, new Uint8Array(0));
    return { description: `drop tensor ${t.name.value}`, bytes: writeU64(out, f.tensorCountAt, f.tensors.length - 1) };
  }),
  op("insert or delete header bytes", 1, (rng, b) => {
    const f = ggufFields(b);
    const at = 24 + rng.int(f.headerEnd - 24);
    const n = 1 + rng.int(16);
    if (rng.chance(0.5)) {
      const junk = Buffer.from(Array.from({ length: n }, () => rng.int(256)));
      return { description: `insert ${n} bytes at ${at}`, bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]) };
    }
    return { description: `delete ${n} bytes at ${at}`, bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + n)]) };
  }),
  op("truncate", 2, (rng, b) => {
    const f = ggufFields(b);
    const at = rng.chance(0.5) ? rng.int(f.headerEnd) : rng.int(b.length);
    return { description: `at ${at} of ${b.length}`, bytes: b.subarray(0, at) };
  }),
];

// ---- safetensors ----

type Json = Record<string, unknown>;

function tensorNames(b: Buffer): string[] {
  return Object.keys(safetensorsParts(b).header).filter((k) => k !== "__metadata__");
}

/** Values that JSON fields must not be able to use against us. */
function jsonValue(rng: Rng, orig: unknown): unknown {
  const near = typeof orig === "number" ? [orig + 1, orig - 1, orig * 2, Math.floor(orig / 2), -orig] : [];
  return rng.pick([...near, 0, -1, 1, 2, 3, 7, 2 ** 31, 2 ** 32 - 1, 2 ** 53, 1e308, 0.5, 1.5, -0, 1e-320, "12", "", null, true, false, [], [1], {}, "\u001b[2J", INF, NEG_INF]);
}

// JSON has no Infinity, but a parser reads 1e999 as one.
const INF = "\u0000INF";
const NEG_INF = "\u0000-INF";
const jsonText = (j: unknown): string => JSON.stringify(j).replaceAll(JSON.stringify(INF), "1e999").replaceAll(JSON.stringify(NEG_INF), "-1e999");

function editSafetensorsEntry(b: Buffer, rng: Rng, edit: (e: Json, name: string, header: Json) => string): Result {
  const name = rng.pick(tensorNames(b));
  const { header, data } = safetensorsParts(b);
  const description = `${name}: ${edit(header[name] as Json, name, header)}`;
  return { description, bytes: safetensorsFrom(jsonText(header), data) };
}

function safetensorsWithText(b: Buffer, text: string): Buffer {
  const { data } = safetensorsParts(b);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  return Buffer.concat([len, Buffer.from(text), data]);
}

const SAFETENSORS_OPS: readonly Op[] = [
  op("set the header length", 3, (rng, b) => {
    const n = b.readBigUInt64LE(0);
    const v = rng.pick([n + 1n, n - 1n, n + 8n, n - 8n, 0n, 1n, 2n, BigInt(b.length - 8), BigInt(b.length), 2n ** 63n, 2n ** 64n - 1n, n * 2n]);
    return { description: `${v}`, bytes: writeU64(b, 0, v) };
  }),
  op("flip a header bit", 2, (rng, b) => {
    const n = Number(b.readBigUInt64LE(0));
    const at = rng.chance(0.2) ? rng.int(8) : 8 + rng.int(n);
    const out = Buffer.from(b);
    const bit = rng.int(8);
    out[at] = out[at]! ^ (1 << bit);
    return { description: `byte ${at} bit ${bit}`, bytes: out };
  }),
  op("set a dtype", 2, (rng, b) => editSafetensorsEntry(b, rng, (e) => {
    e.dtype = rng.pick(["F32", "F16", "BF16", "I64", "F64", "U8", "F8_E4M3", "", 5, null, ["F32"]]);
    return `dtype = ${show(e.dtype)}`;
  })),
  op("set a shape", 3, (rng, b) => editSafetensorsEntry(b, rng, (e) => {
    const shape = [...(e.shape as unknown[])];
    const r = rng.int(4);
    if (r === 0) e.shape = rng.pick([[], null, "256", [[256]], [...shape, 1], [...shape, 2], shape.slice(1)]);
    else {
      const d = rng.int(shape.length);
      shape[d] = jsonValue(rng, shape[d]);
      e.shape = shape;
    }
    return `shape = ${jsonText(e.shape)}`;
  })),
  op("set data_offsets", 4, (rng, b) => editSafetensorsEntry(b, rng, (e, _name, h) => {
    const [b0, e0] = e.data_offsets as [number, number];
    const other = (h[rng.pick(tensorNames(b))] as Json).data_offsets;
    e.data_offsets = rng.pick([[b0 + 1, e0 + 1], [b0, e0 + 1], [b0 - 1, e0], [e0, b0], other, [0, 0], [b0 + 2 ** 40, e0 + 2 ** 40],
      [-1, e0], [b0 + 0.5, e0], [String(b0), String(e0)], [b0], null, [b0, 2 ** 64], [b0 + 2, e0 + 2]]);
    return `data_offsets = ${jsonText(e.data_offsets)}`;
  })),
  op("drop, copy or rename a tensor", 2, (rng, b) => editSafetensorsEntry(b, rng, (e, name, h) => {
    const r = rng.int(3);
    if (r === 0) {
      delete h[name];
      return "dropped";
    }
    const p = payload(rng);
    const to = typeof p === "string" ? p : Buffer.from(p).toString("latin1");
    if (r === 1) delete h[name];
    h[to] = { ...e };
    return `${r === 1 ? "renamed" : "copied"} to ${show(to)}`;
  })),
  op("set __metadata__", 1, (rng, b) => {
    const v = rng.pick([{ format: 5 }, [], "x", { nested: {} }, null, { format: "pt", "\u001b[2J": "x" }]);
    return { description: show(v), bytes: editSafetensors(b, (h) => { h.__metadata__ = v; }) };
  }),
  op("replace the header", 1, (rng, b) => {
    const text = rng.pick(["{}", "[]", "", " {}", "null", '{"a":', "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}"]);
    return { description: show(text), bytes: safetensorsWithText(b, text) };
  }),
  op("truncate", 1, (rng, b) => {
    const n = Number(b.readBigUInt64LE(0));
    const at = rng.chance(0.5) ? rng.int(8 + n) : rng.int(b.length);
    return { description: `at ${at} of ${b.length}`, bytes: b.subarray(0, at) };
  }),
];

// ---- config.json ----

const CONFIG_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
  "rms_norm_eps", "rope_theta", "max_position_embeddings", "bos_token_id", "eos_token_id", "tie_word_embeddings", "attention_bias",
  "rope_scaling", "architectures",
];

function editJsonText(b: Buffer, edit: (j: Json) => string): Result {
  const j = JSON.parse(b.toString("utf8")) as Json;
  const description = edit(j);
  return { description, bytes: Buffer.from(jsonText(j), "utf8") };
}

const rawJsonOps = (weight: number): Op[] => [
  op("flip a bit", weight, (rng, b) => {
    const at = rng.int(b.length);
    const out = Buffer.from(b);
    const bit = rng.int(8);
    out[at] = out[at]! ^ (1 << bit);
    return { description: `byte ${at} bit ${bit}`, bytes: out };
  }),
  op("truncate", weight, (rng, b) => {
    const at = rng.int(b.length);
    return { description: `at ${at} of ${b.length}`, bytes: b.subarray(0, at) };
  }),
];

const CONFIG_OPS: readonly Op[] = [
  op("set a field", 8, (rng, b) => editJsonText(b, (j) => {
    const keys = [...new Set([...Object.keys(j), ...CONFIG_KEYS])];
    const k = rng.pick(keys);
    j[k] = jsonValue(rng, j[k]);
    return `${k} = ${show(j[k])}`;
  })),
  op("drop a field", 2, (rng, b) => editJsonText(b, (j) => {
    const k = rng.pick(Object.keys(j));
    delete j[k];
    return k;
  })),
  op("set architectures", 1, (rng, b) => editJsonText(b, (j) => {
    j.architectures = rng.pick([["MistralForCausalLM"], ["Qwen2ForCausalLM"], ["Qwen3ForCausalLM"], [], ["X"], "LlamaForCausalLM", [5], null]);
    return show(j.architectures);
  })),
  op("set rope_scaling", 2, (rng, b) => editJsonText(b, (j) => {
    const s: Json = { rope_type: rng.pick(["llama3", "default", "linear", "yarn", 5, null]) };
    for (const k of ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]) {
      if (rng.chance(0.7)) s[k] = jsonValue(rng, rng.pick([8, 1, 4, 8192]));
    }
    j.rope_scaling = rng.chance(0.1) ? rng.pick([[], "llama3", 5]) : s;
    return show(j.rope_scaling);
  })),
  ...rawJsonOps(1),
];

// ---- tokenizer.json ----

interface TokenizerJson {
  model: { type?: unknown; vocab: Record<string, unknown>; merges: unknown[] };
  added_tokens: Json[];
  [key: string]: unknown;
}

function editTokenizer(b: Buffer, edit: (t: TokenizerJson) => string): Result {
  return editJsonText(b, (j) => edit(j as unknown as TokenizerJson));
}

const PIPELINE_PARTS: readonly unknown[] = [
  null, {}, { type: "X" }, { type: "Sequence", normalizers: null, pretokenizers: null, decoders: null, processors: null },
  { type: "Split", pattern: { Regex: "(" }, behavior: "Isolated", invert: false },
  { type: "Split", pattern: { String: "" }, behavior: "Removed", invert: false },
  { type: "ByteLevel", add_prefix_space: "yes", trim_offsets: 5, use_regex: null },
  { type: "Replace", pattern: { String: "" }, content: "x" }, { type: "Replace", pattern: { Regex: "(a|" }, content: "x" },
  { type: "Prepend", prepend: 5 }, { type: "Metaspace", replacement: "", prepend_scheme: "always" }, { type: "Strip", content: "", start: -1, stop: 1e9 },
  { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<x>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    special_tokens: { "<x>": { id: "<x>", ids: [99999], tokens: ["<x>"] } } },
  { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }], special_tokens: {} },
  { type: "BertProcessing", cls: ["[CLS]", 99999], sep: ["[SEP]", -1] }, "x", [],
];

const TOKENIZER_OPS: readonly Op[] = [
  op("set a vocab id", 3, (rng, b) => editTokenizer(b, (t) => {
    const tokens = Object.keys(t.model.vocab);
    const k = rng.pick(tokens);
    t.model.vocab[k] = rng.chance(0.4) ? t.model.vocab[rng.pick(tokens)] : jsonValue(rng, t.model.vocab[k]);
    return `model.vocab[${show(k)}] = ${show(t.model.vocab[k])}`;
  })),
  op("add, drop or rename a vocab entry", 2, (rng, b) => editTokenizer(b, (t) => {
    const tokens = Object.keys(t.model.vocab);
    const k = rng.pick(tokens);
    const r = rng.int(3);
    const p = payload(rng);
    const name = typeof p === "string" ? p : Buffer.from(p).toString("latin1");
    if (r === 0) {
      delete t.model.vocab[k];
      return `drop ${show(k)}`;
    }
    if (r === 1) {
      t.model.vocab[name] = rng.pick([tokens.length, 5000, 1023, 0]);
      return `add ${show(name)} = ${t.model.vocab[name]}`;
    }
    t.model.vocab[name] = t.model.vocab[k];
    delete t.model.vocab[k];
    return `rename ${show(k)} to ${show(name)}`;
  })),
  op("change an added token", 3, (rng, b) => editTokenizer(b, (t) => {
    if (!Array.isArray(t.added_tokens) || t.added_tokens.length === 0) return "none";
    const i = rng.int(t.added_tokens.length);
    const a = t.added_tokens[i]!;
    const field = rng.pick(["id", "id", "content", "special", "normalized", "drop", "push"]);
    if (field === "drop") {
      t.added_tokens.splice(i, 1);
      return `drop added_tokens[${i}]`;
    }
    if (field === "push") {
      const p = payload(rng);
      t.added_tokens.push({ id: rng.pick([1024, 5, 0, 1023]), content: typeof p === "string" ? p : "x", special: true });
      return `push ${show(t.added_tokens[t.added_tokens.length - 1])}`;
    }
    a[field] = field === "id" && rng.chance(0.4) ? t.added_tokens[rng.int(t.added_tokens.length)]!.id
      : field === "content" ? rng.pick([...PAYLOADS.filter((x) => typeof x === "string"), 5, null]) : jsonValue(rng, a[field]);
    return `added_tokens[${i}].${field} = ${show(a[field])}`;
  })),
  op("change the merges", 3, (rng, b) => editTokenizer(b, (t) => {
    const m = t.model.merges;
    const i = rng.int(m.length);
    const r = rng.pick(["drop", "repeat", "swap", "set", "all"]);
    if (r === "drop") m.splice(i, 1);
    else if (r === "repeat") m.push(m[i]);
    else if (r === "swap") [m[i], m[0]] = [m[0], m[i]];
    else if (r === "set") m[i] = rng.pick(["a", "a b c", ["a"], 5, "zz qq", "", " ", ["Ġ", "e"], null]);
    else t.model.merges = rng.pick([[], null, "x", {}]) as unknown[];
    return `${r} merge ${i}`;
  })),
  op("change the model", 1, (rng, b) => editTokenizer(b, (t) => {
    if (rng.chance(0.7)) {
      t.model.type = rng.pick(["BPE", "WordPiece", "Unigram", "WordLevel", "X", 5, null]);
      return `model.type = ${show(t.model.type)}`;
    }
    (t as Json).model = rng.pick([null, [], "BPE"]);
    return `model = ${show((t as Json).model)}`;
  })),
  op("change a pipeline part", 3, (rng, b) => editTokenizer(b, (t) => {
    const part = rng.pick(["normalizer", "pre_tokenizer", "decoder", "post_processor"]);
    t[part] = rng.pick(PIPELINE_PARTS);
    return `${part} = ${show(t[part])}`;
  })),
  ...rawJsonOps(1),
];

const OPS: Record<ModelFileKind, readonly Op[]> = {
  gguf: GGUF_OPS,
  safetensors: SAFETENSORS_OPS,
  "config.json": CONFIG_OPS,
  "tokenizer.json": TOKENIZER_OPS,
};
