// Fetches a model from the hub into the cache: the revision's commit and file list through
// @huggingface/hub, the files themselves through download.ts (which resumes and verifies, as
// the library's own cache helpers do not), then snapshots/<commit>/ linked to the blobs and
// refs/<revision> written, in the layout huggingface_hub uses.
import fs from "node:fs";
import path from "node:path";
import { HubApiError, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { blobPath, linkSnapshotFile, repoFolder, writeRef } from "./cache-layout.js";
import { downloadBlob, statusError, type BlobRequest } from "./download.js";
import { HubError } from "./errors.js";
import { ggufChoices, hfModelFiles, pickGGUF } from "./model-files.js";
import { DownloadProgress, formatBytes, type ProgressStream } from "./progress.js";
import { isCommitHash, type RepoRef } from "./repo-ref.js";
import type { HubSettings } from "./settings.js";

export interface FetchOptions {
  /** Where the progress bar goes, or null for none. */
  readonly progress: ProgressStream | null;
  readonly retries: number;
  readonly stallTimeoutMs: number;
}

/** A call to the hub's API, its failures made one line each. */
async function api<T>(ref: RepoRef, s: HubSettings, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof HubApiError) {
      if (err.statusCode === 404) {
        const said = typeof err.data?.error === "string" ? `: ${err.data.error}` : "";
        throw new HubError(`${ref.text}: ${s.endpoint} has no ${what} (404${said})`);
      }
      throw statusError(ref.text, err.statusCode, what, s.token !== null);
    }
    throw unreachable(ref, s, err);
  }
}

function unreachable(ref: RepoRef, s: HubSettings, err: unknown): Error {
  if (!(err instanceof TypeError)) return err instanceof Error ? err : new Error(String(err));
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  return new HubError(`${ref.text}: cannot reach the hub at ${s.endpoint} (${cause?.code ?? cause?.message ?? err.message}); check the connection or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`);
}

/** Which of the repo's files make the model `ref` asks for, and the one to load (relative; "" for the folder). */
function choose(ref: RepoRef, files: ReadonlyMap<string, ListFileEntry>, revision: string): { wanted: string[]; target: string } {
  const paths = [...files.keys()];
  const show = (n: string): string => `hf:${ref.repo}/${n}`;
  let wanted: readonly string[];
  let target: string;
  if (ref.file !== null) {
    const c = ggufChoices([ref.file])[0];
    wanted = c?.parts ?? [ref.file];
    target = wanted[0]!;
  } else if (ref.quant === null && files.has("config.json")) {
    return { wanted: hfModelFiles(paths), target: "" };
  } else {
    const c = pickGGUF(ggufChoices(paths), ref.quant, `${ref.text}`, show);
    wanted = c.parts;
    target = c.name;
  }
  const missing = wanted.find((w) => !files.has(w));
  if (missing !== undefined) {
    const ggufs = ggufChoices(paths).map((c) => c.name);
    const hint = ggufs.length > 0 ? ` (its GGUF files: ${ggufs.slice(0, 12).join(", ")}${ggufs.length > 12 ? ", ..." : ""})` : "";
    throw new HubError(`${ref.text}: ${ref.repo} has no file ${missing} at revision ${revision}${hint}`);
  }
  return { wanted: [...wanted], target };
}

/** A relative path of plain segments: no "", ".", "..", backslash, drive colon or control character. */
export function safeRepoPath(p: string): boolean {
  return p.length > 0 && p.length <= 1024 && p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== ".." && !/[\\:\u0000-\u001f]/.test(seg));
}

function checkFreeSpace(ref: RepoRef, dir: string, need: number): void {
  let free: number;
  try {
    const st = fs.statfsSync(dir);
    free = st.bavail * st.bsize;
  } catch {
    return; // not every file system answers; the writes themselves will say
  }
  if (need > free) {
    throw new HubError(`${ref.text}: needs ${formatBytes(need)} more, but only ${formatBytes(free)} is free on ${dir}; free some space or set HF_HUB_CACHE to another disk`);
  }
}

