// The dashboard's latency window: percentiles of the last minute's observations, the oldest
// dropped by age and by the cap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyWindow } from "../../src/server/dashboard/latency.js";

test("percentiles of the observations within the window; older ones and those past the cap are dropped", () => {
  const w = new LatencyWindow(1000, 100);
  assert.equal(w.percentiles(0), null);
  for (let i = 1; i <= 100; i++) w.add(i, 0);
  assert.deepEqual(w.percentiles(500), { p50: 51, p90: 91, p99: 100, count: 100 });
  // Past the cap: the oldest go first.
  for (let i = 0; i < 50; i++) w.add(1000, 600);
  assert.deepEqual(w.percentiles(700), { p50: 1000, p90: 1000, p99: 1000, count: 100 });
  assert.equal(w.percentiles(700)!.count, 100);
  // Past the window: only the later ones are left, then none.
  assert.deepEqual(w.percentiles(1500), { p50: 1000, p90: 1000, p99: 1000, count: 50 });
  assert.equal(w.percentiles(1700), null);
});
