// Recent latencies for the dashboard's percentiles: the observations of the last minute (at
// most `cap` of them, the oldest dropped first), read as p50, p90 and p99.
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly count: number;
}

export class LatencyWindow {
  private readonly times: number[] = [];
  private readonly values: number[] = [];

  constructor(private readonly windowMs = 60_000, private readonly cap = 20_000) {}

  add(ms: number, now = performance.now()): void {
    this.times.push(now);
    this.values.push(ms);
    if (this.values.length > this.cap) {
      this.times.shift();
      this.values.shift();
    }
  }

  /** The percentiles of what was observed within the window before `now`; null when nothing was. */
  percentiles(now = performance.now()): Percentiles | null {
    let drop = 0;
    while (drop < this.times.length && now - this.times[drop]! > this.windowMs) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      this.values.splice(0, drop);
    }
    if (this.values.length === 0) return null;
    const sorted = Float64Array.from(this.values).sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), count: sorted.length };
  }
}
