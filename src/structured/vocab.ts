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
    const bytes = tokenizer.tokenBytes(id);
    let s = "";
    for (const b of bytes) s += BYTE_TO_CHAR[b]!;
    out[id] = neverUtf8(bytes) ? "" : s;
  }
  return out;
}

/**
 * Whether a token's bytes can never be part of valid UTF-8: a byte that no UTF-8 text has
 * (C0, C1, F5-FF), or a lead byte followed inside the token by a second byte that makes an
 * overlong form, a surrogate or a code point past U+10FFFF. xgrammar's decoder takes these
 * as characters (F7 A8 9C 84 passes for one), so they are kept out of every grammar.
 */
export function neverUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0xc0 || b === 0xc1 || b >= 0xf5) return true;
    if (i + 1 < bytes.length && !secondByteOk(b, bytes[i + 1]!)) return true;
  }
  return false;
}

/** Whether `second` may follow the lead byte `lead` (true for bytes that are not such leads). */
export function secondByteOk(lead: number, second: number): boolean {
  switch (lead) {
    case 0xe0: return second >= 0xa0 && second <= 0xbf;
    case 0xed: return second >= 0x80 && second <= 0x9f;
    case 0xf0: return second >= 0x90 && second <= 0xbf;
    case 0xf4: return second >= 0x80 && second <= 0x8f;
    default: return true;
  }
}

/** Leads whose next byte is narrower than 80-BF (see secondByteOk). */
export function isNarrowLead(b: number): boolean {
  return b === 0xe0 || b === 0xed || b === 0xf0 || b === 0xf4;
}

const firstBytes = new WeakMap<Tokenizer, Int16Array>();

/** Each token's first byte (-1 for none), cached per tokenizer. */
export function tokenFirstBytes(tokenizer: Tokenizer, vocabSize: number): Int16Array {
  let f = firstBytes.get(tokenizer);
  if (!f) {
    f = new Int16Array(vocabSize).fill(-1);
    for (let id = 0; id < Math.min(vocabSize, tokenizer.vocabSize); id++) {
      const b = tokenizer.tokenBytes(id);
      if (b.length > 0) f[id] = b[0]!;
    }
    firstBytes.set(tokenizer, f);
  }
  return f;
}
