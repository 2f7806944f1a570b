// The sampling defaults a model ships with: generation_config.json's temperature, top_p,
// top_k, min_p and repetition_penalty in an HF folder, and llama.cpp's general.sampling.* keys
// in a GGUF. They are what a request gets for a field it does not set (vLLM's
// `--generation-config auto`); each is range-checked where it is read, so a bad value fails
// the load with one line naming the file and the field.
import type { GGUFWriteValue } from "../formats/gguf.js";
import { ConfigFields } from "./config-fields.js";

/** The sampling fields a model may set; the names are the engine's (SamplingParams). */
export interface GenerationDefaults {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly repetitionPenalty?: number;
}

type Field = keyof GenerationDefaults;

/** Each field: its generation_config.json key, its GGUF key (llama.cpp's gguf-py Keys.General), and its range. */
const FIELDS: readonly { field: Field; hf: string; gguf: string; kind: "temperature" | "unit-open" | "unit" | "top-k" | "positive" }[] = [
  { field: "temperature", hf: "temperature", gguf: "general.sampling.temp", kind: "temperature" },
  { field: "topP", hf: "top_p", gguf: "general.sampling.top_p", kind: "unit-open" },
  { field: "topK", hf: "top_k", gguf: "general.sampling.top_k", kind: "top-k" },
  { field: "minP", hf: "min_p", gguf: "general.sampling.min_p", kind: "unit" },
  { field: "repetitionPenalty", hf: "repetition_penalty", gguf: "general.sampling.penalty_repeat", kind: "positive" },
];

function read(f: ConfigFields, key: string, kind: (typeof FIELDS)[number]["kind"]): number {
  const n = f.number(key);
  const bad = (range: string): never => {
    throw f.fail(key, `must be ${range}, got ${n}`);
  };
  switch (kind) {
    case "temperature":
      if (n < 0) bad("a number >= 0");
      break;
    case "unit-open":
      if (!(n > 0 && n <= 1)) bad("a number in (0, 1]");
      break;
    case "unit":
      if (!(n >= 0 && n <= 1)) bad("a number in [0, 1]");
      break;
    case "top-k":
      if (!Number.isInteger(n) || n < -1) bad("an integer >= -1 (0 or -1: no cut)");
      break;
    case "positive":
      if (!(n > 0)) bad("a number > 0");
      break;
  }
  return n;
}

/**
 * generation_config.json's sampling fields. `do_sample: false` means greedy (temperature 0),
 * as transformers treats it, whatever `temperature` says; the other fields still apply to a
 * request that asks for a temperature of its own.
 */
export function generationDefaultsFromHF(gen: Record<string, unknown>, path: string): GenerationDefaults {
  const f = new ConfigFields(path, (k) => gen[k]);
  const out: Partial<Record<Field, number>> = {};
  for (const { field, hf, kind } of FIELDS) if (f.has(hf)) out[field] = read(f, hf, kind);
  if (f.has("do_sample")) {
    const v = f.raw("do_sample");
    if (typeof v !== "boolean") throw f.fail("do_sample", `must be true or false, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
    if (!v) out.temperature = 0;
  }
  return out;
}

/**
 * The general.sampling.* keys. They are f32 in the file: a value is read back to the 7
 * significant digits an f32 holds, so that 0.9 written from generation_config.json reads as
 * 0.9 again and the two formats of one model agree.
 */
export function generationDefaultsFromGGUF(meta: Readonly<Record<string, unknown>>, path: string): GenerationDefaults {
  const f = new ConfigFields(path, (k) => meta[k]);
  const out: Partial<Record<Field, number>> = {};
  for (const { field, gguf, kind } of FIELDS) {
    if (f.has(gguf)) out[field] = kind === "top-k" ? read(f, gguf, kind) : Number(read(f, gguf, kind).toPrecision(7));
  }
  return out;
}

/** The defaults as GGUF metadata, typed as llama.cpp's converter writes them (top_k i32, the rest f32). */
export function generationDefaultsToGGUF(d: GenerationDefaults): Record<string, GGUFWriteValue> {
  const out: Record<string, GGUFWriteValue> = {};
  for (const { field, gguf, kind } of FIELDS) {
    const v = d[field];
    if (v !== undefined) out[gguf] = { type: kind === "top-k" ? "i32" : "f32", value: v };
  }
  return out;
}

/** "temperature 0, top_p 0.9" (API names), or "" when there are none. */
export function describeGenerationDefaults(d: GenerationDefaults): string {
  return FIELDS.filter((x) => d[x.field] !== undefined).map((x) => `${x.hf} ${d[x.field]}`).join(", ");
}

/** The defaults under their API (snake_case) names, for JSON answers. */
export function generationDefaultsJson(d: GenerationDefaults): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { field, hf } of FIELDS) if (d[field] !== undefined) out[hf] = d[field]!;
  return out;
}
