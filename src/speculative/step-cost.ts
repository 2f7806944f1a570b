// What a step's rows cost, learned from the decode steps the engine runs (prefill chunks
// attend over long contexts and would bend the line): time = a + b * rows, fitted by least
// squares that forget old steps. On a CPU `a` is mostly reading the weights once and
// `b` the arithmetic of one row: a drafted row is worth computing when the chance that it is
// used beats the share of the step the rows take.

/** Weight an observation keeps per later one: about the last 50 steps count. */
const DECAY = 0.98;
/** Until the fit has this much weight and spread of row counts, a guess. */
const MIN_WEIGHT = 16;
const DEFAULT_SHARE = 0.3;
/** A noisy fit (a busy machine) never claims rows cost all of a step: the surest drafts always go. */
const MAX_SHARE = 0.7;

export class StepCost {
  private s0 = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;

  /** One step: `rows` rows computed in `ms` milliseconds. */
  observe(rows: number, ms: number): void {
    if (!(rows > 0) || !(ms >= 0)) return;
    this.s0 = this.s0 * DECAY + 1;
    this.sx = this.sx * DECAY + rows;
    this.sy = this.sy * DECAY + ms;
    this.sxx = this.sxx * DECAY + rows * rows;
    this.sxy = this.sxy * DECAY + rows * ms;
  }

  /** The fitted [a, b] (ms, ms per row); null until there is enough to fit. */
  fit(): [number, number] | null {
    if (this.s0 < MIN_WEIGHT) return null;
    const varX = this.sxx / this.s0 - (this.sx / this.s0) ** 2;
    // Steps of all the same size say nothing about what a row adds.
    if (varX < 0.25) return null;
    const b = Math.max(0, (this.sxy / this.s0 - (this.sx / this.s0) * (this.sy / this.s0)) / varX);
    const a = Math.max(0, this.sy / this.s0 - b * (this.sx / this.s0));
    return [a, b];
  }

  /** The share of a step of `rows` rows that its rows take: b * rows / (a + b * rows). */
  rowShare(rows: number): number {
    const f = this.fit();
    if (!f) return DEFAULT_SHARE;
    const [a, b] = f;
    const t = a + b * rows;
    return t > 0 ? Math.min(MAX_SHARE, (b * rows) / t) : DEFAULT_SHARE;
  }
}
