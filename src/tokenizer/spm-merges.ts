// SentencePiece BPE vocabularies (GGUF `llama`) store scores, not merges. The merge list that
// Hugging Face's converter derives from them (and that tokenizer.json files of Llama-2-style
// models carry): every split of a normal token into two vocabulary tokens is a merge, ranked by
// the merged token's score (higher first), then by its id, then by the ids of the two halves.

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export function spmMergesFromScores(
  tokens: readonly string[],
  scores: ArrayLike<number>,
  types: ArrayLike<number> | undefined,
): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!idOf.has(t)) idOf.set(t, i);
  });
  const found: { left: number; right: number; merged: number }[] = [];
  tokens.forEach((token, merged) => {
    if (types !== undefined && types[merged] !== TOKEN_TYPE.NORMAL) return;
    if (idOf.get(token) !== merged) return;
    const cps = Array.from(token);
    let left = "";
    for (let k = 1; k < cps.length; k++) {
      left += cps[k - 1];
      const l = idOf.get(left);
      if (l === undefined) continue;
      const r = idOf.get(token.slice(left.length));
      if (r !== undefined) found.push({ left: l, right: r, merged });
    }
  });
  found.sort((a, b) => scores[b.merged] - scores[a.merged] || a.merged - b.merged || a.left - b.left || a.right - b.right);
  return found.map((m) => [tokens[m.left], tokens[m.right]]);
}

/**
 * Scores that give back `merges` through spmMergesFromScores when the merges are the complete,
 * score-ordered kind that converter makes: each token scores minus the rank of the first merge
 * that forms it. Tokens no merge forms score 0.
 */
export function scoresFromMerges(tokens: readonly string[], merges: readonly (readonly [string, string])[]): number[] {
  const firstRank = new Map<string, number>();
  merges.forEach(([a, b], rank) => {
    const m = a + b;
    if (!firstRank.has(m)) firstRank.set(m, rank);
  });
  return tokens.map((t) => {
    const r = firstRank.get(t);
    return r === undefined ? 0 : -(r + 1);
  });
}
