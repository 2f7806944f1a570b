// The byte-level BPE pre-tokenizer variants named by GGUF `tokenizer.ggml.pre`, written as the
// tokenizer.json normalizer + pre_tokenizer of the models they come from (the regexes are those of
// llama.cpp's llama-vocab.cpp and of the models' own tokenizer.json files). Non-ASCII characters
// are written as escapes: several of them (U+1F7D, U+2126, ...) change under Unicode normalization.

export interface PreTokenizerSpec {
  normalizer: object | null;
  preTokenizer: object;
  /** Words found whole in the vocabulary skip the merges (Llama 3 style). */
  ignoreMerges?: boolean;
  /** Whether a BOS token is added when the GGUF file does not say (llama.cpp's default). */
  addBos?: boolean;
}

const BYTE_LEVEL = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false };
const BYTE_LEVEL_REGEX = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
const NFC = { type: "NFC" };

const split = (regex: string) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
const sequence = (...pretokenizers: object[]) => ({ type: "Sequence", pretokenizers });

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const TEKKEN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const DEEPSEEK_V3 =
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
/** The cased letters of DeepSeek LLM's letter class (from its tokenizer.json). */
const DEEPSEEK_LETTERS =
  "A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377" +
  "\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556" +
  "\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a" +
  "\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4" +
  "\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc" +
  "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f" +
  "\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b" +
  "\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a" +
  "\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}" +
  "\u{1e900}-\u{1e943}";
const CJK_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
const BLOOM = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";

const DEFAULT_SPEC: PreTokenizerSpec = {
  normalizer: null,
  preTokenizer: sequence(split("[\\p{P}\\$\\+<=>\\^~\\|]+"), split(GPT2), split("\\p{N}+"), split("[0-9][0-9][0-9]"), BYTE_LEVEL),
};
const LLAMA3_SPEC: PreTokenizerSpec = { normalizer: null, preTokenizer: sequence(split(LLAMA3), BYTE_LEVEL), ignoreMerges: true, addBos: true };
const GPT2_SPEC: PreTokenizerSpec = { normalizer: null, preTokenizer: BYTE_LEVEL_REGEX };
const NEOX_SPEC: PreTokenizerSpec = { normalizer: NFC, preTokenizer: BYTE_LEVEL_REGEX };
const STARCODER_SPEC: PreTokenizerSpec = { normalizer: null, preTokenizer: sequence({ type: "Digits", individual_digits: true }, BYTE_LEVEL_REGEX) };
const QWEN2_SPEC: PreTokenizerSpec = { normalizer: NFC, preTokenizer: sequence(split(QWEN2), BYTE_LEVEL) };
const BLOOM_SPEC: PreTokenizerSpec = { normalizer: null, preTokenizer: sequence(split(BLOOM), BYTE_LEVEL) };

