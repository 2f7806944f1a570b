// From what the user typed after --model to a file or folder loadModel reads: a path (a GGUF
// file, an HF folder, a folder holding one GGUF model, a Hugging Face cache folder
// models--org--name), a repo id found in the local Hugging Face cache (`org/name[@rev]`), or
// `hf:org/name[/file.gguf|:QUANT][@rev]`, downloaded into that cache when it is not there.
import fs from "node:fs";
import path from "node:path";
import { FormatError } from "../formats/errors.js";
import { parseSplitName, splitPartName } from "../formats/gguf-split.js";
import { findSnapshot, isRepoFolder, repoFolder } from "./cache-layout.js";
import { HubError } from "./errors.js";
import { filesUnder, ggufChoices, ggufComplete, hfFolderComplete, pickGGUF } from "./model-files.js";
import type { ProgressStream } from "./progress.js";
import { downloadForm, parseRepoRef, type RepoRef } from "./repo-ref.js";
import { hubSettings, type Env } from "./settings.js";

export interface ResolveOptions {
  /** Where HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are read (default: process.env). */
  readonly env?: Env;
  /** Where download progress goes (stderr in the CLI); none by default. */
  readonly progress?: ProgressStream | null;
  /** How many times a broken transfer is resumed within one call (default 3). */
  readonly retries?: number;
  /** Seconds without a byte before a transfer counts as broken (default 60). */
  readonly stallTimeoutSeconds?: number;
}

/** The model in a folder: the folder itself when it holds config.json, else its one GGUF model. */
function modelInFolder(dir: string, where: string): string {
  if (fs.existsSync(path.join(dir, "config.json"))) return dir;
  const choices = ggufChoices(filesUnder(dir));
  if (choices.length === 0) return dir; // loadModel says what the folder lacks
  const c = pickGGUF(choices, null, where, (n) => path.join(dir, n));
  return path.join(dir, ...c.name.split("/"));
}

/** A local path as loadModel wants it. */
function resolvePath(p: string): string {
  if (fs.statSync(p).isDirectory()) {
    if (!isRepoFolder(p)) return modelInFolder(p, p);
    const snap = findSnapshot(p, null);
    if (!snap) throw new FormatError(p, "a Hugging Face cache folder with no snapshot in it (nothing was downloaded, or refs/main names a missing one)");
    return modelInFolder(snap.dir, snap.dir);
  }
  // Any part of a split GGUF stands for the model; its first part carries the metadata (and the tokenizer).
  const s = parseSplitName(p);
  const first = s ? splitPartName(s.prefix, 1, s.count) : p;
  return fs.existsSync(first) ? first : p;
}

/** What `ref` names in its cached snapshot, or null when the cache does not hold all of it. */
function fromCache(ref: RepoRef, folder: string): string | null {
  const snap = findSnapshot(folder, ref.revision);
  if (!snap) return null;
  if (ref.file !== null) {
    const c = ggufChoices([ref.file])[0] ?? { name: ref.file, parts: [ref.file] };
    return ggufComplete(snap.dir, c) ? path.join(snap.dir, ...c.name.split("/")) : null;
  }
  if (ref.quant === null && fs.existsSync(path.join(snap.dir, "config.json"))) return hfFolderComplete(snap.dir) ? snap.dir : null;
  const choices = ggufChoices(filesUnder(snap.dir));
  if (choices.length === 0) return null;
  let c;
  try {
    c = pickGGUF(choices, ref.quant, ref.text, (n) => (ref.download ? `hf:${ref.repo}/${n}` : path.join(snap.dir, n)));
  } catch (err) {
    // Not in the cache, or not only there: the hub's own list decides for a download form.
    if (ref.download) return null;
    throw err;
  }
  return ggufComplete(snap.dir, c) ? path.join(snap.dir, ...c.name.split("/")) : null;
}

/**
 * The local file or folder for a --model argument, downloading it first when it is an `hf:`
 * reference the cache does not hold. A path that exists always wins over a repo id.
 */
export async function resolveModel(arg: string, opts: ResolveOptions = {}): Promise<string> {
  if (fs.existsSync(arg)) return resolvePath(arg);
  const ref = parseRepoRef(arg);
  // `dir/model.gguf` reads as a repo id too, but is surely a file that is not there.
  const fileLike = ref !== null && !ref.download && ref.file === null && /\.(gguf|json|safetensors)$/i.test(ref.repo);
  if (!ref || fileLike) throw new FormatError(arg, "no such file or folder");
  const s = hubSettings(opts.env ?? process.env);
  const folder = repoFolder(s.cacheDir, ref.repo);
  const cached = fromCache(ref, folder);
  if (cached !== null) return cached;
  if (!ref.download) {
    throw new HubError(`${arg}: no such file or folder, and not in the Hugging Face cache (looked in ${folder}${ref.revision !== null ? ` for revision ${ref.revision}` : ""}); to download it, use ${downloadForm(ref)}`);
  }
  if (s.offline) throw new HubError(`${arg}: not in the Hugging Face cache (looked in ${folder}), and HF_HUB_OFFLINE is set`);
  // Loaded only for a download: @huggingface/hub costs every other start about 40 ms.
  const { fetchFromHub } = await import("./fetch-repo.js");
  return fetchFromHub(ref, s, {
    progress: opts.progress ?? null,
    retries: opts.retries ?? 3,
    stallTimeoutMs: (opts.stallTimeoutSeconds ?? 60) * 1000,
  });
}
