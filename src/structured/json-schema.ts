// JSON schema -> EBNF through xgrammar's converter, with its numeric ranges replaced.
//
// xgrammar 0.1.27 gets bounded numbers wrong: {"type": "integer", "minimum": 0, "maximum":
// 120} allows 121..129, and a bounded "number" can put any character where the decimal
// point goes. So before conversion every integer/number subschema with a bound becomes a
// placeholder constant, and after it each placeholder's literal in the EBNF is replaced by
// a range rule written here. The converter also lets raw control characters into strings
// with a length bound; fixJsonStringRule closes that.

/** Bounds past this are clamped (a number in a JSON output has at most 15 integer digits here). */
const LIMIT = 999_999_999_999_999;
/** Digits a bounded number may have after its decimal point. */
const FRACTION_DIGITS = 6;

const PLACEHOLDER = "__radixlm_range_";

/** EBNF for the decimal integers in [a, b], 0 <= a <= b (no sign, no leading zeros). */
export function naturalRange(a: number, b: number): string {
  const parts: string[] = [];
  while (a <= b) {
    const digits = String(a).length;
    const top = Math.min(b, 10 ** digits - 1);
    parts.push(fixedWidth(String(a), String(top)));
    a = top + 1;
  }
  return parts.length === 1 ? parts[0]! : `(${parts.join(" | ")})`;
}

/** EBNF for the digit strings between A and B of the same length (lexicographic = numeric). */
function fixedWidth(A: string, B: string): string {
  if (A.length === 0) return '""';
  const a0 = Number(A[0]);
  const b0 = Number(B[0]);
  const tailA = A.slice(1);
  const tailB = B.slice(1);
  const n = A.length - 1;
  const any = n > 0 ? ` [0-9]{${n}}` : "";
  if (a0 === b0) return n === 0 ? `"${a0}"` : `"${a0}" ${fixedWidth(tailA, tailB)}`;
  const alts: string[] = [];
  const low = n === 0 || /^0*$/.test(tailA) ? null : tailA;
  const high = n === 0 || /^9*$/.test(tailB) ? null : tailB;
  let from = a0;
  let to = b0;
  if (low !== null) {
    alts.push(`"${a0}" ${fixedWidth(low, "9".repeat(n))}`);
    from++;
  }
  if (high !== null) {
    alts.push(`"${b0}" ${fixedWidth("0".repeat(n), high)}`);
    to--;
  }
  if (from <= to) alts.push(`${from === to ? `"${from}"` : `[${from}-${to}]`}${any}`);
  return alts.length === 1 ? alts[0]! : `(${alts.join(" | ")})`;
}

/** EBNF for the integers in [lo, hi] (inclusive, lo <= hi), signed. */
function integerRange(lo: number, hi: number): string | null {
  const alts: string[] = [];
  if (hi >= 0) alts.push(naturalRange(Math.max(0, lo), hi));
  if (lo < 0) alts.push(`"-" ${naturalRange(Math.max(1, -hi), -lo)}`);
  return alts.length === 0 ? null : alts.length === 1 ? alts[0]! : `(${alts.join(" | ")})`;
}

interface Bounds {
  lo: number;
  loStrict: boolean;
  hi: number;
  hiStrict: boolean;
}

function boundsOf(s: Record<string, unknown>): Bounds | null {
  const num = (k: string): number | undefined => (typeof s[k] === "number" ? (s[k] as number) : undefined);
  const exMin = num("exclusiveMinimum");
  const exMax = num("exclusiveMaximum");
  const min = num("minimum");
  const max = num("maximum");
  if (exMin === undefined && exMax === undefined && min === undefined && max === undefined) return null;
  const lo = exMin !== undefined && (min === undefined || exMin >= min) ? { v: exMin, strict: true } : { v: min ?? -LIMIT, strict: false };
  const hi = exMax !== undefined && (max === undefined || exMax <= max) ? { v: exMax, strict: true } : { v: max ?? LIMIT, strict: false };
  return { lo: Math.max(lo.v, -LIMIT), loStrict: lo.strict, hi: Math.min(hi.v, LIMIT), hiStrict: hi.strict };
}

