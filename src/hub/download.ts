// One file from the hub into the cache's blobs/: fetched into <etag>.incomplete, resumed from
// there with a Range request when a transfer broke off (now or in an earlier run), checked
// against the size and hash the hub lists for it (sha256 for LFS files, the git blob hash for
// the rest), and only then renamed to its blob name. huggingface_hub does the same, so a
// download either tool began, the other can finish.
import fs from "node:fs";
import { createHash, type Hash } from "node:crypto";
import { HubError } from "./errors.js";
import { formatBytes, type DownloadProgress } from "./progress.js";

export interface BlobRequest {
  /** The resolve URL (the hub may redirect it to a CDN). */
  readonly url: string;
  /** The file's path in the repo. */
  readonly file: string;
  /** Names the file in messages: `hf:org/name: config.json`. */
  readonly label: string;
  /** The finished blob's path; the partial data is kept beside it in `.incomplete`. */
  readonly blob: string;
  readonly size: number;
  /** The LFS sha256 the hub lists (big files), or null. */
  readonly sha256: string | null;
  /** The git blob hash the hub lists (small files, when there is no sha256), or null. */
  readonly gitOid: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface TransferOptions {
  /** How many times to go on (with a Range request) after a transfer breaks off within one run. */
  readonly retries: number;
  /** A transfer that brings no byte for this long is broken off (and resumed if retries remain). */
  readonly stallTimeoutMs: number;
  readonly progress: DownloadProgress | null;
  readonly fetch: typeof fetch;
}

/** A transfer that stopped early; what came is kept, and a later try resumes after it. */
class Interrupted extends Error {}

/** A problem with the hub's answer itself, named by status. */
export function statusError(label: string, status: number, what: string, hasToken: boolean): HubError {
  if (status === 401 || status === 403) {
    return new HubError(hasToken
      ? `${label}: the hub refused the token in HF_TOKEN (${status}) for ${what}: it may not grant access to this repo, or the repo is gated and its terms are not accepted`
      : `${label}: the hub answered ${status} for ${what}: the repo is private or gated (or does not exist); set HF_TOKEN to a token that can read it`);
  }
  if (status === 404) return new HubError(`${label}: not found on the hub (404) for ${what}`);
  return new HubError(`${label}: the hub answered ${status} for ${what}`);
}

const sizeOf = (file: string): number => {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
};

async function hashPrefix(hash: Hash, file: string, length: number): Promise<void> {
  if (length === 0) return;
  for await (const chunk of fs.createReadStream(file, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
}

function newHash(req: BlobRequest): Hash {
  if (req.sha256 !== null) return createHash("sha256");
  const h = createHash("sha1");
  // git hashes a blob as "blob <size>\0" followed by the bytes.
  h.update(`blob ${req.size}\0`);
  return h;
}

/** Fetches `req` into its blob (nothing to do when the blob is there). */
export async function downloadBlob(req: BlobRequest, opts: TransferOptions): Promise<void> {
  if (fs.existsSync(req.blob)) return;
  const part = `${req.blob}.incomplete`;
  if (sizeOf(part) > req.size) fs.rmSync(part, { force: true });
  opts.progress?.startFile(req.file, sizeOf(part));
  let hash: Hash | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      hash = await transfer(req, part, opts);
      break;
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      const have = sizeOf(part);
      if (attempt >= opts.retries) {
        throw new HubError(`${req.label}: the download broke off at ${formatBytes(have)} of ${formatBytes(req.size)} (${err.message}); run again to resume from ${part}`);
      }
      await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** attempt)));
    }
  }
  const got = hash.digest("hex");
  const want = req.sha256 ?? req.gitOid;
  if (want !== null && got !== want.toLowerCase()) {
    fs.rmSync(part, { force: true });
    throw new HubError(`${req.label}: the downloaded data does not match the hub's ${req.sha256 !== null ? "sha256" : "git hash"} (expected ${want}, got ${got}); the partial file was deleted, run again to download it afresh`);
  }
  fs.renameSync(part, req.blob);
}

/** One request: appends to `part` from where it ends; returns the hash of the whole file. */
async function transfer(req: BlobRequest, part: string, opts: TransferOptions): Promise<Hash> {
  let offset = sizeOf(part);
  const ac = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | null = null;
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ac.abort();
    }, opts.stallTimeoutMs);
  };
  const why = (err: unknown): string => {
    if (stalled) return `no data for ${opts.stallTimeoutMs / 1000}s`;
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    return code ?? (cause instanceof Error ? cause.message : String(cause));
  };
  arm();
  try {
    let res: Response;
    try {
      res = await opts.fetch(req.url, {
        headers: { ...req.headers, "Accept-Encoding": "identity", ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) },
        signal: ac.signal,
      });
    } catch (err) {
      throw new Interrupted(why(err));
    }
    if (res.status === 416) {
      // The partial file no longer fits what the server has: start over on the next try.
      fs.rmSync(part, { force: true });
      opts.progress?.rewind(offset);
      throw new Interrupted("the server refused to resume (416)");
    }
    if (!res.ok) throw statusError(req.label, res.status, "the file's data", "Authorization" in req.headers);
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
      if (!range || Number(range[1]) !== offset || (range[3] !== "*" && Number(range[3]) !== req.size)) {
        throw new HubError(`${req.label}: the server resumed at the wrong place (Content-Range ${JSON.stringify(res.headers.get("content-range"))}, asked for bytes ${offset}- of ${req.size})`);
      }
    } else if (offset > 0) {
      // The server sent the whole file rather than the rest: take it from the start.
      opts.progress?.rewind(offset);
      offset = 0;
    }
    const length = res.headers.get("content-length");
    if (length !== null && Number(length) !== req.size - offset) {
      throw new HubError(`${req.label}: the server sends ${length} bytes, but the hub lists the file as ${req.size} bytes (${req.size - offset} still to come)`);
    }
    const hash = newHash(req);
    await hashPrefix(hash, part, offset);
    const fh = await fs.promises.open(part, offset > 0 ? "a" : "w");
    let got = offset;
    try {
      const reader = res.body!.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw new Interrupted(why(err));
        }
        if (chunk.done) break;
        arm();
        const data = chunk.value;
        if (got + data.byteLength > req.size) throw new HubError(`${req.label}: the server sends more than the ${req.size} bytes the hub lists`);
        try {
          await fh.write(data);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOSPC") {
            throw new HubError(`${req.label}: no space left on the device writing ${part} (${formatBytes(req.size - got)} still to come); free some space, or set HF_HUB_CACHE to another disk, and run again to resume`);
          }
          throw new HubError(`${req.label}: cannot write ${part} (${code ?? String(err)})`);
        }
        hash.update(data);
        got += data.byteLength;
        opts.progress?.add(data.byteLength);
      }
    } finally {
      await fh.close();
    }
    if (got < req.size) throw new Interrupted(`the connection closed at byte ${got}`);
    return hash;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
