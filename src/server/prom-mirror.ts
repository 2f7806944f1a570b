// Prometheus series that mirror a stats object read at scrape time: a counter adds what its
// total grew since the last scrape (a total that restarts lower, as the cache's hits after a
// flush, counts again from there), a gauge shows the value now (0 while there is no object).
import { Counter, Gauge, type Registry } from "prom-client";

export interface Mirror<S> {
  total(name: string, help: string, read: (s: S) => number): void;
  gauge(name: string, help: string, read: (s: S) => number): void;
}

export function mirrorOf<S>(registers: Registry[], stats: () => S | null): Mirror<S> {
  return {
    total(name, help, read) {
      let seen = 0;
      new Counter({
        name, help, registers,
        collect() {
          const s = stats();
          if (!s) return;
          const v = read(s);
          if (v > seen) this.inc(v - seen);
          seen = v;
        },
      });
    },
    gauge(name, help, read) {
      new Gauge({ name, help, registers, collect() { const s = stats(); this.set(s ? read(s) : 0); } });
    },
  };
}
