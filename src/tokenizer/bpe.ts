// BPE on token ids: the merge loop of the Hugging Face `tokenizers` BPE model (lowest merge rank
// first, leftmost on ties; unknown characters go to <0xNN> byte tokens or the unk token), run on
// integer arrays instead of strings and linked objects. The JS library's own loop is correct but
// slow (see tokenizer-bench); results here are the same id for id.
import { BYTE_TO_CHAR, forEachUtf8Byte } from "./byte-level.js";

export interface BpeOptions {
  /** token -> id for the model's own vocabulary (model.vocab of tokenizer.json). */
  vocab: ReadonlyMap<string, number>;
  /** Merges in rank order; a later duplicate of a pair overrides the earlier one, as in HF. */
  merges: ReadonlyArray<readonly [string, string]>;
  unkId: number | undefined;
  byteFallback: boolean;
  fuseUnk: boolean;
  /** A word found whole in the vocabulary is emitted as one token without merging (Llama 3). */
  ignoreMerges: boolean;
  /** Names the file in error messages. */
  source: string;
}

const NO_RANK = 0x7fffffff;
/** Words up to this many symbols use the quadratic scan; longer ones the heap. */
const SMALL_WORD = 48;
const POS_BITS = 2 ** 26;

export class BpeModel {
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly unkId: number | undefined;
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  /** Id of each single-UTF-16-unit token, -1 where there is none. */
  private readonly charIds = new Int32Array(0x10000).fill(-1);
  /** Id of each <0xNN> token, -1 where there is none. */
  private readonly byteTokenIds = new Int32Array(256).fill(-1);
  /** Id of the byte-level alphabet character for each byte, -1 where there is none. */
  private readonly byteLevelIds = new Int32Array(256).fill(-1);
  // Open-addressing table (left id, right id) -> (rank, merged id).
  private readonly mask: number;
  private readonly keyLeft: Int32Array;
  private readonly keyRight: Int32Array;
  private readonly rankOf: Int32Array;
  private readonly mergedOf: Int32Array;
  // Scratch buffers, reused across words.
  private sym = new Int32Array(256);
  private slot = new Int32Array(256);
  private bigrams: Set<number> | null = null;