/** Downloads what `ref` names into the cache and returns the local path to load. */
export async function fetchFromHub(ref: RepoRef, s: HubSettings, o: FetchOptions): Promise<string> {
  const auth: Record<string, string> = s.token !== null ? { Authorization: `Bearer ${s.token}` } : {};
  // The token goes in a header of our own: the library insists tokens start with "hf_", which
  // a mirror's (HF_ENDPOINT) need not.
  const authFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), ...auth } });
  const revision = ref.revision ?? "main";
  const commit = isCommitHash(revision)
    ? revision
    : (await api(ref, s, `model repo ${ref.repo} at revision ${revision}`, () =>
      modelInfo({ name: ref.repo, revision, additionalFields: ["sha"], hubUrl: s.endpoint, fetch: authFetch }))).sha;
  if (typeof commit !== "string" || !isCommitHash(commit)) throw new HubError(`${ref.text}: the hub gave no commit for revision ${revision}`);

  const files = await api(ref, s, `file list for ${ref.repo} at ${commit}`, async () => {
    const out = new Map<string, ListFileEntry>();
    for await (const e of listFiles({ repo: ref.repo, revision: commit, recursive: true, hubUrl: s.endpoint, fetch: authFetch })) {
      // A name that could step out of the snapshot folder is not a file we would ever want.
      if (e.type === "file" && safeRepoPath(e.path)) out.set(e.path, e);
    }
    return out;
  });
  const { wanted, target } = choose(ref, files, revision);

  const folder = repoFolder(s.cacheDir, ref.repo);
  fs.mkdirSync(path.join(folder, "blobs"), { recursive: true });
  const requests: BlobRequest[] = wanted.map((file) => {
    const e = files.get(file)!;
    const etag = e.lfs?.oid ?? e.oid;
    // The hash names the blob's file: only a git (40) or sha256 (64) hex digest will do.
    if (etag === undefined || !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag)) throw new HubError(`${ref.text}: the hub lists no valid hash for ${file}`);
    return {
      url: `${s.endpoint}/${ref.repo}/resolve/${commit}/${file.split("/").map(encodeURIComponent).join("/")}`,
      file, label: `${ref.text}: ${file}`, blob: blobPath(folder, etag), size: e.lfs?.size ?? e.size,
      sha256: e.lfs ? e.lfs.oid : null, gitOid: e.lfs ? null : e.oid ?? null, headers: auth,
    };
  });
  const todo = requests.filter((r) => !fs.existsSync(r.blob));
  const partSize = (r: BlobRequest): number => (fs.existsSync(`${r.blob}.incomplete`) ? fs.statSync(`${r.blob}.incomplete`).size : 0);
  checkFreeSpace(ref, path.join(folder, "blobs"), todo.reduce((n, r) => n + Math.max(0, r.size - partSize(r)), 0));

  const total = todo.reduce((n, r) => n + r.size, 0);
  const progress = o.progress && todo.length > 0 ? new DownloadProgress(ref.repo, total, o.progress) : null;
  try {
    for (const r of todo) await downloadBlob(r, { retries: o.retries, stallTimeoutMs: o.stallTimeoutMs, progress, fetch });
  } catch (err) {
    progress?.fail();
    throw err instanceof HubError ? err : unreachable(ref, s, err);
  }
  progress?.finish();
  // Linked only once every blob is in and verified: a snapshot never names a file that is not there.
  requests.forEach((r, i) => linkSnapshotFile(folder, commit, wanted[i]!, path.basename(r.blob)));
  if (revision !== commit) writeRef(folder, revision, commit);
  const snapshot = path.join(folder, "snapshots", commit);
  return target === "" ? snapshot : path.join(snapshot, ...target.split("/"));
}
