// The third draft source: what followed each short run of tokens in recent outputs, across
// requests (of one cache namespace: a salt never sees another's text). Bounded: the least
// recently written runs go first.

/** Tokens of context a run is looked up by. */
const N = 3;
/** Tokens kept after each run. */
const WIDTH = 8;

export class NgramTable {
  private readonly map = new Map<number, Int32Array>();

  constructor(private readonly capacity = 1 << 15) {}

  get size(): number {
    return this.map.size;
  }

  /** Learns the runs of `tokens` from position `from` on (a finished request's output). */
  learn(salt: number, tokens: readonly number[], from: number): void {
    for (let i = Math.max(N - 1, from); i + 1 < tokens.length; i++) {
      const key = keyOf(salt, tokens, i + 1);
      const next = Int32Array.from(tokens.slice(i + 1, i + 1 + WIDTH));
      // Re-set moves the key to the end: the map's order is least recently written first.
      this.map.delete(key);
      this.map.set(key, next);
      if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
    }
  }

  /** What followed the last N tokens of `tokens`, at most `max`; empty when nothing did. */
  lookup(salt: number, tokens: readonly number[], max: number): number[] {
    if (tokens.length < N) return [];
    const next = this.map.get(keyOf(salt, tokens, tokens.length));
    return next ? Array.from(next.subarray(0, max)) : [];
  }

  clear(): void {
    this.map.clear();
  }
}

/** A 32-bit hash of the salt and the N tokens before `end`. A collision costs a rejected draft, nothing else. */
function keyOf(salt: number, tokens: readonly number[], end: number): number {
  let h = salt >>> 0;
  for (let i = end - N; i < end; i++) {
    h = Math.imul(h ^ tokens[i]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** The 32-bit FNV-1a hash of a salt. */
export function saltHash(salt: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < salt.length; i++) h = Math.imul(h ^ salt.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
