// Log-probabilities of one row of logits: the normaliser and the most likely tokens.
//
// Tokens are ordered by logit, highest first, ties by lower id; -Infinity and NaN logits
// are never selected (a NaN fails every comparison below).

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
}

// e^z for z <= 0: z = (k + j/64) ln 2 + r with |r| <= ln 2 / 128, a degree-6 polynomial
// for e^r, and tables for 2^(j/64) and 2^k. Within 3e-14 of Math.exp, about 1.5x faster
// here, and plain IEEE arithmetic, so every machine computes the same bits.
const EXP_TABLE = Float64Array.from({ length: 64 }, (_, j) => Math.pow(2, j / 64));
const POW2_OFFSET = 1100;
const POW2 = Float64Array.from({ length: POW2_OFFSET + 1 }, (_, m) => Math.pow(2, m - POW2_OFFSET));
const INV_STEP = 64 / Math.LN2;
const STEP_HI = Math.floor((Math.LN2 / 64) * 2 ** 32) / 2 ** 32; // k * STEP_HI is exact
const STEP_LO = Math.LN2 / 64 - STEP_HI;
const ROUND = 6755399441055744; // 1.5 * 2^52: adding and subtracting it rounds to an integer

/** e^z for z <= 0 (0 below -708, and for -Infinity). */
export function expNeg(z: number): number {
  if (!(z > -708)) return 0;
  const kf = z * INV_STEP + ROUND - ROUND;
  const k = kf | 0;
  const r = z - kf * STEP_HI - kf * STEP_LO;
  const p = 1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720))))));
  return p * EXP_TABLE[k & 63]! * POW2[POW2_OFFSET + (k >> 6)]!;
}

/** log(sum(exp(x[i]))) over x[0..n), given max = the largest finite x. */
export function logSumExp(x: Float32Array, n: number, max: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (v > -Infinity) sum += expNeg(v - max);
  }
  return max + Math.log(sum);
}

/**
 * Writes the ids of the (at most) k highest logits into out[0..), best first; returns how
 * many. One pass, O(n + insertions * k): meant for small k.
 */
export function topTokens(x: Float32Array, n: number, k: number, out: Int32Array): number {
  let count = 0;
  let i = 0;
  for (; i < n && count < k; i++) {
    const v = x[i]!;
    if (v > -Infinity) insert(x, out, count++, i);
  }
  if (count < k) return count;
  let worst = x[out[k - 1]!]!;
  for (; i < n; i++) {
    // an equal logit with a higher id ranks below
    if (x[i]! > worst) {
      insert(x, out, k - 1, i);
      worst = x[out[k - 1]!]!;
    }
  }
  return count;
}

/** Inserts token id into the rank-sorted out[0..last), dropping what was at out[last]. */
function insert(x: Float32Array, out: Int32Array, last: number, id: number): void {
  const v = x[id]!;
  let j = last;
  while (j > 0 && v > x[out[j - 1]!]!) {
    out[j] = out[j - 1]!;
    j--;
  }
  out[j] = id;
}

/** The k most likely tokens of x[0..n) as log-probabilities, given logZ = logSumExp(x). */
export function topLogprobs(x: Float32Array, n: number, k: number, logZ: number, scratch: Int32Array): TokenLogprob[] {
  const count = topTokens(x, n, k, scratch);
  const out: TokenLogprob[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const token = scratch[i]!;
    out[i] = { token, logprob: x[token]! - logZ };
  }
  return out;
}
