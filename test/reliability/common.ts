// Shared pieces of the reliability suite: a seeded random source, outcome tallies, the
// engine-idle and pool-accounting check, and RSS sampling. The server under test runs in this
// process (test/server/harness.ts), so RSS covers it (and the client, which is small).
import { mulberry32 } from "../../src/util/random.js";
import { get } from "../server/harness.js";

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed >>> 0);
  }
  float(): number {
    return this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

/** Counts by outcome, and the failures (each a one-line description that replays the case). */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly failures: string[] = [];
  count(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }
  fail(why: string): void {
    this.count("FAILURE");
    this.failures.push(why);
  }
  line(): string {
    return [...this.counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(" ");
  }
}

export interface PartResult {
  readonly part: string;
  readonly tally: Tally;
  readonly notes: string[];
}

export const rssMb = (): number => process.memoryUsage().rss / (1024 * 1024);

/** Waits for the engine to go idle, then checks its pool accounting; failures go to `tally`. */
export async function checkIdle(url: string, tally: Tally, label: string, waitMs = 20_000): Promise<Record<string, number>> {
  const end = Date.now() + waitMs;
  let stats: Record<string, number> = {};
  while (true) {
    const r = await get(`${url}/get_server_info`);
    stats = r.body?.stats ?? {};
    if ((stats.running === 0 && stats.queued === 0 && r.body?.inflight_requests === 0) || Date.now() > end) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const s = stats;
  if (s.running !== 0 || s.queued !== 0) tally.fail(`${label}: engine not idle after ${waitMs} ms: running ${s.running}, queued ${s.queued}`);
  if (s.kvFree! + s.evictableTokens! !== s.kvCapacity) tally.fail(`${label}: kvFree ${s.kvFree} + evictable ${s.evictableTokens} != capacity ${s.kvCapacity}`);
  if (s.protectedTokens !== 0) tally.fail(`${label}: protectedTokens ${s.protectedTokens} != 0 when idle`);
  return s;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at a time. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/** Whether `body` is the OpenAI error envelope. */
export function isEnvelope(body: unknown): boolean {
  const e = (body as { error?: Record<string, unknown> } | null)?.error;
  return !!e && typeof e === "object" && typeof e.message === "string" && typeof e.type === "string" && "param" in e && "code" in e;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}
