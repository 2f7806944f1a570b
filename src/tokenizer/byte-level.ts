// The GPT-2 byte-level alphabet: every byte 0..255 stands for one printable Unicode character,
// so byte-level BPE vocabularies can store arbitrary bytes as strings ("Ġ" is the space byte).

/** BYTE_TO_CHAR[b] is the character that byte b is written as in a byte-level vocabulary. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Maps a character code of the byte-level alphabet back to its byte; -1 for any other code. */
export const CHAR_CODE_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => (table[ch.charCodeAt(0)] = b));
  return table;
})();

function buildByteToChar(): string[] {
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let next = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  return out;
}

/** The bytes a byte-level token string stands for, or null when a character is outside the alphabet. */
export function byteLevelDecode(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < 0x144 ? CHAR_CODE_TO_BYTE[c] : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

/** Writes the UTF-8 bytes of `text` (lone surrogates become U+FFFD, as TextEncoder does) through `emit`. */
export function forEachUtf8Byte(text: string, emit: (byte: number) => void): void {
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      emit(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      emit(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      emit(0xe0 | (c >> 12));
      emit(0x80 | ((c >> 6) & 0x3f));
    } else {
      emit(0xf0 | (c >> 18));
      emit(0x80 | ((c >> 12) & 0x3f));
      emit(0x80 | ((c >> 6) & 0x3f));
    }
    emit(0x80 | (c & 0x3f));
  }
}

/** `text` as a byte-level string: its UTF-8 bytes, each written as its alphabet character. */
export function byteLevelEncode(text: string): string {
  let out = "";
  forEachUtf8Byte(text, (b) => (out += BYTE_TO_CHAR[b]));
  return out;
}
