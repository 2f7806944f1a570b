// The vocabulary as xgrammar's TokenizerInfo wants it. Whatever the tokenizer's kind
// (byte-level BPE, SentencePiece with <0xNN> byte tokens, a GGUF vocab), each token is
// taken as the exact bytes it stands for (Tokenizer.tokenBytes) and written in GPT-2's
// byte-level alphabet, so xgrammar ("byte_level" vocab type) decodes every one back to
// those bytes, including tokens that are not whole UTF-8. Special tokens and the padding
// rows past the tokenizer's vocabulary become "", which xgrammar treats as special: never
// allowed by a grammar (stop tokens are given separately).
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { BYTE_TO_CHAR } from "../tokenizer/byte-level.js";

export function byteLevelVocab(tokenizer: Tokenizer, vocabSize: number): string[] {
  const out = new Array<string>(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    if (id >= tokenizer.vocabSize || tokenizer.isSpecial(id)) {
      out[id] = "";
      continue;
    }
    let s = "";
    for (const b of tokenizer.tokenBytes(id)) s += BYTE_TO_CHAR[b]!;
    out[id] = s;
  }
  return out;
}
