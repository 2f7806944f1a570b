// One view of a model's tensors under the internal (GGUF-style) names, whichever file
// format holds them. Tensor bytes are views into the mapped files, never copies.
import type { WeightType } from "../formats/dtype.js";
import type { FileBytes } from "../formats/file-bytes.js";
import type { TensorInfo } from "../formats/gguf.js";
import { FormatError } from "../formats/errors.js";
import type { TensorSource, WeightTensor } from "../kernels/tensor.js";
import type { TensorSpec } from "./arch.js";

interface Entry {
  readonly info: TensorInfo;
  readonly file: FileBytes;
}

export class Weights implements TensorSource {
  private readonly entries = new Map<string, Entry>();
  private readonly files = new Set<FileBytes>();

  add(internalName: string, info: TensorInfo, file: FileBytes): void {
    this.entries.set(internalName, { info, file });
    this.files.add(file);
  }

  has(name: string): boolean {
    return this.entries.has(name);
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
    return { name, type: e.info.type, shape: e.info.shape, bytes: e.file.slice(e.info.offset, e.info.byteLength) };
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

  /** Every tensor the architecture needs is present with its shape. */
  check(specs: readonly TensorSpec[], path: string): void {
    for (const s of specs) {
      const e = this.entries.get(s.name);
      if (!e && s.optional) continue;
      if (!e) throw new FormatError(path, `missing tensor ${s.name}`);
      const got = e.info.shape;
      if (got.length !== s.shape.length || got.some((d, i) => d !== s.shape[i])) {
        throw new FormatError(path, `tensor ${s.name} has shape [${got.join(", ")}], expected [${s.shape.join(", ")}]`);
      }
    }
  }

  close(): void {
    for (const f of this.files) f.close();
    this.files.clear();
  }
}
