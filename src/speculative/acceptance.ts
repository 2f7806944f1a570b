// How likely a drafted token is to be accepted, learned per draft position. Acceptance is not
// the same at every position: where a request copies text, a draft that survives its first
// token usually survives many (the copy holds until the text is edited), while the first token
// fails wherever the request writes something new. So each position keeps its own chance of
// being accepted given that the tokens before it were, and a draft's token i is used with the
// product of the chances up to i.

/** Evidence, in verifications, that a prior counts for (Laplace's estimate: 2 of 0.5). */
const PRIOR_WEIGHT = 2;

/** Decayed counts, per draft position, of verifications that reached the position and of those that kept its token. */
export class Acceptance {
  private readonly reached: Float64Array;
  private readonly kept: Float64Array;

  constructor(positions: number) {
    this.reached = new Float64Array(positions);
    this.kept = new Float64Array(positions);
  }

  get positions(): number {
    return this.reached.length;
  }

  /** A verification of `drafted` tokens kept the first `accepted`; older ones count `decay` times less. */
  add(drafted: number, accepted: number, decay: number): void {
    // A draft's token i was checked when the i before it were kept.
    const reached = Math.min(drafted, accepted + 1, this.reached.length);
    for (let i = 0; i < this.reached.length; i++) {
      this.reached[i] = this.reached[i]! * decay + (i < reached ? 1 : 0);
      this.kept[i] = this.kept[i]! * decay + (i < accepted ? 1 : 0);
    }
  }

  /** The chance that token i is kept given the ones before it were, with `prior`'s weight of evidence. */
  rate(i: number, prior: number): number {
    return (this.kept[i]! + PRIOR_WEIGHT * prior) / (this.reached[i]! + PRIOR_WEIGHT);
  }
}

/**
 * The tokens worth drafting: the most, up to `max`, whose last one is used with a chance of at
 * least `minChance`. Position i's chance is the request's own rate, with the engine's rate
 * (`shared`) as its prior; the engine's rate at a position it has little evidence for leans on
 * the position before it, and the first on `prior`.
 */
export function draftLength(own: Acceptance, shared: Acceptance, prior: number, max: number, minChance: number): number {
  let chance = 1;
  let before = prior;
  const n = Math.min(max, own.positions, shared.positions);
  for (let i = 0; i < n; i++) {
    before = shared.rate(i, before);
    chance *= own.rate(i, before);
    if (chance < minChance) return i;
  }
  return n;
}
