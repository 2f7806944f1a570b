// The router's workers: added and removed at run time, and checked by a periodic GET /health.
// A worker that fails `unhealthyAfter` checks in a row takes no requests until one passes.
import { DEFAULT_BREAKER, normalizeWorkerUrl, Worker, type BreakerOptions } from "./worker.js";

/** Most workers one router keeps (each is a health check and a line in /metrics). */
export const MAX_WORKERS = 256;

export interface HealthOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Checks failed in a row before a worker is taken out. */
  readonly unhealthyAfter: number;
}

export const DEFAULT_HEALTH: HealthOptions = { intervalMs: 10_000, timeoutMs: 5_000, unhealthyAfter: 3 };

export class WorkerPool {
  private readonly byUrl = new Map<string, Worker>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(private readonly breaker: BreakerOptions = DEFAULT_BREAKER, private readonly health: HealthOptions = DEFAULT_HEALTH,
    private readonly onRemove: (url: string) => void = () => {}) {}

  get all(): Worker[] {
    return [...this.byUrl.values()];
  }

  /** The workers that may take a request now. */
  usable(): Worker[] {
    return this.all.filter((w) => w.usable);
  }

  get(url: string): Worker | undefined {
    return this.byUrl.get(url);
  }

  /** Adds a worker; throws on a bad or duplicate URL, or a full pool. */
  add(rawUrl: string, apiKey?: string): Worker {
    const url = normalizeWorkerUrl(rawUrl);
    if (this.byUrl.has(url)) throw new Error(`worker ${url} is already in the pool`);
    if (this.byUrl.size >= MAX_WORKERS) throw new Error(`the pool holds at most ${MAX_WORKERS} workers`);
    const w = new Worker(url, apiKey, this.breaker);
    this.byUrl.set(url, w);
    return w;
  }

  /** Removes a worker (its requests in flight finish); false when there is none by that URL. */
  remove(rawUrl: string): boolean {
    let url: string;
    try {
      url = normalizeWorkerUrl(rawUrl);
    } catch {
      return false;
    }
    if (!this.byUrl.delete(url)) return false;
    this.onRemove(url);
    return true;
  }

  /** Starts the periodic checks (and runs one now). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.checkAll(), this.health.intervalMs);
    this.timer.unref();
    void this.checkAll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round of checks (tests call it directly). */
  async checkAll(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(this.all.map((w) => this.check(w)));
    } finally {
      this.checking = false;
    }
  }

  private async check(w: Worker): Promise<void> {
    let ok = false;
    try {
      const r = await fetch(`${w.url}/health`, { signal: AbortSignal.timeout(this.health.timeoutMs), headers: w.apiKey ? { authorization: `Bearer ${w.apiKey}` } : {} });
      ok = r.ok;
      await r.body?.cancel();
    } catch {
      ok = false;
    }
    if (ok) {
      w.healthFailures = 0;
      w.healthy = true;
    } else if (++w.healthFailures >= this.health.unhealthyAfter) {
      w.healthy = false;
    }
  }
}
