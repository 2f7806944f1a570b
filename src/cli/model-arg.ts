// What every command does with --model: the bundled demo model when it is absent, otherwise
// a path, a cached repo id or an hf: reference, resolved (and downloaded, with a progress bar
// on stderr) to the local file or folder loadModel reads.
import { resolveModel } from "../hub/resolve.js";
import { parseRepoRef } from "../hub/repo-ref.js";
import fs from "node:fs";
import path from "node:path";
import { isRepoFolder } from "../hub/cache-layout.js";
import { defaultModelPath } from "./default-model.js";
import { isQuiet } from "../util/progress.js";

/** The one help text for --model. */
export const MODEL_HELP = "GGUF file, HF model folder, HF cache folder, cached repo id (org/name[@rev]) or hf:org/name[/file.gguf|:QUANT][@rev] to download";

export function modelPath(arg: string | undefined): Promise<string> {
  return arg === undefined ? Promise.resolve(defaultModelPath()) : resolveModel(arg, { progress: isQuiet() ? null : process.stderr });
}

/** The repo id an argument names (`org/name`, `hf:...`, or a cache folder models--org--name), for the served model name. */
export function repoIdOf(arg: string): string | null {
  if (!fs.existsSync(arg)) return parseRepoRef(arg)?.repo ?? null;
  const m = /^models--([^-].*?)--(.+)$/.exec(path.basename(path.resolve(arg)));
  return m && isRepoFolder(arg) ? `${m[1]}/${m[2]}` : null;
}
