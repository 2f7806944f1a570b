// One worker as the router sees it: its address and key, the requests the router has in
// flight on it (the load the policies balance), its health as the checks found it, and its
// circuit breaker. Plain data; the router changes it, the policies read it.

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Consecutive failures (connect errors, 5xx) that open the breaker. */
  readonly failures: number;
  /** How long an open breaker refuses before one trial request may go through. */
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failures: 5, cooldownMs: 30_000 };

/**
 * Closed: requests flow. Open (after `failures` in a row): none do, for `cooldownMs`. Then
 * half-open: one trial request; its success closes the breaker, its failure opens it again.
 */
export class Breaker {
  private failed = 0;
  private openedAt = 0;
  private trial = false;
  state: BreakerState = "closed";

  constructor(private readonly opts: BreakerOptions, private readonly now: () => number = Date.now) {}

  /** Whether a request may go now (taking the half-open trial if that is what is left). */
  allow(): boolean {
    if (this.state === "closed") return true;
    if (this.state === "open") {
      if (this.now() - this.openedAt < this.opts.cooldownMs) return false;
      this.state = "half-open";
      this.trial = false;
    }
    if (this.trial) return false;
    this.trial = true;
    return true;
  }

  /** Whether it could take a request now, without taking the trial. */
  get available(): boolean {
    if (this.state === "closed") return true;
    if (this.state === "open") return this.now() - this.openedAt >= this.opts.cooldownMs;
    return !this.trial;
  }

  success(): void {
    this.failed = 0;
    this.trial = false;
    this.state = "closed";
  }

  failure(): void {
    this.failed++;
    this.trial = false;
    if (this.state === "half-open" || this.failed >= this.opts.failures) {
      this.state = "open";
      this.openedAt = this.now();
    }
  }
}

export class Worker {
  /** Requests the router has sent and not yet seen finish. */
  inflight = 0;
  /** The last health check's answer (a worker starts healthy, so the router serves at once). */
  healthy = true;
  /** Health checks failed in a row. */
  healthFailures = 0;
  readonly breaker: Breaker;

  constructor(readonly url: string, readonly apiKey: string | undefined, breaker: BreakerOptions = DEFAULT_BREAKER, now?: () => number) {
    this.breaker = new Breaker(breaker, now);
  }

  /** It may be sent a request now. */
  get usable(): boolean {
    return this.healthy && this.breaker.available;
  }
}

/** A worker's URL in the one form the router keys it by: origin and path, no trailing slash. */
export function normalizeWorkerUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not a URL (http://host:port)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`"${raw}" is not an http(s) URL`);
  if (u.username || u.password || u.search || u.hash) throw new Error(`"${raw}": a worker URL takes no credentials, query or fragment`);
  return (u.origin + u.pathname).replace(/\/+$/, "");
}
