// Weight types radixlm reads and writes, with the GGML type ids and block layouts that the
// GGUF format uses for them. HF safetensors only ever carry f32, f16 and bf16.

export type WeightType =
  | "f32" | "f16" | "bf16"
  | "q8_0" | "q4_0" | "q4_1" | "q5_0" | "q5_1"
  | "q4_K" | "q5_K" | "q6_K";

export interface DTypeInfo {
  readonly name: WeightType;
  readonly ggmlType: number;
  /** Elements per block (1 for plain float types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

const table: readonly DTypeInfo[] = [
  { name: "f32", ggmlType: 0, blockSize: 1, blockBytes: 4 },
  { name: "f16", ggmlType: 1, blockSize: 1, blockBytes: 2 },
  { name: "q4_0", ggmlType: 2, blockSize: 32, blockBytes: 18 },
  { name: "q4_1", ggmlType: 3, blockSize: 32, blockBytes: 20 },
  { name: "q5_0", ggmlType: 6, blockSize: 32, blockBytes: 22 },
  { name: "q5_1", ggmlType: 7, blockSize: 32, blockBytes: 24 },
  { name: "q8_0", ggmlType: 8, blockSize: 32, blockBytes: 34 },
  { name: "q4_K", ggmlType: 12, blockSize: 256, blockBytes: 144 },
  { name: "q5_K", ggmlType: 13, blockSize: 256, blockBytes: 176 },
  { name: "q6_K", ggmlType: 14, blockSize: 256, blockBytes: 210 },
  { name: "bf16", ggmlType: 30, blockSize: 1, blockBytes: 2 },
];

const byName = new Map(table.map((t) => [t.name, t]));
const byGgml = new Map(table.map((t) => [t.ggmlType, t]));

export const WEIGHT_TYPES: readonly WeightType[] = table.map((t) => t.name);
export const QUANT_TYPES: readonly WeightType[] = WEIGHT_TYPES.filter((t) => !isFloatType(t));

export function isWeightType(s: string): s is WeightType {
  return byName.has(s as WeightType);
}

export function isFloatType(t: WeightType): boolean {
  return t === "f32" || t === "f16" || t === "bf16";
}

export function dtypeInfo(t: WeightType): DTypeInfo {
  const info = byName.get(t);
  if (!info) throw new Error(`unknown weight type ${t}`);
  return info;
}

/** The weight type for a GGML type id, or undefined for types radixlm does not support. */
export function dtypeFromGgml(id: number): DTypeInfo | undefined {
  return byGgml.get(id);
}

/** Bytes taken by `n` elements of type `t`; `n` must be a whole number of blocks. */
export function byteSize(t: WeightType, n: number): number {
  const info = dtypeInfo(t);
  if (n % info.blockSize !== 0) {
    throw new Error(`${n} elements is not a whole number of ${t} blocks of ${info.blockSize}`);
  }
  return (n / info.blockSize) * info.blockBytes;
}

/**
 * Bytes a tensor of type `t` and row-major `shape` takes, or, as a string, why no such tensor
 * can be stored: a dimension below `minDim`, a row that is not whole blocks, or more than
 * `limit` bytes. The product is bounded as it grows, so a corrupt shape cannot overflow it.
 */
export function tensorByteSize(t: WeightType, shape: readonly number[], limit: number, minDim = 1): number | string {
  const info = dtypeInfo(t);
  const inner = shape[shape.length - 1] ?? 1;
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (!Number.isSafeInteger(d) || d < minDim) return `dimension ${i} is ${d}`;
    n *= d;
    if ((n / info.blockSize) * info.blockBytes > limit) return `[${shape.join(", ")}] of ${t} needs more bytes than the file has`;
  }
  if (inner % info.blockSize !== 0) return `a row of ${inner} elements is not a whole number of ${t} blocks of ${info.blockSize}`;
  return (n / info.blockSize) * info.blockBytes;
}
