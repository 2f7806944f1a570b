// Loads the C++ addon once. When it is missing or disabled (RADIXLM_NO_NATIVE=1), callers
// fall back to pure TypeScript paths; a single warning line says so.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export interface NativeAddon {
  mapFile(path: string): ArrayBuffer;
}

let cached: NativeAddon | null | undefined;
let warned = false;

function addonPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/native/addon.js and dist-test/src/native/addon.js both sit below the package root.
  let dir = here;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, "build", "Release", "radixlm_native.node");
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.join(here, "..", "..", "build", "Release", "radixlm_native.node");
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
    const require = createRequire(import.meta.url);
    cached = require(addonPath()) as NativeAddon;
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
