// A reader of the Prometheus text exposition format (version 0.0.4), strict where the EPP's
// parser (prometheus/common expfmt.TextParser) is: a sample before its family's TYPE is read
// as untyped, a TYPE after samples or twice is an error, label values are quoted with \\, \"
// and \n escapes, and a value is a Go float (NaN and Inf in any case). Families are keyed by name,
// the samples of a histogram or summary under their base name.

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestampMs?: number;
}

export interface Family {
  readonly name: string;
  type: MetricType;
  help?: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES: readonly MetricType[] = ["counter", "gauge", "histogram", "summary", "untyped"];
const SUFFIXES = ["_bucket", "_count", "_sum"];

/** A float as Go's strconv.ParseFloat reads it (NaN and Inf in any case: prom-client writes "Nan"). */
function parseValue(s: string, line: string): number {
  const special = /^([-+]?)(nan|inf|infinity)$/i.exec(s);
  if (special) return special[2]!.toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value "${s}" in: ${line}`);
  return Number(s);
}

/** The labels inside `{...}` starting at `s[0] === "{"`; returns them and the rest after `}`. */
function parseLabels(s: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (s[i] === " ") i++;
    if (s[i] === "}") return { labels, rest: s.slice(i + 1) };
    const m = LABEL.exec(s.slice(i));
    if (!m) throw new Error(`bad label name in: ${line}`);
    const name = m[0];
    i += name.length;
    if (s[i] !== "=" || s[i + 1] !== '"') throw new Error(`expected =" after ${name} in: ${line}`);
    i += 2;
    let value = "";
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      i++;
      if (c === '"') break;
      if (c === "\\") {
        const e = s[i++];
        if (e === "n") value += "\n";
        else if (e === "\\" || e === '"') value += e;
        else throw new Error(`bad escape \\${e} in: ${line}`);
      } else value += c;
    }
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    labels[name] = value;
    while (s[i] === " ") i++;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") throw new Error(`expected , or } in: ${line}`);
  }
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const suffix of SUFFIXES) {
      if (!sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
    return undefined;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest = ""] = m as unknown as [string, "HELP" | "TYPE", string, string | undefined];
      let f = families.get(name);
      if (kind === "TYPE") {
        const type = rest.trim() as MetricType;
        if (!TYPES.includes(type)) throw new Error(`unknown type "${rest}" in: ${line}`);
        if (f && (f.samples.length > 0 || f.type !== "untyped")) throw new Error(`TYPE for ${name} after its samples or twice`);
        if (!f) families.set(name, (f = { name, type, samples: [] }));
        f.type = type;
      } else {
        if (!f) families.set(name, (f = { name, type: "untyped", samples: [] }));
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`);
        f.help = rest;
      }
      continue;
    }
    const m = NAME.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || parts[0] === "") throw new Error(`bad sample line: ${line}`);
    const value = parseValue(parts[0]!, line);
    const sample: Sample = parts[1] === undefined ? { name, labels, value } : { name, labels, value, timestampMs: Number(parts[1]) };
    let f = familyOf(name);
    if (!f) families.set(name, (f = { name, type: "untyped", samples: [] }));
    f.samples.push(sample);
  }
  return families;
}
