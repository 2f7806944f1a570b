// A model laid out in a Hugging Face cache folder as huggingface_hub leaves it: blobs named by
// hash, snapshots/<commit>/ of relative symlinks to them, refs/<branch> holding the commit.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { gitOid, type HubFile } from "./fake-hub.js";

/** Writes `files` as `commit` of `repo` under `cacheDir`; `refs` maps branch or tag names to commits. */
export function layOutCache(cacheDir: string, repo: string, commit: string, files: readonly HubFile[], refs: Record<string, string> = {}): string {
  const folder = path.join(cacheDir, `models--${repo.replace("/", "--")}`);
  fs.mkdirSync(path.join(folder, "blobs"), { recursive: true });
  const snapshot = path.join(folder, "snapshots", commit);
  for (const f of files) {
    const etag = f.lfs ? createHash("sha256").update(f.data).digest("hex") : gitOid(f.data);
    fs.writeFileSync(path.join(folder, "blobs", etag), f.data);
    const link = path.join(snapshot, f.path);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(link), path.join(folder, "blobs", etag)), link);
  }
  for (const [ref, c] of Object.entries(refs)) {
    fs.mkdirSync(path.join(folder, "refs"), { recursive: true });
    fs.writeFileSync(path.join(folder, "refs", ref), c);
  }
  return folder;
}

export const commitOf = (s: string): string => createHash("sha1").update(s).digest("hex");
