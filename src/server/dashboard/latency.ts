// Recent latencies for the dashboard's percentiles: the observations of the last minute (at
// most `cap` of them in a ring, the oldest overwritten first), read as p50, p90 and p99. An
// observation costs O(1), whatever the token rate; a read sorts what the window holds.
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly count: number;
}

export class LatencyWindow {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  /** Index of the oldest observation, and how many there are. */
  private start = 0;
  private count = 0;

  constructor(private readonly windowMs = 60_000, private readonly cap = 10_000) {
    this.times = new Float64Array(cap);
    this.values = new Float64Array(cap);
  }

  add(ms: number, now = performance.now()): void {
    const at = (this.start + this.count) % this.cap;
    this.times[at] = now;
    this.values[at] = ms;
    if (this.count < this.cap) this.count++;
    else this.start = (this.start + 1) % this.cap;
  }

  /** The percentiles of what was observed within the window before `now`; null when nothing was. */
  percentiles(now = performance.now()): Percentiles | null {
    while (this.count > 0 && now - this.times[this.start]! > this.windowMs) {
      this.start = (this.start + 1) % this.cap;
      this.count--;
    }
    if (this.count === 0) return null;
    const sorted = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) sorted[i] = this.values[(this.start + i) % this.cap]!;
    sorted.sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), count: sorted.length };
  }
}
