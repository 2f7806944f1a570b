// Loads the C++ addon once: a build from source (build/Release, what node-gyp makes in a
// checkout) when there is one, else the prebuilt binary for this platform and CPU
// architecture (prebuilds/<platform>-<arch>/, node-gyp-build's layout; N-API, so one binary
// serves every Node version). Each binary picks its SIMD kernels at run time. When none
// loads, or RADIXLM_NO_NATIVE=1, callers fall back to pure TypeScript paths; a single
// warning line says so.
import { createRequire } from "node:module";
import { packageRoot } from "../util/package-root.js";

export interface NativeAddon {
  mapFile(path: string): ArrayBuffer;
}

let cached: NativeAddon | null | undefined;
let loadedFrom: string | null = null;
let warned = false;
const require = createRequire(import.meta.url);

interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
}

/**
 * The addon binary node-gyp-build picks in the package folder `root`: build/Release, then
 * the most specific matching prebuild. Throws, naming this platform, when none matches.
 */
export function addonPath(root: string = packageRoot()): string {
  return (require("node-gyp-build") as NodeGypBuild).resolve(root);
}

export function nativeDisabled(): boolean {
  const v = process.env.RADIXLM_NO_NATIVE;
  return v !== undefined && v !== "" && v !== "0";
}

/** The addon, or null with one warning on stderr when it cannot be used. */
export function loadNative(): NativeAddon | null {
  if (cached !== undefined) return cached;
  if (nativeDisabled()) {
    cached = null;
    return cached;
  }
  try {
    const file = addonPath();
    cached = require(file) as NativeAddon;
    loadedFrom = file;
  } catch (err) {
    cached = null;
    if (!warned) {
      warned = true;
      const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
      process.stderr.write(`radixlm: warning: native addon unavailable (${msg}); using the TypeScript fallback\n`);
    }
  }
  return cached;
}

/** The file the addon was loaded from (a build from source or a prebuild), or null when it was not. */
export function loadedAddonPath(): string | null {
  loadNative();
  return loadedFrom;
}
