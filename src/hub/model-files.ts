// Which files make up the model in a repo or a folder: a Hugging Face model (config.json,
// safetensors, tokenizer and generation files) or one GGUF model (a file, or every part of a
// split one), chosen by name or by quantization tag when there are several.
import fs from "node:fs";
import path from "node:path";
import { parseSplitName, splitPartName } from "../formats/gguf-split.js";
import { HubError } from "./errors.js";

/** One runnable GGUF: a single file, or every part of a split model (paths relative to the repo or folder). */
export interface GGUFChoice {
  /** The file to load (the first part of a split model). */
  readonly name: string;
  readonly parts: readonly string[];
}

// Weights in formats radixlm does not read: a repo often carries them beside the safetensors,
// and they would double or triple the download.
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|onnx|onnx_data|h5|msgpack|tflite|ot|mlmodel|npz|pkl|gguf)$/i;

const isGGUF = (f: string): boolean => /\.gguf$/i.test(f);
// Vision projectors (mmproj) sit beside the language model in many GGUF repos; they are not one.
const isProjector = (f: string): boolean => /mmproj/i.test(path.posix.basename(f));

/** The GGUF models among `files`, split parts grouped under their first part. */
export function ggufChoices(files: readonly string[]): GGUFChoice[] {
  const out = new Map<string, GGUFChoice>();
  for (const f of files) {
    if (!isGGUF(f) || isProjector(f)) continue;
    const s = parseSplitName(f);
    if (!s) {
      out.set(f, { name: f, parts: [f] });
      continue;
    }
    // path.join in parseSplitName may have made it "./x" for a bare name; keep repo paths plain.
    const prefix = path.posix.normalize(s.prefix.split(path.sep).join("/"));
    const name = splitPartName(prefix, 1, s.count);
    if (!out.has(name)) out.set(name, { name, parts: Array.from({ length: s.count }, (_, i) => splitPartName(prefix, i + 1, s.count)) });
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function listing(names: readonly string[], show: (name: string) => string): string {
  const shown = names.slice(0, 12).map(show).join(", ");
  return names.length > 12 ? `${shown}, ... (${names.length - 12} more)` : shown;
}

/**
 * The one GGUF model `quant` names (its tag in the file name, any case), or the only one
 * there is. `where` names the repo or folder; `show` writes a choice as the user would name it.
 */
export function pickGGUF(choices: readonly GGUFChoice[], quant: string | null, where: string, show: (name: string) => string): GGUFChoice {
  const matching = quant === null ? choices : choices.filter((c) => path.posix.basename(c.name).toLowerCase().includes(quant.toLowerCase()));
  if (matching.length === 1) return matching[0]!;
  const all = choices.map((c) => c.name);
  if (quant !== null && matching.length === 0) {
    throw new HubError(`${where}: no GGUF file has ${JSON.stringify(quant)} in its name (there are: ${listing(all, show) || "none"})`);
  }
  if (matching.length === 0) throw new HubError(`${where}: holds no config.json and no GGUF file: not a model radixlm can load`);
  throw new HubError(`${where}: holds ${matching.length} GGUF models${quant === null ? "" : ` with ${JSON.stringify(quant)} in the name`}; name one: ${listing(matching.map((c) => c.name), show)}`);
}

/** The files of a Hugging Face model to fetch from a repo's file list: top-level files, other weight formats left out. */
export function hfModelFiles(files: readonly string[]): string[] {
  const top = files.filter((f) => !f.includes("/") && !OTHER_WEIGHTS.test(f));
  // Mistral repos carry consolidated.safetensors (their own format) beside the HF shards.
  const hfShards = top.some((f) => /^model(-\d+-of-\d+)?\.safetensors$/.test(f));
  return top.filter((f) => !(hfShards && /^consolidated.*\.safetensors$/.test(f)));
}

/** Every file under `dir` (relative, with "/"), two folders deep at most. */
export function filesUnder(dir: string, depth = 2): string[] {
  const out: string[] = [];
  const walk = (rel: string, left: number): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const full = path.join(dir, r);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) isDir = fs.existsSync(full) && fs.statSync(full).isDirectory();
      if (isDir) {
        if (left > 0) walk(r, left - 1);
      } else out.push(r);
    }
  };
  walk("", depth);
  return out;
}

/** A folder holds everything an HF model needs: config, tokenizer, and every safetensors shard its index names. */
export function hfFolderComplete(dir: string): boolean {
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  if (!has("config.json") || !has("tokenizer.json")) return false;
  if (has("model.safetensors")) return true;
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map?: Record<string, unknown> };
    const shards = new Set(Object.values(index.weight_map ?? {}).filter((v): v is string => typeof v === "string"));
    return shards.size > 0 && [...shards].every((s) => !s.includes("/") && has(s));
  } catch {
    return false;
  }
}

/** Every part of a GGUF choice is in `dir`. */
export const ggufComplete = (dir: string, c: GGUFChoice): boolean => c.parts.every((p) => fs.existsSync(path.join(dir, ...p.split("/"))));
