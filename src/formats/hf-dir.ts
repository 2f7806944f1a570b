// A Hugging Face model folder: config.json, model.safetensors (or shards listed by
// model.safetensors.index.json), tokenizer.json, tokenizer_config.json, generation_config.json.
import fs from "node:fs";
import path from "node:path";
import { readSafetensors, type SafetensorsFile } from "./safetensors.js";
import { fieldError, FormatError, quote } from "./errors.js";

export interface HFDir {
  readonly path: string;
  readonly config: Record<string, unknown>;
  readonly generationConfig: Record<string, unknown> | null;
  readonly tokenizerJson: Record<string, unknown> | null;
  readonly tokenizerConfig: Record<string, unknown> | null;
  readonly shards: readonly SafetensorsFile[];
}

export function isHFDir(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory() && fs.existsSync(path.join(dir, "config.json"));
  } catch {
    return false;
  }
}

export function readJsonFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new FormatError(file, "no such file");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error; FormatError escapes it, this keeps it short.
    const why = err instanceof Error ? err.message.split("\n")[0]!.slice(0, 120) : "parse error";
    throw new FormatError(file, `not valid JSON (${why})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FormatError(file, "expected a JSON object");
  return v as Record<string, unknown>;
}

function optionalJson(file: string): Record<string, unknown> | null {
  return fs.existsSync(file) ? readJsonFile(file) : null;
}

function shardFiles(dir: string): string[] {
  const index = path.join(dir, "model.safetensors.index.json");
  if (fs.existsSync(index)) {
    const j = readJsonFile(index);
    const map = j.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) throw fieldError(index, "weight_map", "missing, or not an object");
    const names = new Set<string>();
    for (const [tensor, n] of Object.entries(map as Record<string, unknown>)) {
      if (typeof n !== "string") throw fieldError(index, `weight_map[${quote(tensor)}]`, "not a file name");
      // The index comes with the model, but never let it point outside the folder.
      if (n.includes("/") || n.includes("\\") || n === ".." || n === ".") {
        throw fieldError(index, `weight_map[${quote(tensor)}]`, `shard name ${quote(n)} is not a plain file name`);
      }
      names.add(n);
    }
    return [...names].sort().map((n) => path.join(dir, n));
  }
  const single = path.join(dir, "model.safetensors");
  if (fs.existsSync(single)) return [single];
  const any = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort();
  if (any.length === 0) throw new FormatError(dir, "no model.safetensors or safetensors index in the folder");
  return any.map((f) => path.join(dir, f));
}

export function readHFDir(dir: string): HFDir {
  if (!fs.existsSync(dir)) throw new FormatError(dir, "no such file or folder");
  const config = readJsonFile(path.join(dir, "config.json"));
  return {
    path: dir,
    config,
    generationConfig: optionalJson(path.join(dir, "generation_config.json")),
    tokenizerJson: optionalJson(path.join(dir, "tokenizer.json")),
    tokenizerConfig: optionalJson(path.join(dir, "tokenizer_config.json")),
    shards: shardFiles(dir).map((f) => readSafetensors(f)),
  };
}
