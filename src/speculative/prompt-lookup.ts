// Prompt lookup: a request's next tokens guessed from its own prompt and output. A rewrite,
// a quote, code re-read and re-written: what follows the last few tokens now is likely what
// followed them where they last occurred. Costs one backward scan; no model.

/** Longest suffix matched; a longer match is a surer guess. */
export const LOOKUP_MAX_NGRAM = 4;
/** Tokens scanned back at most: bounds the cost per step on a very long context. */
const SCAN_LIMIT = 1 << 16;

/**
 * The `max` tokens that followed the latest earlier occurrence of the longest suffix of
 * `tokens` (1..LOOKUP_MAX_NGRAM tokens, at least `minNgram`); empty when there is none.
 */
export function promptLookup(tokens: readonly number[], max: number, minNgram = 1): number[] {
  const n = tokens.length;
  if (n < 2 || max <= 0) return [];
  const last = tokens[n - 1]!;
  let best = -1;
  let bestLen = 0;
  const stop = Math.max(0, n - 1 - SCAN_LIMIT);
  for (let p = n - 2; p >= stop; p--) {
    if (tokens[p] !== last) continue;
    let m = 1;
    while (m < LOOKUP_MAX_NGRAM && p - m >= 0 && tokens[p - m] === tokens[n - 1 - m]) m++;
    if (m <= bestLen) continue;
    best = p;
    bestLen = m;
    if (m === LOOKUP_MAX_NGRAM) break;
  }
  if (bestLen < minNgram) return [];
  // A match close to the end runs into the suffix itself: what followed it d tokens ago
  // repeats with period d (a loop, a list, a rewritten line).
  const d = n - 1 - best;
  const out = new Array<number>(max);
  for (let i = 0; i < max; i++) out[i] = i < d ? tokens[best + 1 + i]! : out[i - d]!;
  return out;
}

/**
 * The next `max` tokens of `corpus` for an output that ends with `tokens`, and where that draft
 * starts in `corpus`; null when there is none. A predicted output is followed in order: from
 * `from` (where the output is expected to go on) when the token before it is the output's last,
 * so a right prediction is followed token for token whatever repeats in it; else after the
 * first occurrence, at or after `from`, of the longest suffix of `tokens` (1..LOOKUP_MAX_NGRAM
 * tokens), else after the first from its start.
 */
export function followCorpus(corpus: readonly number[], from: number, tokens: readonly number[], max: number): { draft: number[]; at: number } | null {
  const n = tokens.length;
  if (n === 0 || max <= 0) return null;
  const last = tokens[n - 1]!;
  if (from > 0 && from < corpus.length && corpus[from - 1] === last) return { draft: corpus.slice(from, from + max), at: from };
  let best = -1;
  let bestLen = 0;
  for (const start of from > 0 ? [from, 0] : [0]) {
    for (let p = start; p < corpus.length - 1; p++) {
      if (corpus[p] !== last) continue;
      let m = 1;
      while (m < LOOKUP_MAX_NGRAM && m < n && p - m >= 0 && corpus[p - m] === tokens[n - 1 - m]) m++;
      if (m <= bestLen) continue;
      best = p;
      bestLen = m;
      if (m === LOOKUP_MAX_NGRAM) break;
    }
    if (bestLen > 0) break;
  }
  if (best < 0) return null;
  return { draft: corpus.slice(best + 1, best + 1 + max), at: best + 1 };
}
