// The dashboard API's query parameters: each an integer within its bounds, or a 400 in the
// OpenAI error format naming it.
import { badRequest } from "../errors.js";

export interface IntBounds {
  readonly min: number;
  readonly max: number;
  readonly fallback: number;
}

/** Most nodes a tree view may hold, and the default. */
export const MAX_NODES: IntBounds = { min: 1, max: 5000, fallback: 500 };
/** Milliseconds between a stream's tree and request updates. */
export const INTERVAL_MS: IntBounds = { min: 250, max: 10_000, fallback: 1000 };
/** A tree version a client holds (0: none). */
export const SINCE: IntBounds = { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 };

/** A 400 for a query parameter other than `names`. */
export function onlyParams(query: unknown, names: readonly string[]): void {
  for (const k of Object.keys((query ?? {}) as object)) {
    if (!names.includes(k)) throw badRequest(k, `Unknown parameter '${k}'${names.length > 0 ? `; this route takes ${names.join(", ")}` : ""}.`, "unknown_parameter");
  }
}

/** The query's value of `name` within `b`; absent: b.fallback. */
export function intParam(query: unknown, name: string, b: IntBounds): number {
  const raw = ((query ?? {}) as Record<string, unknown>)[name];
  if (raw === undefined) return b.fallback;
  if (typeof raw !== "string" || !/^\d{1,16}$/.test(raw)) throw badRequest(name, `'${name}' must be an integer from ${b.min} to ${b.max}.`);
  const v = Number(raw);
  if (v < b.min || v > b.max) throw badRequest(name, `'${name}' must be an integer from ${b.min} to ${b.max}, got ${v}.`);
  return v;
}
