// One view of a model's tensors under the internal (GGUF-style) names, whichever file
// format holds them. Tensor bytes are views into the mapped files, never copies.
import { isFloatType, type WeightType } from "../formats/dtype.js";
import { dequantize } from "../formats/quant.js";
import type { FileBytes } from "../formats/file-bytes.js";
import type { TensorInfo } from "../formats/gguf.js";
import { fieldError, quote } from "../formats/errors.js";
import type { TensorSource, WeightTensor } from "../kernels/tensor.js";
import type { TensorSpec } from "./arch.js";

/** Where the tensors came from, for error messages. */
export interface WeightsOrigin {
  /** The file or folder (for a missing tensor). */
  readonly path: string;
  /** The tensor's name in the files (HF names in a safetensors folder). */
  fileName(internal: string): string;
  /** Where the expected shapes come from ("config.json", "the GGUF metadata"). */
  readonly configName: string;
  /**
   * Refuse tensors the architecture does not name (GGUF, as llama.cpp does: a renamed tensor
   * must not pass as an absent one). HF checkpoints carry extra buffers, so they may not.
   */
  readonly onlyKnown: boolean;
}

interface Entry {
  readonly info: TensorInfo;
  /** Null for a tensor held in memory (`memory`) or stacked from others (`parts`). */
  readonly file: FileBytes | null;
  /** A vector made from the config, or a stack once read. */
  memory?: Uint8Array;
  /** HF's experts, one matrix each, read as one [experts, rows, cols] tensor. */
  readonly parts?: { readonly info: TensorInfo; readonly file: FileBytes }[];
  /** Added to every value when read (Gemma's HF norms hold w where the model uses 1 + w). */
  readonly shift?: number;
}

export class Weights implements TensorSource {
  private readonly entries = new Map<string, Entry>();
  private readonly files = new Set<FileBytes>();

  add(internalName: string, info: TensorInfo, file: FileBytes): void {
    this.entries.set(internalName, { info, file });
    this.files.add(file);
  }

  /**
   * One tensor made of `parts` (same type and shape) stacked in order: HF's per-expert
   * matrices as GGUF's [experts, rows, cols]. Read into memory once, at the first get.
   */
  addStack(internalName: string, parts: { info: TensorInfo; file: FileBytes }[]): void {
    const first = parts[0]!.info;
    const info: TensorInfo = { name: internalName, type: first.type, shape: [parts.length, ...first.shape], offset: 0, byteLength: first.byteLength * parts.length };
    this.entries.set(internalName, { info, file: null, parts });
    for (const p of parts) this.files.add(p.file);
  }

  /** An f32 vector the config gives where other formats keep a tensor (LongRoPE's factors in HF folders). */
  addVector(internalName: string, data: Float32Array): void {
    const info: TensorInfo = { name: internalName, type: "f32", shape: [data.length], offset: 0, byteLength: data.byteLength };
    this.entries.set(internalName, { info, file: null, memory: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }

  get size(): number {
    return this.entries.size;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shapeOf(name: string): readonly number[] | undefined {
    return this.entries.get(name)?.info.shape;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  info(name: string): TensorInfo {
    const e = this.entries.get(name);
    if (!e) throw new Error(`model has no tensor ${name}`);
    return e.info;
  }

  get(name: string): WeightTensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`model has no tensor ${name}`);
    const bytes = e.file ? e.file.slice(e.info.offset, e.info.byteLength) : (e.memory ??= stack(e));
    if (e.shift === undefined) return { name, type: e.info.type, shape: e.info.shape, bytes };
    // A shifted vector is decoded into a copy of its own (vectors are small).
    const v = dequantize(e.info.type, bytes, e.info.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < v.length; i++) v[i] = v[i]! + e.shift;
    return { name, type: "f32", shape: e.info.shape, bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  }

  /** Reads of vector `name` add `delta` to each value from now on. */
  shift(name: string, delta: number): void {
    const e = this.entries.get(name);
    if (!e) throw new Error(`model has no tensor ${name}`);
    if (e.info.shape.length !== 1) throw new Error(`${name}: only vectors are shifted`);
    this.entries.set(name, { ...e, shift: delta });
  }

  /** Bytes of all tensor data. */
  totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.info.byteLength;
    return n;
  }

  typeCounts(): Map<WeightType, number> {
    const m = new Map<WeightType, number>();
    for (const e of this.entries.values()) m.set(e.info.type, (m.get(e.info.type) ?? 0) + 1);
    return m;
  }

  /**
   * Every tensor the architecture needs is present with the shape the config gives it, and
   * vectors (norms, biases) hold floats; optional ones are checked when present. Errors name
   * the file holding the tensor and the tensor by that file's name for it.
   */
  check(specs: readonly TensorSpec[], origin: WeightsOrigin): void {
    for (const s of specs) {
      const e = this.entries.get(s.name);
      if (!e && s.optional) continue;
      if (!e) throw fieldError(origin.path, `tensor ${quote(origin.fileName(s.name))}`, "missing (the architecture needs it)");
      const field = `tensor ${quote(e.info.name)}`;
      // A vector may come as a [1, n] matrix (Qwen2-MoE's shared_expert_gate in HF folders).
      const got = s.isVector && e.info.shape.length === 2 && e.info.shape[0] === 1 ? e.info.shape.slice(1) : e.info.shape;
      if (got.length !== s.shape.length || got.some((d, i) => d !== s.shape[i])) {
        throw fieldError(e.file?.path ?? origin.path, `${field} shape`, `[${got.join(", ")}], but ${origin.configName} makes it [${s.shape.join(", ")}]`);
      }
      if (s.isVector && !isFloatType(e.info.type)) {
        throw fieldError(e.file?.path ?? origin.path, `${field} type`, `${e.info.type}, but norm and bias vectors must be f32, f16 or bf16`);
      }
    }
    if (!origin.onlyKnown) return;
    const known = new Set(specs.map((s) => s.name));
    for (const [name, e] of this.entries) {
      if (!known.has(name)) throw fieldError(e.file?.path ?? origin.path, `tensor ${quote(e.info.name)}`, "not a tensor of this architecture and config");
    }
  }

  close(): void {
    for (const f of this.files) f.close();
    this.files.clear();
  }
}

function stack(e: Entry): Uint8Array {
  const out = new Uint8Array(e.info.byteLength);
  let at = 0;
  for (const p of e.parts ?? []) {
    out.set(p.file.slice(p.info.offset, p.info.byteLength), at);
    at += p.info.byteLength;
  }
  return out;
}
