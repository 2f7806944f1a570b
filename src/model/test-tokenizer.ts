// A real byte-level BPE tokenizer.json for generated test models that are given no
// tokenizer: the 256 byte symbols, merges that build letter runs up to the wanted vocab
// size, and ChatML special tokens. Deterministic, so test models are reproducible.

/** GPT-2's reversible byte -> printable character map. */
export function byteToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return out;
}

export const TEST_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

export function buildTestTokenizer(vocabSize: number, chatTemplate: string): TokenizerFiles {
  const specials = TEST_SPECIAL_TOKENS.length;
  if (vocabSize < 256 + specials) throw new Error(`vocab size ${vocabSize} is below the ${256 + specials} a byte-level tokenizer needs`);
  const symbols = byteToUnicode();
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  let count = symbols.length;
  const merges: [string, string][] = [];
  const room = vocabSize - specials;
  const letters = "etaoinshrdlcumwfgypbvkjxqz".split("");
  const space = symbols[32]!;
  // Grow tokens breadth-first: " x" and "xy" first, then every token extended by a letter.
  const frontier: string[] = [];
  const add = (a: string, b: string): boolean => {
    const t = a + b;
    if (t in vocab) return true;
    if (count >= room) return false;
    vocab[t] = count++;
    merges.push([a, b]);
    frontier.push(t);
    return true;
  };
  for (const l of letters) if (!add(space, l)) break;
  outer: for (const a of letters) for (const b of letters) if (!add(a, b)) break outer;
  for (let i = 0; i < frontier.length && count < room; i++) {
    for (const l of letters) if (!add(frontier[i]!, l)) break;
  }
  const base = count;
  const added = TEST_SPECIAL_TOKENS.map((content, i) => ({
    id: base + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  for (const a of added) vocab[a.content] = a.id;
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
          behavior: "Isolated",
          invert: false,
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    add_bos_token: false,
    add_eos_token: false,
    bos_token: null,
    eos_token: "<|im_end|>",
    pad_token: "<|endoftext|>",
    unk_token: null,
    model_max_length: 32768,
    tokenizer_class: "PreTrainedTokenizerFast",
    chat_template: chatTemplate,
  };
  return { tokenizer, config };
}
