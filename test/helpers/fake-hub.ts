// A Hugging Face hub on 127.0.0.1 with the URL layout and headers the real one has (as
// @huggingface/hub and huggingface_hub read them): the revision and tree APIs, and
// /{repo}/resolve/{rev}/{path} answering small files itself and redirecting LFS files to a
// CDN route, both with Range support. It records every request, and can cut a transfer off
// midway, stall it, or flip a byte, to test what a client does when a download goes wrong.
import http from "node:http";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";

export interface HubFile {
  readonly path: string;
  readonly data: Buffer;
  /** Stored in LFS (named by sha256, served through the CDN redirect). */
  readonly lfs: boolean;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
}

interface Repo {
  readonly refs: Map<string, string>;
  readonly commits: Map<string, Map<string, HubFile>>;
  /** Requests without `Authorization: Bearer <token>` get 401. */
  readonly token: string | null;
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
/** git's blob hash: what the hub lists as a file's oid and sends as a small file's ETag. */
export const gitOid = (b: Buffer): string => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

/** Every file under `src` (a folder, or one file) as hub files; .safetensors and .gguf in LFS, as on the hub. */
export function filesOf(src: string, names: Record<string, string> = {}): HubFile[] {
  const list = fs.statSync(src).isDirectory() ? fs.readdirSync(src).map((f) => path.join(src, f)) : [src];
  return list.map((f) => {
    const name = names[path.basename(f)] ?? path.basename(f);
    return { path: name, data: fs.readFileSync(f), lfs: /\.(safetensors|gguf|bin|onnx)$/.test(name) };
  });
}

export class FakeHub {
  readonly requests: SeenRequest[] = [];
  private readonly repos = new Map<string, Repo>();
  /** Send only this many bytes of the file, then close the connection (counts down per request). */
  readonly cuts = new Map<string, { after: number; times: number }>();
  /** Send this many bytes of the file, then nothing, keeping the connection open. */
  readonly stalls = new Map<string, number>();
  /** Files whose middle byte is flipped on the way out. */
  readonly corrupt = new Set<string>();
  private commitSeq = 0;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<FakeHub> {
    const server = http.createServer();
    const hub = new FakeHub(server);
    server.on("request", (req, res) => hub.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return hub;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Adds a commit holding `files` to `repo` and points `branch` at it; returns the commit. */
  publish(repo: string, files: readonly HubFile[], opts: { branch?: string; token?: string } = {}): string {
    let r = this.repos.get(repo);
    if (!r) {
      r = { refs: new Map(), commits: new Map(), token: opts.token ?? null };
      this.repos.set(repo, r);
    }
    const commit = createHash("sha1").update(`${repo} ${++this.commitSeq}`).digest("hex");
    r.commits.set(commit, new Map(files.map((f) => [f.path, f])));
    r.refs.set(opts.branch ?? "main", commit);
    return commit;
  }

  /** Requests for the data of one of `repo`'s files: to /resolve/, and for LFS files to the CDN it redirects to. */
  dataRequests(repo: string, file: string): SeenRequest[] {
    const cdn = `?repo=${encodeURIComponent(repo)}&file=${encodeURIComponent(file)}`;
    return this.requests.filter((q) => decodeURIComponent(q.url).startsWith(`/${repo}/resolve/`) && decodeURIComponent(q.url).endsWith(`/${file}`) || q.url.startsWith("/cdn/") && q.url.endsWith(cdn));
  }

  /** Only the CDN requests for an LFS file's data (where Range requests go). */
  cdnRequests(repo: string, file: string): SeenRequest[] {
    return this.dataRequests(repo, file).filter((q) => q.url.startsWith("/cdn/"));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? "/";
    this.requests.push({ method: req.method ?? "GET", url, range: req.headers.range, authorization: req.headers.authorization });
    const u = new URL(url, "http://hub");
    const p = decodeURIComponent(u.pathname);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(p);
    if (cdn) return this.cdn(cdn[1]!, u.searchParams.get("file") ?? "", req, res);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(p);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    const repoId = api?.[1] ?? resolve?.[1];
    const repo = repoId === undefined ? undefined : this.repos.get(repoId);
    if (!repo) {
      // The real hub answers 401 for a repo it does not have when no token is sent, 404 with one.
      if (req.headers.authorization === undefined && api) return this.json(res, 401, { error: "Invalid username or password." });
      return this.json(res, 404, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
    }
    if (repo.token !== null && req.headers.authorization !== `Bearer ${repo.token}`) {
      return this.json(res, 401, { error: "Invalid credentials in Authorization header" });
    }
    const rev = api?.[3] ?? resolve![2]!;
    const commit = repo.commits.has(rev) ? rev : repo.refs.get(rev);
    const files = commit === undefined ? undefined : repo.commits.get(commit);
    if (!files || commit === undefined) return this.json(res, 404, { error: "Revision Not Found" }, { "X-Error-Code": "RevisionNotFound" });
    if (api?.[2] === "revision") {
      return this.json(res, 200, { _id: `id-${repoId}`, id: repoId, sha: commit, private: repo.token !== null, downloads: 0, likes: 0, lastModified: "2026-01-01T00:00:00.000Z", siblings: [...files.keys()].map((f) => ({ rfilename: f })) });
    }
    if (api) {
      const dirs = new Set<string>();
      for (const f of files.keys()) for (let d = path.posix.dirname(f); d !== "."; d = path.posix.dirname(d)) dirs.add(d);
      return this.json(res, 200, [
        ...[...dirs].map((d) => ({ type: "directory", oid: gitOid(Buffer.from(d)), size: 0, path: d })),
        ...[...files.values()].map((f) => ({
          type: "file", oid: gitOid(f.data), size: f.data.length, path: f.path,
          ...(f.lfs ? { lfs: { oid: sha256(f.data), size: f.data.length, pointerSize: 134 } } : {}),
        })),
      ]);
    }
    const file = files.get(resolve![3]!);
    if (!file) return this.json(res, 404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
    const common = { "X-Repo-Commit": commit };
    if (file.lfs) {
      res.writeHead(302, {
        ...common, Location: `/cdn/${sha256(file.data)}?repo=${encodeURIComponent(repoId!)}&file=${encodeURIComponent(file.path)}`,
        "X-Linked-Etag": `"${sha256(file.data)}"`, "X-Linked-Size": String(file.data.length), ETag: `"${gitOid(file.data)}"`,
      });
      return void res.end();
    }
    this.send(file, req, res, { ...common, ETag: `"${gitOid(file.data)}"` });
  }

  private cdn(sha: string, name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    for (const repo of this.repos.values()) {
      for (const files of repo.commits.values()) {
        for (const f of files.values()) {
          if (f.lfs && sha256(f.data) === sha && f.path === name) return this.send(f, req, res, { ETag: `"${sha}"` });
        }
      }
    }
    this.json(res, 404, { error: "no such blob" });
  }

  /** The file's bytes, or the range asked for, with whatever trouble is set up for it. */
  private send(f: HubFile, req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>): void {
    let data = f.data;
    if (this.corrupt.has(f.path)) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    let start = 0;
    let end = data.length - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (m) {
      start = Number(m[1]);
      if (m[2] !== "") end = Math.min(end, Number(m[2]));
      if (start >= data.length) {
        res.writeHead(416, { "Content-Range": `bytes */${data.length}` });
        return void res.end();
      }
    }
    const body = data.subarray(start, end + 1);
    res.writeHead(m ? 206 : 200, {
      ...headers, "Content-Type": "application/octet-stream", "Content-Length": String(body.length), "Accept-Ranges": "bytes",
      ...(m ? { "Content-Range": `bytes ${start}-${end}/${data.length}` } : {}),
    });
    if (req.method === "HEAD") return void res.end();
    const cut = this.cuts.get(f.path);
    if (cut && cut.times > 0 && cut.after - start > 0 && cut.after - start < body.length) {
      cut.times--;
      res.write(body.subarray(0, cut.after - start), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    const stall = this.stalls.get(f.path);
    if (stall !== undefined && stall - start > 0 && stall - start < body.length) {
      res.write(body.subarray(0, stall - start)); // and never the rest
      return;
    }
    res.end(body);
  }
}
