// A fresh project that installs radixlm from a packed tarball, as a user's would, without the
// network: its lockfile pins radixlm's dependencies to the versions in radixlm's own
// package-lock.json, whose tarballs `npm ci` left in npm's cache, so `npm ci --offline`
// takes them from there.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

interface LockEntry {
  readonly version?: string;
  readonly dev?: boolean;
  readonly license?: string;
  readonly dependencies?: Record<string, string>;
  readonly bin?: Record<string, string>;
  readonly engines?: Record<string, string>;
}

interface Lock {
  readonly packages: Record<string, LockEntry>;
}

/** Writes package.json and package-lock.json of a project depending on the tarball `tgz` alone. */
export function writeConsumer(dir: string, tgz: string, projectLock: string): void {
  const lock = JSON.parse(fs.readFileSync(projectLock, "utf8")) as Lock;
  const self = lock.packages[""]!;
  const spec = `file:${tgz}`;
  const integrity = `sha512-${createHash("sha512").update(fs.readFileSync(tgz)).digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "consumer", dependencies: { radixlm: spec } },
    "node_modules/radixlm": {
      version: self.version, resolved: spec, integrity, hasInstallScript: true, license: self.license,
      dependencies: self.dependencies, bin: self.bin, engines: self.engines,
    },
  };
  // radixlm's runtime dependencies sit where they sit in radixlm's own tree
  for (const [where, entry] of Object.entries(lock.packages)) if (where !== "" && !entry.dev) packages[where] = entry;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { radixlm: spec } }, null, 2));
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "consumer", lockfileVersion: 3, requires: true, packages }, null, 2));
}

/**
 * A PATH holding only node, npm, npx and sh: no compiler, no make, no python. Links to the
 * real ones, in `dir`.
 */
export function bareBin(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const real = (cmd: string): string => {
    const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} is not on PATH`);
    return fs.realpathSync(r.stdout.trim());
  };
  for (const cmd of ["node", "npm", "npx", "sh"]) fs.symlinkSync(real(cmd), path.join(dir, cmd));
  return dir;
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command in `cwd` with `env` over the process's own; its output and time. */
export function run(cmd: string, args: readonly string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 300_000): Run {
  const t = performance.now();
  // not the npm_* settings of an `npm test` this runs under
  const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, { cwd, env: { ...own, ...env }, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? `\n${r.error.message}` : ""), ms: performance.now() - t };
}