/** `tokenizer.ggml.pre` value -> tokenizer.json pieces. */
export const GGUF_PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizerSpec> = new Map<string, PreTokenizerSpec>([
  ["default", DEFAULT_SPEC],
  ["llama-bpe", LLAMA3_SPEC], // first of equal specs = the name written to GGUF
  ["llama3", LLAMA3_SPEC],
  ["llama-v3", LLAMA3_SPEC],
  ["falcon3", LLAMA3_SPEC],
  ["dbrx", { normalizer: null, preTokenizer: sequence(split(LLAMA3), BYTE_LEVEL) }],
  ["smaug-bpe", { normalizer: null, preTokenizer: sequence(split(LLAMA3), BYTE_LEVEL) }],
  ["chatglm-bpe", { normalizer: null, preTokenizer: sequence(split(LLAMA3), BYTE_LEVEL) }],
  ["qwen2", QWEN2_SPEC],
  ["megrez", QWEN2_SPEC],
  ["stablelm2", { normalizer: null, preTokenizer: sequence(split(QWEN2), BYTE_LEVEL) }],
  ["gpt-2", GPT2_SPEC],
  ["phi-2", GPT2_SPEC],
  ["roberta-bpe", GPT2_SPEC],
  ["jais", GPT2_SPEC],
  ["gigachat", GPT2_SPEC],
  ["jina-es", GPT2_SPEC],
  ["jina-de", GPT2_SPEC],
  ["jina-v1-en", GPT2_SPEC],
  ["jina-v2-es", GPT2_SPEC],
  ["jina-v2-de", GPT2_SPEC],
  ["jina-v2-code", GPT2_SPEC],
  ["mpt", NEOX_SPEC],
  ["olmo", NEOX_SPEC],
  ["gpt-neox", NEOX_SPEC], // read only; llama.cpp calls it "mpt"/"olmo"
  ["starcoder", STARCODER_SPEC],
  ["refact", STARCODER_SPEC],
  ["smollm", STARCODER_SPEC],
  ["codeshell", STARCODER_SPEC],
  ["exaone", STARCODER_SPEC],
  ["minerva-7b", STARCODER_SPEC],
  ["command-r", { normalizer: NFC, preTokenizer: STARCODER_SPEC.preTokenizer }],
  ["falcon", {
    normalizer: null,
    preTokenizer: sequence(
      { type: "Punctuation", behavior: "Contiguous" },
      BYTE_LEVEL_REGEX,
      { type: "Digits", individual_digits: false },
      split("[0-9][0-9][0-9]"),
    ),
  }],
  ["deepseek-llm", {
    normalizer: null,
    preTokenizer: sequence(
      split("[\r\n]"),
      split(`\\s?[${DEEPSEEK_LETTERS}]+`),
      split("\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"),
      split("\\s+$"),
      split(CJK_HANGUL),
      { type: "Digits", individual_digits: true },
      BYTE_LEVEL,
    ),
  }],
  ["deepseek-coder", {
    normalizer: null,
    preTokenizer: sequence(
      split("[\r\n]"),
      split("\\s?\\p{L}+"),
      split("\\s?\\p{P}+"),
      split(CJK_HANGUL),
      { type: "Digits", individual_digits: true },
      BYTE_LEVEL,
    ),
  }],
  ["deepseek-v3", {
    normalizer: null,
    preTokenizer: sequence(split("\\p{N}{1,3}"), split("[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"), split(DEEPSEEK_V3), BYTE_LEVEL),
  }],
  ["tekken", { normalizer: null, preTokenizer: sequence(split(TEKKEN), BYTE_LEVEL), ignoreMerges: true, addBos: true }],
  ["poro-chat", BLOOM_SPEC],
  ["bloom", BLOOM_SPEC],
  ["gpt3-finnish", BLOOM_SPEC],
  ["viking", { normalizer: null, preTokenizer: sequence(split(BLOOM), split("\\p{N}"), BYTE_LEVEL) }],
]);

/** The spec for a `tokenizer.ggml.pre` value; unknown or missing values give llama.cpp's default. */
export function preTokenizerForGGUF(pre: string | undefined, source: string): { name: string; spec: PreTokenizerSpec } {
  const known = pre === undefined ? undefined : GGUF_PRE_TOKENIZERS.get(pre);
  if (known) return { name: pre as string, spec: known };
  if (pre !== undefined) {
    console.warn(`${source}: unknown tokenizer.ggml.pre "${pre}", using the default pre-tokenizer (tokenization may differ from the model's)`);
  }
  return { name: "default", spec: DEFAULT_SPEC };
}

/**
 * The `tokenizer.ggml.pre` name whose normalizer and pre-tokenizer behave like the given
 * tokenizer.json ones, or undefined. Settings that do not change the ids (trim_offsets) are ignored.
 */
export function findGGUFPreName(normalizer: unknown, preTokenizer: unknown, ignoreMerges: boolean): string | undefined {
  const want = signature(normalizer, preTokenizer);
  for (const [name, spec] of GGUF_PRE_TOKENIZERS) {
    if ((spec.ignoreMerges ?? false) !== ignoreMerges) continue;
    if (signature(spec.normalizer, spec.preTokenizer) === want) return name;
  }
  return undefined;
}

function signature(normalizer: unknown, preTokenizer: unknown): string {
  return JSON.stringify([canonical(normalizer, "normalizers"), canonical(preTokenizer, "pretokenizers")]);
}

/** Flattens sequences, drops empty ones and fills defaults, so equal behaviour gives equal JSON. */
function canonical(cfg: unknown, listKey: string): unknown {
  if (cfg == null || typeof cfg !== "object") return null;
  const c = cfg as Record<string, unknown>;
  if (c.type === "Sequence") {
    const list = Array.isArray(c[listKey]) ? (c[listKey] as unknown[]) : [];
    const parts = list.flatMap((x) => {
      const y = canonical(x, listKey);
      return y === null ? [] : Array.isArray(y) ? y : [y];
    });
    return parts.length === 0 ? null : parts.length === 1 ? parts[0] : parts;
  }
  switch (c.type) {
    case "ByteLevel":
      return { type: "ByteLevel", add_prefix_space: c.add_prefix_space === true, use_regex: c.use_regex !== false };
    case "Split":
      return { type: "Split", pattern: c.pattern, behavior: c.behavior, invert: c.invert === true };
    case "Digits":
      return { type: "Digits", individual_digits: c.individual_digits === true };
    case "Punctuation":
      return { type: "Punctuation", behavior: c.behavior ?? "Isolated" };
    default:
      return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
