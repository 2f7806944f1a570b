// The Hugging Face cache layout, as huggingface_hub writes it, so that Python tools and
// radixlm share downloads:
//   models--org--name/blobs/<etag>                 file contents, named by git or LFS hash
//   models--org--name/blobs/<etag>.incomplete      a download in progress (resumed from here)
//   models--org--name/snapshots/<commit>/<path>    symlinks to ../../blobs/<etag>
//   models--org--name/refs/<revision>              the commit a branch or tag pointed at
import fs from "node:fs";
import path from "node:path";
import { isCommitHash } from "./repo-ref.js";

/** models--org--name in the cache folder. */
export function repoFolder(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.split("/").join("--")}`);
}

/** A folder laid out as one repo in the cache (models--org--name with snapshots/). */
export function isRepoFolder(dir: string): boolean {
  return path.basename(path.resolve(dir)).startsWith("models--") && fs.existsSync(path.join(dir, "snapshots"));
}

/** The commit refs/<revision> names, or null when there is no such ref. */
export function readRef(folder: string, revision: string): string | null {
  try {
    const commit = fs.readFileSync(path.join(folder, "refs", revision), "utf8").trim();
    return isCommitHash(commit) ? commit : null;
  } catch {
    return null;
  }
}

export function writeRef(folder: string, revision: string, commit: string): void {
  const file = path.join(folder, "refs", revision);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, commit);
}

export interface Snapshot {
  readonly commit: string;
  readonly dir: string;
}

function snapshotDirs(folder: string): Snapshot[] {
  const root = path.join(folder, "snapshots");
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names.map((commit) => ({ commit, dir: path.join(root, commit) })).filter((s) => fs.statSync(s.dir).isDirectory());
}

/**
 * The snapshot a revision names: a commit's own folder, or the commit refs/<revision> gives.
 * Without a revision: refs/main, else the only snapshot, else the newest (when refs/ was
 * never written, as by a copy of the snapshots alone).
 */
export function findSnapshot(folder: string, revision: string | null): Snapshot | null {
  const at = (commit: string): Snapshot | null => {
    const dir = path.join(folder, "snapshots", commit);
    return fs.existsSync(dir) ? { commit, dir } : null;
  };
  if (revision !== null) {
    if (isCommitHash(revision) && at(revision)) return at(revision);
    const commit = readRef(folder, revision);
    return commit === null ? null : at(commit);
  }
  const main = readRef(folder, "main");
  if (main !== null) return at(main);
  const all = snapshotDirs(folder);
  if (all.length <= 1) return all[0] ?? null;
  return all.reduce((a, b) => (fs.statSync(b.dir).mtimeMs > fs.statSync(a.dir).mtimeMs ? b : a));
}

export const blobPath = (folder: string, etag: string): string => path.join(folder, "blobs", etag);
export const incompletePath = (folder: string, etag: string): string => `${blobPath(folder, etag)}.incomplete`;

/** snapshots/<commit>/<file> -> ../../blobs/<etag> (a copy where symlinks are not allowed, as huggingface_hub does). */
export function linkSnapshotFile(folder: string, commit: string, file: string, etag: string): string {
  const link = path.join(folder, "snapshots", commit, ...file.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  const blob = blobPath(folder, etag);
  fs.rmSync(link, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(link), blob), link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    fs.copyFileSync(blob, link);
  }
  return link;
}