  constructor(opts: BpeOptions) {
    this.vocab = opts.vocab;
    this.unkId = opts.unkId;
    this.byteFallback = opts.byteFallback;
    this.fuseUnk = opts.fuseUnk;
    this.ignoreMerges = opts.ignoreMerges;
    for (const [token, id] of opts.vocab) {
      if (token.length === 1) this.charIds[token.charCodeAt(0)] = id;
      else if (token.length === 6 && token.startsWith("<0x") && token.endsWith(">")) {
        const b = parseInt(token.slice(3, 5), 16);
        if (b >= 0 && b < 256 && /^[0-9A-F]{2}$/.test(token.slice(3, 5))) this.byteTokenIds[b] = id;
      }
    }
    for (let b = 0; b < 256; b++) this.byteLevelIds[b] = this.charIds[BYTE_TO_CHAR[b].charCodeAt(0)];

    let cap = 16;
    while (cap < opts.merges.length * 2) cap *= 2;
    this.mask = cap - 1;
    this.keyLeft = new Int32Array(cap).fill(-1);
    this.keyRight = new Int32Array(cap);
    this.rankOf = new Int32Array(cap);
    this.mergedOf = new Int32Array(cap);
    opts.merges.forEach(([a, b], rank) => {
      const ia = opts.vocab.get(a);
      const ib = opts.vocab.get(b);
      const im = opts.vocab.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : a + b;
        throw new Error(`${opts.source}: merge ${rank} ("${a} ${b}") uses ${JSON.stringify(missing)}, which is not in model.vocab`);
      }
      let s = this.hash(ia, ib);
      while (this.keyLeft[s] !== -1 && !(this.keyLeft[s] === ia && this.keyRight[s] === ib)) s = (s + 1) & this.mask;
      this.keyLeft[s] = ia;
      this.keyRight[s] = ib;
      this.rankOf[s] = rank;
      this.mergedOf[s] = im;
    });
  }

  /** Appends the ids of one pre-tokenized word (already in the vocabulary's alphabet) to `out`. */
  encodeWord(word: string, out: number[]): void {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    this.reserve(word.length * 4);
    let n = 0;
    let unkOpen = false;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      let id: number | undefined;
      let ch: string | undefined;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < word.length) {
        const d = word.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          ch = word.slice(i, i + 2);
          id = this.vocab.get(ch);
          i++;
        }
      }
      if (ch === undefined) {
        const known = this.charIds[c];
        if (known >= 0) id = known;
      }
      if (id !== undefined) {
        this.sym[n++] = id;
        unkOpen = false;
        continue;
      }
      if (this.byteFallback) {
        const bytes: number[] = [];
        forEachUtf8Byte(ch ?? word[i], (b) => bytes.push(this.byteTokenIds[b]));
        if (bytes.every((b) => b >= 0)) {
          for (const b of bytes) this.sym[n++] = b;
          unkOpen = false;
          continue;
        }
      }
      if (this.unkId === undefined) continue;
      if (this.fuseUnk && unkOpen) continue;
      this.sym[n++] = this.unkId;
      unkOpen = true;
    }
    this.merge(n, out);
  }

  /**
   * Appends the ids of one word of raw text for a byte-level vocabulary: the word's UTF-8 bytes,
   * each as its alphabet character, are the starting symbols (no intermediate string is built).
   */
  encodeByteLevelWord(raw: string, out: number[]): void {
    if (this.ignoreMerges) {
      let mapped = "";
      forEachUtf8Byte(raw, (b) => (mapped += BYTE_TO_CHAR[b]));
      const whole = this.vocab.get(mapped);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    this.reserve(raw.length * 3);
    let n = 0;
    let unkOpen = false;
    const sym = this.sym;
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c < 0x80) {
        const id = this.byteLevelIds[c];
        if (id >= 0) {
          sym[n++] = id;
          unkOpen = false;
          continue;
        }
      }
      // Non-ASCII (or a byte missing from the alphabet): go through the UTF-8 bytes.
      let end = i + 1;
      if (c >= 0xd800 && c <= 0xdbff && end < raw.length) {
        const d = raw.charCodeAt(end);
        if (d >= 0xdc00 && d <= 0xdfff) end++;
      }
      forEachUtf8Byte(raw.slice(i, end), (b) => {
        const id = this.byteLevelIds[b];
        if (id >= 0) {
          sym[n++] = id;
          unkOpen = false;
        } else if (this.unkId !== undefined && !(this.fuseUnk && unkOpen)) {
          sym[n++] = this.unkId;
          unkOpen = true;
        }
      });
      i = end - 1;
    }
    this.merge(n, out);
  }

  /**
   * Cuts a long word (SentencePiece text has no pre-tokenizer, so a whole paragraph is one word)
   * into parts that BPE tokenizes independently with the same result: a cut between characters a
   * and b is safe when both are tokens of their own and no vocabulary token contains "ab", since
   * every symbol that merging can form is a vocabulary token. Cuts go before each safe "▁"
   * (word starts) and, inside still-long parts, at every safe place.
   */
  safeSplit(word: string, longPart = 64): string[] {
    const parts: string[] = [];
    const cut = (part: string): void => {
      if (part.length <= longPart) {
        parts.push(part);
        return;
      }
      let start = 0;
      for (let i = 1; i < part.length; i++) {
        if (this.isSafeCut(part, i)) {
          parts.push(part.slice(start, i));
          start = i;
        }
      }
      parts.push(part.slice(start));
    };
    let start = 0;
    if (this.charIds[0x2581] >= 0) {
      for (let i = word.indexOf("\u2581", 1); i > 0; i = word.indexOf("\u2581", i + 1)) {
        if (this.isSafeCut(word, i)) {
          cut(word.slice(start, i));
          start = i;
        }
      }
    }
    cut(word.slice(start));
    return parts;
  }

  private isSafeCut(s: string, i: number): boolean {
    const a = s.charCodeAt(i - 1);
    const b = s.charCodeAt(i);
    if ((a >= 0xd800 && a <= 0xdfff) || (b >= 0xd800 && b <= 0xdfff)) return false;
    if (this.charIds[a] < 0 || this.charIds[b] < 0) return false;
    return !this.innerBigrams().has(a * 0x10000 + b);
  }

  /** Every pair of adjacent UTF-16 units inside a vocabulary token, as a * 65536 + b. */
  private innerBigrams(): Set<number> {
    if (this.bigrams) return this.bigrams;
    const set = new Set<number>();
    for (const token of this.vocab.keys()) {
      for (let i = 1; i < token.length; i++) set.add(token.charCodeAt(i - 1) * 0x10000 + token.charCodeAt(i));
    }
    return (this.bigrams = set);
  }

  private hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) & this.mask;
  }

  /** Table slot of the merge (a, b), or -1. */
  private find(a: number, b: number): number {
    let s = this.hash(a, b);
    for (;;) {
      const k = this.keyLeft[s];
      if (k === -1) return -1;
      if (k === a && this.keyRight[s] === b) return s;
      s = (s + 1) & this.mask;
    }
  }

  private reserve(n: number): void {
    if (this.sym.length >= n) return;
    let cap = this.sym.length;
    while (cap < n) cap *= 2;
    this.sym = new Int32Array(cap);
    this.slot = new Int32Array(cap);
  }

  private merge(n: number, out: number[]): void {
    if (n > SMALL_WORD) return this.mergeLong(n, out);
    const sym = this.sym;
    const slot = this.slot;
    const rank = (i: number): number => (slot[i] < 0 ? NO_RANK : this.rankOf[slot[i]]);
    for (let i = 0; i + 1 < n; i++) slot[i] = this.find(sym[i], sym[i + 1]);
    while (n > 1) {
      let best = -1;
      let bestRank = NO_RANK;
      for (let i = 0; i + 1 < n; i++) {
        const r = rank(i);
        if (r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      sym[best] = this.mergedOf[slot[best]];
      for (let i = best + 1; i + 1 < n; i++) {
        sym[i] = sym[i + 1];
        slot[i] = slot[i + 1];
      }
      n--;
      if (best > 0) slot[best - 1] = this.find(sym[best - 1], sym[best]);
      if (best + 1 < n) slot[best] = this.find(sym[best], sym[best + 1]);
    }
    for (let i = 0; i < n; i++) out.push(sym[i]);
  }

  /** The same merge order with a binary heap keyed by (rank, position), for long words. */
  private mergeLong(n: number, out: number[]): void {
    if (n >= POS_BITS) throw new Error(`BPE word of ${n} symbols is too long`);
    const sym = this.sym.slice(0, n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap(n);
    const push = (i: number): void => {
      if (i < 0 || next[i] < 0) return;
      const s = this.find(sym[i], sym[next[i]]);
      if (s >= 0) heap.push(this.rankOf[s] * POS_BITS + i);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % POS_BITS;
      const r = (key - i) / POS_BITS;
      const j = next[i];
      if (!alive[i] || j < 0) continue;
      const s = this.find(sym[i], sym[j]);
      if (s < 0 || this.rankOf[s] !== r) continue; // stale entry
      sym[i] = this.mergedOf[s];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      push(prev[i]);
      push(i);
    }
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
  }
}

/** A binary min-heap of non-negative integers below 2^53. */
class MinHeap {
  private data: Float64Array;
  size = 0;
  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.size === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const d = this.data;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p] <= v) break;
      d[i] = d[p];
      i = p;
    }
    d[i] = v;
  }
  pop(): number {
    const d = this.data;
    const top = d[0];
    const last = d[--this.size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && d[c + 1] < d[c]) c++;
      if (d[c] >= last) break;
      d[i] = d[c];
      i = c;
    }
    d[i] = last;
    return top;
  }
}
