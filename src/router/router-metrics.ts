// The router's Prometheus metrics (prom-client): requests and retries by worker, routing
// decisions by reason, and each worker's breaker, health and load, read when scraped.
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { DecisionReason } from "./policies.js";
import type { BreakerState, Worker } from "./worker.js";

const BREAKER_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, open: 1, "half-open": 2 };

export class RouterMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"worker" | "route">;
  private readonly retries: Counter<"worker" | "reason">;
  private readonly decisions: Counter<"reason">;
  private readonly failed: Counter<"reason">;

  constructor(workers: () => readonly Worker[]) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({ name: "radixlm:router_requests_total", help: "Requests sent to each worker (retries count again).", labelNames: ["worker", "route"], registers });
    this.retries = new Counter({ name: "radixlm:router_retries_total", help: "Attempts that failed before the worker answered and were retried or given up.", labelNames: ["worker", "reason"], registers });
    this.decisions = new Counter({ name: "radixlm:router_decisions_total", help: "Routing decisions by reason.", labelNames: ["reason"], registers });
    this.failed = new Counter({ name: "radixlm:router_failed_requests_total", help: "Requests the router answered with an error of its own.", labelNames: ["reason"], registers });
    const perWorker = (name: string, help: string, read: (w: Worker) => number): void => {
      new Gauge({
        name, help, labelNames: ["worker"], registers,
        collect() {
          this.reset();
          for (const w of workers()) this.set({ worker: w.url }, read(w));
        },
      });
    };
    perWorker("radixlm:router_breaker_state", "Each worker's circuit breaker: 0 closed, 1 open, 2 half-open.", (w) => BREAKER_VALUE[w.breaker.state]);
    perWorker("radixlm:router_worker_healthy", "1 when the worker's last health checks passed.", (w) => (w.healthy ? 1 : 0));
    perWorker("radixlm:router_inflight_requests", "Requests the router has in flight on each worker.", (w) => w.inflight);
  }

  request(worker: string, route: string): void {
    this.requests.inc({ worker, route });
  }

  retry(worker: string, reason: string): void {
    this.retries.inc({ worker, reason });
  }

  decision(reason: DecisionReason | "sticky"): void {
    this.decisions.inc({ reason });
  }

  failure(reason: string): void {
    this.failed.inc({ reason });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
