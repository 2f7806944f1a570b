// How the CLI reports failure: one line on stderr, exit code 2, no stack trace (unless
// RADIXLM_DEBUG is set).
import { escapeControls } from "../formats/errors.js";

export class UsageError extends Error {
  override name = "UsageError";
}

export function failLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // Messages quote files and arguments; nothing in them may act on the terminal.
  return `radixlm: error: ${escapeControls(msg.split("\n")[0]!)}`;
}

export function reportAndExit(err: unknown): never {
  process.stderr.write(failLine(err) + "\n");
  if (process.env.RADIXLM_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  process.exit(2);
}

export function parseIntArg(name: string, v: string, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

export function parseFloatArg(name: string, v: string, min = -Infinity): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${name} must be a number, got "${v}"`);
  if (n < min) throw new UsageError(`${name} must be at least ${min}, got "${v}"`);
  return n;
}
