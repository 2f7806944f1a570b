// Scoring a continuation by the model's own prompt log-probabilities: tokenize prefix and
// prefix + option the way a raw prompt is tokenized, and sum the logprobs of the tokens
// from the first one that differs from the prefix's. When the option merges with the end
// of the prefix (BPE across the boundary), that merged token is scored as the option's.

/** Position of the first token of `full` that is not the prefix's own (at least 1: the first token has no logprob). */
export function continuationStart(prefixIds: readonly number[], fullIds: readonly number[]): number {
  let i = 0;
  while (i < prefixIds.length && i < fullIds.length && prefixIds[i] === fullIds[i]) i++;
  return Math.max(1, Math.min(i, fullIds.length - 1));
}

/** The sum of the logprobs, skipping the null a first token gets. */
export function sumLogprobs(logprobs: readonly (number | null)[]): number {
  let sum = 0;
  for (const lp of logprobs) if (lp !== null) sum += lp;
  return sum;
}
