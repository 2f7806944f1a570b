// The thread chooser of small steps (native/thread-chooser.h) over simulated step times: it
// must settle on the faster count, follow a change in the machine's load, choose for each
// step size on its own, leave long steps on every thread, and spend little time on the
// slower count once settled.
import { test } from "node:test";
import assert from "node:assert/strict";
import { nativeKernels } from "../../src/kernels/native-kernels.js";
import { mulberry32 as rng } from "../../src/util/random.js";

const nk = nativeKernels();
const skip = nk === null ? "native addon unavailable" : false;

interface Phase {
  readonly steps: number;
  readonly rows?: number;  // 0: prefill steps
  readonly ms1: number;
  readonly msFull: number;
  readonly noise?: number;  // each step's time x (1 +- noise), seeded
}

function simulate(threads: number, phases: readonly Phase[], seed = 1): Int32Array {
  const n = phases.reduce((s, p) => s + p.steps, 0);
  const rows = new Int32Array(n);
  const ms1 = new Float64Array(n);
  const msFull = new Float64Array(n);
  const r = rng(seed);
  let i = 0;
  for (const p of phases) {
    for (let k = 0; k < p.steps; k++, i++) {
      const jitter = () => 1 + (p.noise ?? 0) * (2 * r() - 1);
      rows[i] = p.rows ?? 4;
      ms1[i] = p.ms1 * jitter();
      msFull[i] = p.msFull * jitter();
    }
  }
  return nk!.simulateThreadChooser(threads, rows, ms1, msFull);
}

const share = (picks: Int32Array, k: number, from = 0, to = picks.length) =>
  picks.subarray(from, to).filter((p) => p === k).length / (to - from);

test("decode stays on every thread where that is faster, probing 1 thread rarely", { skip }, () => {
  const picks = simulate(2, [{ steps: 4000, ms1: 10, msFull: 7, noise: 0.1 }]);
  assert.equal(picks[0], 2);
  assert.equal(picks[picks.length - 1], 2);
  // Once the probes back off (a clear loss doubles the gap), 1 thread takes about 1% of steps.
  assert.ok(share(picks, 1, 1000) < 0.03, `share on 1 thread ${share(picks, 1, 1000)}`);
});

test("decode moves to 1 thread when that measures faster, and back when the machine frees up", { skip }, () => {
  const picks = simulate(2, [
    { steps: 600, ms1: 10, msFull: 13, noise: 0.1 },  // a busy neighbour: 2 threads lose
    { steps: 600, ms1: 10, msFull: 7, noise: 0.1 },   // it has gone
  ]);
  // Settled within the first probe (after 32 steps, 24 steps long).
  assert.ok(share(picks, 1, 100, 600) > 0.7, `share on 1 thread while busy ${share(picks, 1, 100, 600)}`);
  assert.equal(picks[599], 1);
  assert.ok(share(picks, 2, 700) > 0.9, `share on 2 threads after ${share(picks, 2, 700)}`);
  assert.equal(picks[picks.length - 1], 2);
});

test("a few outlier steps do not move the choice", { skip }, () => {
  const n = 2000;
  const rows = new Int32Array(n).fill(4);
  const ms1 = new Float64Array(n).fill(10);
  const msFull = new Float64Array(n).fill(7);
  for (let i = 0; i < n; i += 97) msFull[i] = 100;  // the OS parked a thread now and then
  const picks = nk!.simulateThreadChooser(2, rows, ms1, msFull);
  assert.ok(share(picks, 2, 200) > 0.97, `share on 2 threads ${share(picks, 2, 200)}`);
});

test("steps past 32 rows and single-thread runners always take every thread", { skip }, () => {
  const picks = simulate(2, [
    { steps: 200, ms1: 10, msFull: 13 },
    { steps: 50, rows: 0, ms1: 10, msFull: 13 },
  ]);
  assert.equal(picks[199], 1);  // 4-row steps chose 1 thread ...
  assert.ok(picks.subarray(200).every((p) => p === 2));  // ... a long prefill chunk still takes both
  assert.ok(simulate(1, [{ steps: 300, ms1: 10, msFull: 5 }]).every((p) => p === 1));
});

test("each step size chooses on its own: steps of other sizes in between do not disturb it", { skip }, () => {
  // 4-row steps are faster on 2 threads, 5-row steps on 1 (as on a small model, where two
  // threads lose up to a few rows); the sizes alternate every 10 steps.
  const n = 4000;
  const rows = Int32Array.from({ length: n }, (_, i) => (Math.floor(i / 10) % 2 === 0 ? 4 : 5));
  const ms1 = new Float64Array(n).fill(1);
  const msFull = Float64Array.from(rows, (r) => (r === 4 ? 0.5 : 2));
  const picks = nk!.simulateThreadChooser(2, rows, ms1, msFull);
  const late = (size: number, k: number) => {
    const of = [...picks.keys()].filter((i) => i >= 1000 && rows[i] === size);
    return of.filter((i) => picks[i] === k).length / of.length;
  };
  assert.ok(late(4, 2) > 0.95, `4-row steps on 2 threads ${late(4, 2)}`);
  assert.ok(late(5, 1) > 0.95, `5-row steps on 1 thread ${late(5, 1)}`);
  // A one-row step (a single decode) still starts on every thread.
  assert.equal(nk!.simulateThreadChooser(2, Int32Array.of(1), Float64Array.of(1), Float64Array.of(2))[0], 2);
});

test("past 16 rows, a change of size mid-probe restarts the probe instead of comparing unlike steps", { skip }, () => {
  // Steps of 17 to 32 rows share one chooser. Alternate 20 and 21 rows every 10 steps: no
  // probe (24 steps) ever completes, so the chooser never acts on steps of different sizes,
  // and an abandoned probe waits its turn again rather than restarting at once.
  const n = 1000;
  const rows = Int32Array.from({ length: n }, (_, i) => (Math.floor(i / 10) % 2 === 0 ? 20 : 21));
  const ms1 = new Float64Array(n).fill(1);  // 1 thread looks far faster ...
  const msFull = Float64Array.from(rows, (r) => (r === 20 ? 0.5 : 50));  // ... only because of the size
  const picks = nk!.simulateThreadChooser(2, rows, ms1, msFull);
  let run = 0;
  for (const p of picks) {
    run = p === 1 ? run + 1 : 0;
    assert.ok(run <= 4, "1 thread only inside a probe's blocks of 4 steps");
  }
  assert.ok(share(picks, 1) < 0.2, `share on 1 thread ${share(picks, 1)}`);
});
