// Pre-tokenization: a tokenizer.json `pre_tokenizer` turned into a function from normalized text to
// words. Regexes come from the JS library (which rewrites the Oniguruma patterns that the Rust
// library uses); the splitting is ours, because the JS library gets some of it wrong:
// - `Digits` must split on Unicode numbers (Rust `char::is_numeric`), not only ASCII 0-9;
// - `ByteLevel`'s regex must use Unicode White_Space (JS `\s` adds U+FEFF, drops U+0085);
// - `Split` behaviours other than Isolated/Removed, `Punctuation` behaviours and
//   `Metaspace.split` are ignored there.
// A trailing byte-level mapping is left to the BPE step (it maps bytes straight to ids), so words
// can be cached by their raw text.
import { byteLevelEncode } from "./byte-level.js";
import { libPattern, libPreTokenizer } from "./library.js";

export type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";

export interface PreTokenizerPlan {
  /** Splits one section of normalized text into words. */
  split(text: string, sectionIndex: number): string[];
  /** The words are raw text still to be written in the byte-level alphabet. */
  readonly byteLevelTail: boolean;
}

type Step = (pieces: string[], sectionIndex: number) => string[];

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const PUNCTUATION = "[\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E]";
const BEHAVIORS: readonly string[] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

/** A step; `byteMap` marks the mapping into the byte-level alphabet. */
type StepKind = { step: Step; byteMap?: true };

export function planPreTokenizer(config: unknown, source: string): PreTokenizerPlan {
  const steps: StepKind[] = config == null ? [] : buildSteps(config, source);
  let byteLevelTail = false;
  if (steps.length > 0 && steps[steps.length - 1].byteMap) {
    steps.pop();
    byteLevelTail = true;
  }
  const fns = steps.map((s) => s.step);
  return {
    byteLevelTail,
    split(text: string, sectionIndex: number): string[] {
      let pieces = [text];
      for (const f of fns) pieces = f(pieces, sectionIndex);
      return pieces;
    },
  };
}

function buildSteps(config: unknown, source: string): StepKind[] {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${source}: pre_tokenizer must be an object`);
  }
  const cfg = config as Record<string, unknown>;
  switch (cfg.type) {
    case "Sequence": {
      const list = cfg.pretokenizers;
      if (!Array.isArray(list)) throw new Error(`${source}: pre_tokenizer Sequence needs a "pretokenizers" array`);
      return list.flatMap((c: unknown) => (c == null ? [] : buildSteps(c, source)));
    }
    case "ByteLevel": {
      const out: StepKind[] = [];
      if (cfg.add_prefix_space === true) out.push({ step: prefixSpace });
      if (cfg.use_regex !== false) out.push({ step: splitStep(libPattern({ Regex: GPT2_PATTERN }), "Isolated", false) });
      out.push({ step: (pieces) => pieces.map(byteLevelEncode), byteMap: true });
      return out;
    }
    case "Digits":
      return [{ step: splitStep(/\p{N}/gu, cfg.individual_digits === true ? "Isolated" : "Contiguous", false) }];
    case "Split": {
      const pattern = cfg.pattern;
      if (typeof pattern !== "object" || pattern === null) throw new Error(`${source}: Split pre_tokenizer needs a "pattern"`);
      return [{ step: splitStep(libPattern(pattern), behavior(cfg.behavior, source), cfg.invert === true) }];
    }
    case "Punctuation":
      return [{ step: splitStep(new RegExp(PUNCTUATION, "gu"), behavior(cfg.behavior ?? "Isolated", source), false) }];
    case "Metaspace":
      return [{ step: metaspaceStep(cfg) }];
    default: {
      const lib = libPreTokenizer(cfg);
      return [{ step: (pieces, sectionIndex) => pieces.flatMap((p) => lib.pre_tokenize_text(p, { section_index: sectionIndex })) }];
    }
  }
}

function behavior(value: unknown, source: string): Behavior {
  if (typeof value === "string" && BEHAVIORS.includes(value)) return value as Behavior;
  throw new Error(`${source}: unknown split behavior ${JSON.stringify(value)}`);
}

function prefixSpace(pieces: string[]): string[] {
  return pieces.map((p) => (p.startsWith(" ") ? p : " " + p));
}

function metaspaceStep(cfg: Record<string, unknown>): Step {
  const replacement = typeof cfg.replacement === "string" ? cfg.replacement : "\u2581";
  const scheme = typeof cfg.prepend_scheme === "string" ? cfg.prepend_scheme : cfg.add_prefix_space === false ? "never" : "always";
  const split = cfg.split !== false;
  const splitter = splitStep(new RegExp(escapeRegExp(replacement), "gu"), "MergedWithNext", false);
  return (pieces, sectionIndex) => {
    const out = pieces.map((p) => {
      let s = p.replaceAll(" ", replacement);
      if (!s.startsWith(replacement) && (scheme === "always" || (scheme === "first" && sectionIndex === 0))) s = replacement + s;
      return s;
    });
    return split ? splitter(out, sectionIndex) : out;
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A split by the matches of `re` with HF's delimiter behaviour; `invert` makes the matches the words. */
export function splitStep(re: RegExp, how: Behavior, invert: boolean): Step {
  const global = re.global ? re : new RegExp(re.source, re.flags + "g");
  return (pieces) => {
    const out: string[] = [];
    for (const p of pieces) splitOne(p, global, how, invert, out);
    return out;
  };
}

function splitOne(text: string, re: RegExp, how: Behavior, invert: boolean, out: string[]): void {
  if (text.length === 0) return;
  if (how === "Isolated") {
    // Fast path: when the matches tile the whole text, they are the words.
    const all = text.match(re);
    if (all !== null) {
      let total = 0;
      for (const m of all) total += m.length;
      if (total === text.length) {
        for (const m of all) if (m.length > 0) out.push(m);
        return;
      }
    }
  }
  // Segments alternate between text and delimiters (matches; non-matches when inverted).
  const segs: string[] = [];
  const isDelim: boolean[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      re.lastIndex = start + (isHighSurrogateAt(text, start) ? 2 : 1);
      continue;
    }
    if (start > last) {
      segs.push(text.slice(last, start));
      isDelim.push(invert);
    }
    segs.push(m[0]);
    isDelim.push(!invert);
    last = end;
  }
  if (last < text.length) {
    segs.push(text.slice(last));
    isDelim.push(invert);
  }
  switch (how) {
    case "Removed":
      segs.forEach((s, i) => !isDelim[i] && out.push(s));
      return;
    case "Isolated":
      out.push(...segs);
      return;
    case "Contiguous": {
      let run = "";
      segs.forEach((s, i) => {
        if (isDelim[i]) run += s;
        else {
          if (run) out.push(run);
          run = "";
          out.push(s);
        }
      });
      if (run) out.push(run);
      return;
    }
    case "MergedWithPrevious": {
      let cur = "";
      segs.forEach((s, i) => {
        cur += s;
        if (isDelim[i]) {
          out.push(cur);
          cur = "";
        }
      });
      if (cur) out.push(cur);
      return;
    }
    case "MergedWithNext": {
      let cur = "";
      segs.forEach((s, i) => {
        if (isDelim[i] && cur) {
          out.push(cur);
          cur = "";
        }
        cur += s;
      });
      if (cur) out.push(cur);
      return;
    }
  }
}

function isHighSurrogateAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
}
