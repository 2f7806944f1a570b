// Picks the backend a command runs on. "auto" is the native one when the addon loads and the
// reference one otherwise, with one warning line on stderr; RADIXLM_NO_NATIVE=1 turns the
// addon off.
import { loadNative, nativeDisabled } from "../native/addon.js";
import type { Backend } from "./backend.js";
import { nativeBackend, runnerAddon, type RunnerAddon } from "./native.js";
import { referenceBackend } from "./reference.js";

export type BackendName = "auto" | "native" | "reference";

export const BACKEND_NAMES: readonly BackendName[] = ["auto", "native", "reference"];

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

let warned = false;

/**
 * The addon with its runner, or null after one warning line (for the whole process; when
 * the addon failed to load, addon.ts has already written that line).
 */
export function nativeOrWarn(): RunnerAddon | null {
  const addon = runnerAddon();
  if (addon || warned) return addon;
  warned = true;
  if (nativeDisabled()) {
    process.stderr.write("radixlm: warning: native addon disabled by RADIXLM_NO_NATIVE; using the reference backend (slow)\n");
  } else if (loadNative() !== null) {
    process.stderr.write("radixlm: warning: the native addon has no model runner (stale build?); using the reference backend (slow)\n");
  }
  return null;
}

export function selectBackend(name: BackendName, threads?: number): Backend {
  if (name === "reference") return referenceBackend;
  if (name === "native") {
    const addon = runnerAddon();
    if (!addon) {
      throw new Error(nativeDisabled()
        ? "the native backend is disabled by RADIXLM_NO_NATIVE"
        : "the native backend is unavailable (the addon did not build or load; see `npm run install`)");
    }
    return nativeBackend(addon, threads);
  }
  const addon = nativeOrWarn();
  return addon ? nativeBackend(addon, threads) : referenceBackend;
}