/** Smallest integer in the range's lower side (x >= lo, or x > lo). */
const ceilOf = (v: number, strict: boolean): number => (strict && Number.isInteger(v) ? v + 1 : Math.ceil(v));
const floorOf = (v: number, strict: boolean): number => (strict && Number.isInteger(v) ? v - 1 : Math.floor(v));

/** The EBNF of a bounded integer or number, or null when no value fits (the schema is unsatisfiable). */
export function rangeRule(type: "integer" | "number", b: Bounds): string | null {
  const lo = ceilOf(b.lo, b.loStrict);
  const hi = floorOf(b.hi, b.hiStrict);
  const alts: string[] = [];
  const whole = lo <= hi ? integerRange(lo, hi) : null;
  if (whole) alts.push(whole);
  if (type === "number") {
    const frac = `"." [0-9]{1,${FRACTION_DIGITS}}`;
    // a.f (a >= 0) lies in [a, a+1): fits when a fits the low bound and a+1 <= hi.
    const aLo = Math.max(0, lo);
    const aHi = Math.floor(b.hi) - 1;
    if (aLo <= aHi) alts.push(`${naturalRange(aLo, aHi)} ${frac}`);
    // -m.f lies in (-(m+1), -m]: fits when -m fits the high bound and -(m+1) >= lo.
    const mLo = Math.max(0, -hi);
    const mHi = Math.floor(-b.lo) - 1;
    if (mLo <= mHi) alts.push(`"-" ${naturalRange(mLo, mHi)} ${frac}`);
  }
  return alts.length === 0 ? null : `(${alts.join(" | ")})`;
}

/**
 * The schema with each bounded integer/number subschema replaced by a placeholder constant,
 * and the rule each placeholder stands for.
 */
export function extractRanges(schema: unknown): { schema: unknown; rules: Map<string, string> } {
  const rules = new Map<string, string>();
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== "object") return node;
    const s = node as Record<string, unknown>;
    const t = s.type;
    if ((t === "integer" || t === "number") && s.enum === undefined && s.const === undefined) {
      const b = boundsOf(s);
      if (b) {
        const rule = rangeRule(t, b);
        if (rule === null) throw new Error(`no ${t} lies in the range of ${JSON.stringify(s)}`);
        const name = `${PLACEHOLDER}${rules.size}__`;
        rules.set(name, rule);
        const { type: _t, minimum: _a, maximum: _b, exclusiveMinimum: _c, exclusiveMaximum: _d, ...rest } = s;
        return { ...walkObject(rest), const: name };
      }
    }
    return walkObject(s);
  };
  const walkObject = (s: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    // Values of "properties", "$defs" and "definitions" are schemas keyed by name: walk each.
    for (const [k, v] of Object.entries(s)) out[k] = walk(v);
    return out;
  };
  return { schema: walk(schema), rules };
}

/** Puts each range rule where the converter wrote its placeholder's JSON string literal. */
export function insertRanges(ebnf: string, rules: ReadonlyMap<string, string>): string {
  for (const [name, rule] of rules) ebnf = ebnf.replaceAll(`"\\"${name}\\""`, rule);
  return ebnf;
}

/**
 * xgrammar 0.1.27 writes a string with minLength/maxLength as `"\"" [^"\\\r\n]{m,n} "\""`,
 * which lets raw control characters (U+0000-U+001F) into the string: not JSON, and
 * JSON.parse rejects it. Its unbounded string rule excludes them; the bounded one is made to.
 */
export function fixJsonStringRule(ebnf: string): string {
  return ebnf.replaceAll(String.raw`[^"\\\r\n]`, String.raw`[^\0-\x1f"\\]`);
}
