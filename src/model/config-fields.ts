// Reading hyperparameters out of config.json or GGUF metadata. Each value is checked for its
// type and range where it is read, and a bad one is reported under the file's own key, so
// that a zero theta or a negative epsilon fails at load with one line, not later as NaN
// logits or an empty sampler.
import { fieldError, quote, type FormatError } from "../formats/errors.js";

/** A value as an error message shows it: numbers as they are, strings quoted, others by type. */
export function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return quote(v, 32);
  if (v === null) return "null";
  return Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v;
}

export interface IntRange {
  readonly min: number;
  /** An upper bound, and why (the message says it). */
  readonly max?: number;
  readonly maxWhy?: string;
  /** Used when the key is absent (or null). */
  readonly fallback?: number;
}

export class ConfigFields {
  /** `prefix` names nested objects in messages ("rope_scaling."). */
  constructor(readonly path: string, private readonly get: (key: string) => unknown, private readonly prefix = "") {}

  /** A reader of the object at `key`, or null when the key is absent. */
  child(key: string): ConfigFields | null {
    const v = this.get(key);
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) throw this.fail(key, `must be an object, got ${describe(v)}`);
    const o = v as Record<string, unknown>;
    return new ConfigFields(this.path, (k) => o[k], `${this.prefix}${key}.`);
  }

  has(key: string): boolean {
    const v = this.get(key);
    return v !== undefined && v !== null;
  }

  raw(key: string): unknown {
    return this.get(key);
  }

  fail(key: string, problem: string): FormatError {
    return fieldError(this.path, this.prefix + key, problem);
  }

  /** A finite number; bigints (GGUF u64) become numbers. */
  number(key: string, fallback?: number): number {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.fail(key, "missing");
    }
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n)) throw this.fail(key, `must be a finite number, got ${describe(v)}`);
    return n;
  }

  int(key: string, r: IntRange): number {
    const n = this.number(key, r.fallback);
    if (!Number.isInteger(n) || n < r.min) throw this.fail(key, `must be an integer >= ${r.min}, got ${n}`);
    if (r.max !== undefined && n > r.max) throw this.fail(key, `${n} is too large: ${r.maxWhy ?? `at most ${r.max} is possible`}`);
    return n;
  }

  /** A finite number above zero (norm epsilons, RoPE bases, scaling factors). */
  positive(key: string, fallback?: number): number {
    const n = this.number(key, fallback);
    if (!(n > 0)) throw this.fail(key, `must be a finite number > 0, got ${n}`);
    return n;
  }

  /** A finite number other than zero (a divisor: Granite's logit scale). */
  nonzero(key: string, fallback?: number): number {
    const n = this.number(key, fallback);
    if (n === 0) throw this.fail(key, "must not be 0");
    return n;
  }

  /** An id or a list of ids, each a row of a `vocab`-row embedding; [] when absent. */
  tokenIds(key: string, vocab: number): number[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    return list.map((x) => {
      const id = typeof x === "bigint" ? Number(x) : x;
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw this.fail(key, `must be token ids, got ${describe(x)}`);
      if (id >= vocab) throw this.fail(key, `${id} is not a token of the model's vocabulary (${vocab} tokens)`);
      return id;
    });
  }
}
