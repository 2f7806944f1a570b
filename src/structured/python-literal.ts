// Python literals as JSON text: the argument values of pythonic tool calls
// (`get_weather(city="Paris", days=3)`) and of Qwen3-Coder's object parameters, which its
// chat template writes with Python's str(). Strings ('...' or "..." with Python's escapes),
// ints (any size: the digits are kept, never rounded through a double), floats,
// True/False/None, lists, tuples and sets (as arrays) and dicts. JSON's own true/false/null
// and "\/" are read too: constrained generation writes nested values with the JSON grammar.

/** Deepest nesting read; a deeper value is not a literal here (a hostile one cannot overflow the stack). */
const MAX_DEPTH = 64;

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", v: "\v", a: "\x07", "/": "/", "\n": "",
};
const HEX_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 };
const isOctal = (c: string): boolean => c >= "0" && c <= "7";
const isHex = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);

/**
 * One Python string literal read a character at a time, after its opening quote: each feed
 * gives the decoded text it completes, and says when the closing quote came. An escape is
 * held until it is complete.
 */
export class PyStringScanner {
  done = false;
  /** The escape read so far ("\\x4" of "\\x41"), or null outside one. */
  private escape: string | null = null;

  constructor(private readonly quote: string, private readonly raw = false) {}

  /** The decoded text that `c` completes ("" while an escape is open or at the closing quote). */
  feed(c: string): string {
    if (this.escape !== null) return this.continueEscape(c);
    if (c === this.quote) {
      this.done = true;
      return "";
    }
    if (c === "\\") {
      this.escape = "\\";
      return "";
    }
    return c;
  }

  private continueEscape(c: string): string {
    const e = this.escape! + c;
    const kind = e[1]!;
    if (this.raw) {
      // r"..": a backslash stays, and only keeps the quote after it from closing the string
      this.escape = null;
      return e;
    }
    if (e.length === 2) {
      if (kind in SIMPLE_ESCAPES) {
        this.escape = null;
        return SIMPLE_ESCAPES[kind]!;
      }
      if (kind in HEX_DIGITS || isOctal(kind)) {
        this.escape = e;
        return "";
      }
      // Python keeps an unknown escape as written.
      this.escape = null;
      return e;
    }
    if (isOctal(kind)) {
      if (isOctal(c) && e.length <= 4) {
        this.escape = e;
        if (e.length < 4) return "";
        this.escape = null;
        return String.fromCodePoint(parseInt(e.slice(1), 8));
      }
      // the octal escape ended before `c`, which counts on its own
      this.escape = null;
      return String.fromCodePoint(parseInt(e.slice(1, -1), 8)) + this.feed(c);
    }
    const want = HEX_DIGITS[kind]!;
    if (!isHex(c)) {
      this.escape = null;
      return e;
    }
    if (e.length < 2 + want) {
      this.escape = e;
      return "";
    }
    this.escape = null;
    const cp = parseInt(e.slice(2), 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : e;
  }
}

/** The JSON text of the Python literal `text` (surrounding whitespace allowed); null when it is not one. */
export function pythonLiteralJson(text: string): string | null {
  const p = new LiteralReader(text);
  const v = p.value(0);
  p.skipSpace();
  return v !== null && p.atEnd() ? v : null;
}

class LiteralReader {
  private i = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  skipSpace(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  value(depth: number): string | null {
    if (depth > MAX_DEPTH) return null;
    this.skipSpace();
    const c = this.s[this.i];
    if (c === undefined) return null;
    if (c === "[") return this.sequence("]", depth);
    if (c === "(") return this.sequence(")", depth);
    if (c === "{") return this.braces(depth);
    const str = this.string();
    if (str !== null) return str;
    const word = /^[A-Za-z_]\w*/.exec(this.s.slice(this.i, this.i + 16))?.[0];
    if (word !== undefined) {
      const json = { True: "true", False: "false", None: "null", true: "true", false: "false", null: "null" }[word];
      if (json === undefined) return null;
      this.i += word.length;
      return json;
    }
    return this.number();
  }

  private string(): string | null {
    const m = /^([rRuU]?)(['"])/.exec(this.s.slice(this.i, this.i + 2));
    if (!m) return null;
    this.i += m[0].length;
    const sc = new PyStringScanner(m[2]!, m[1] === "r" || m[1] === "R");
    let out = "";
    while (this.i < this.s.length && !sc.done) out += sc.feed(this.s[this.i++]!);
    return sc.done ? JSON.stringify(out) : null;
  }

  private number(): string | null {
    const m = /^[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d[\d_]*(\.)?([eE][+-]?\d+)?)/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) return null;
    this.i += m[0].length;
    return numberJson(m[0]);
  }

  /** A list, tuple (or parenthesized value) as a JSON array; a trailing comma is fine. */
  private sequence(close: string, depth: number): string | null {
    this.i++;
    const items: string[] = [];
    let comma = false;
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === close) {
        this.i++;
        // (x) is x, (x,) a tuple
        return close === ")" && items.length === 1 && !comma ? items[0]! : `[${items.join(",")}]`;
      }
      if (items.length > 0) {
        if (this.s[this.i] !== ",") return null;
        this.i++;
        comma = true;
        this.skipSpace();
        if (this.s[this.i] === close) continue;
      }
      const v = this.value(depth + 1);
      if (v === null) return null;
      items.push(v);
    }
  }

  /** A dict as a JSON object (keys as strings), or a set as an array. */
  private braces(depth: number): string | null {
    this.i++;
    const members: string[] = [];
    let isSet: boolean | null = null;
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === "}") {
        this.i++;
        return isSet ? `[${members.join(",")}]` : `{${members.join(",")}}`;
      }
      if (members.length > 0) {
        if (this.s[this.i] !== ",") return null;
        this.i++;
        this.skipSpace();
        if (this.s[this.i] === "}") continue;
      }
      const k = this.value(depth + 1);
      if (k === null) return null;
      this.skipSpace();
      if (this.s[this.i] === ":" && isSet !== true) {
        isSet = false;
        this.i++;
        const v = this.value(depth + 1);
        if (v === null) return null;
        members.push(`${k.startsWith('"') ? k : JSON.stringify(k)}:${v}`);
      } else if (isSet !== false) {
        isSet = true;
        members.push(k);
      } else {
        return null;
      }
    }
  }
}

/** A Python number's JSON text: underscores dropped, hex/octal/binary ints in decimal, ".5" and "5." spelled out. */
function numberJson(text: string): string | null {
  let t = text.replace(/_/g, "");
  let sign = "";
  if (t[0] === "+" || t[0] === "-") {
    sign = t[0] === "-" ? "-" : "";
    t = t.slice(1);
  }
  if (/^0[xXoObB]/.test(t)) {
    try {
      return sign + BigInt(t).toString();
    } catch {
      return null;
    }
  }
  t = t.replace(/^\./, "0.").replace(/\.(?=[eE]|$)/, ".0");
  // Python allows leading zeros in "00" and in floats ("007.5"); JSON does not.
  t = t.replace(/^0+(?=\d)/, "");
  return /^(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(t) ? sign + t : null;
}
