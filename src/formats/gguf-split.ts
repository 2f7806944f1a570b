// Split GGUF models, as llama.cpp's gguf-split writes them: NAME-00001-of-0000N.gguf, ...,
// each part a complete GGUF (header, its own tensor directory, its own data section) with
// split.no (0-based), split.count and split.tensors.count; the first part carries all of the
// model's other metadata. Read as one model from any part; written from one tensor list.
import fs from "node:fs";
import path from "node:path";
import { readGGUF, writeGGUF, type GGUFFile, type GGUFValue, type GGUFWriteValue, type TensorToWrite } from "./gguf.js";
import { fieldError, FormatError, quote } from "./errors.js";

export const SPLIT_NO = "split.no";
export const SPLIT_COUNT = "split.count";
export const SPLIT_TENSORS_COUNT = "split.tensors.count";

const PART_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

/** Where a file name says it sits in a split model, or null for a plain name. */
export interface SplitName {
  /** The name before `-0000i-of-0000N.gguf`, with its folder. */
  readonly prefix: string;
  /** 1-based, as in the file name. */
  readonly index: number;
  readonly count: number;
}

export function parseSplitName(file: string): SplitName | null {
  const m = PART_NAME.exec(path.basename(file));
  if (!m) return null;
  const index = Number(m[2]);
  const count = Number(m[3]);
  if (count < 1 || index < 1 || index > count) return null;
  return { prefix: path.join(path.dirname(file), m[1]!), index, count };
}

/** The file name of part `index` (1-based) of `count`. */
export function splitPartName(prefix: string, index: number, count: number): string {
  return `${prefix}-${String(index).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.gguf`;
}

/** Every part's path, in order, for any one part's path (just the path itself when not split). */
export function splitParts(file: string): string[] {
  const s = parseSplitName(file);
  if (!s) return [file];
  return Array.from({ length: s.count }, (_, i) => splitPartName(s.prefix, i + 1, s.count));
}

/** A GGUF model in one or several files: metadata from the first, tensors from all. */
export interface GGUFModelFiles {
  /** The first part (the file itself when not split). */
  readonly path: string;
  readonly metadata: Readonly<Record<string, GGUFValue>>;
  readonly parts: readonly GGUFFile[];
  readonly tensorCount: number;
  close(): void;
}

function intValue(file: GGUFFile, key: string): number | undefined {
  const v = file.metadata[key];
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw fieldError(file.path, key, `must be a whole number >= 0, got ${quote(String(v))}`);
  return n;
}

/** Opens a GGUF model from its file, or from any part of a split one (all parts are read and checked). */
export async function readGGUFModel(file: string): Promise<GGUFModelFiles> {
  const paths = splitParts(file);
  for (const p of paths) {
    if (!fs.existsSync(p)) throw new FormatError(p, `missing: part ${paths.indexOf(p) + 1} of the ${paths.length}-part split model ${quote(path.basename(file))}`);
  }
  const parts: GGUFFile[] = [];
  const close = (): void => {
    for (const p of parts) p.bytes.close();
  };
  try {
    for (const p of paths) parts.push(await readGGUF(p));
    const first = parts[0]!;
    const count = intValue(first, SPLIT_COUNT);
    if (paths.length === 1) {
      if (count !== undefined && count > 1) {
        throw fieldError(file, SPLIT_COUNT, `${count}: the file is one part of a split model, but its name does not say which (llama.cpp names parts NAME-00001-of-${String(count).padStart(5, "0")}.gguf)`);
      }
      return { path: first.path, metadata: first.metadata, parts, tensorCount: first.tensors.size, close };
    }
    const seen = new Map<string, string>();
    parts.forEach((part, i) => {
      const no = intValue(part, SPLIT_NO);
      const n = intValue(part, SPLIT_COUNT);
      if (no === undefined || n === undefined) throw fieldError(part.path, no === undefined ? SPLIT_NO : SPLIT_COUNT, "missing (the name says this is a split GGUF part)");
      if (n !== paths.length) throw fieldError(part.path, SPLIT_COUNT, `${n}, but the file name says ${paths.length} parts`);
      if (no !== i) throw fieldError(part.path, SPLIT_NO, `${no}, but the file name makes it part ${i + 1} (split.no ${i})`);
      for (const name of part.tensors.keys()) {
        const other = seen.get(name);
        if (other !== undefined) throw fieldError(part.path, `tensor ${quote(name)}`, `${path.basename(other)} holds it too`);
        seen.set(name, part.path);
      }
    });
    const total = intValue(first, SPLIT_TENSORS_COUNT);
    if (total === undefined) throw fieldError(first.path, SPLIT_TENSORS_COUNT, "missing (the first part of a split GGUF gives the model's tensor count)");
    if (total !== seen.size) throw fieldError(first.path, SPLIT_TENSORS_COUNT, `${total}, but the ${paths.length} parts hold ${seen.size} tensors`);
    return { path: first.path, metadata: first.metadata, parts, tensorCount: seen.size, close };
  } catch (err) {
    close();
    throw err;
  }
}

/**
 * Writes a model as a split GGUF of at most `maxTensors` tensors per part, laid out as
 * gguf-split does. `prefix` is the path without `-00001-of-0000N.gguf`; returns the parts' paths.
 */
export function writeGGUFSplit(prefix: string, metadata: Record<string, GGUFWriteValue>, tensors: readonly TensorToWrite[], maxTensors: number): string[] {
  if (!Number.isInteger(maxTensors) || maxTensors < 1) throw new Error(`tensors per part must be an integer >= 1, got ${maxTensors}`);
  const groups: TensorToWrite[][] = [];
  for (let i = 0; i < tensors.length; i += maxTensors) groups.push(tensors.slice(i, i + maxTensors));
  if (groups.length === 0) groups.push([]);
  return groups.map((group, i) => {
    const file = splitPartName(prefix, i + 1, groups.length);
    const split: Record<string, GGUFWriteValue> = {
      [SPLIT_NO]: { type: "u16", value: i },
      [SPLIT_COUNT]: { type: "u16", value: groups.length },
      [SPLIT_TENSORS_COUNT]: { type: "i32", value: tensors.length },
    };
    writeGGUF(file, i === 0 ? { ...metadata, ...split } : split, group);
    return file;
  });
}
