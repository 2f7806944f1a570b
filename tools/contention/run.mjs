// Decode speed with 1 and 2 threads, alone and beside a competing CPU-bound process at normal
// priority (one busy loop per competitor): on a 2-core machine, 2 threads must never lose to
// 1 when another process takes a core. Runs `radixlm bench model` (pp 64, tg 512) in turns:
// 512 steps, so that the runner's measured choice of decode threads (native/thread-chooser.h,
// settled after its first probe at step 33) shows in the figure.
//   node tools/contention/run.mjs [MODEL] [--runs 3] [--competitors 1]
import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string", default: "3" }, competitors: { type: "string", default: "1" } } });
const model = positionals[0];
const runs = Number(values.runs);
const competitors = Number(values.competitors);

function bench(threads) {
  const args = [path.join(root, "bin/radixlm.js"), "bench", "model", "--threads", String(threads), "--pp", "64", "--tg", "512", "--json", ...(model ? ["--model", model] : [])];
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop());
  return out;
}

function compete(n) {
  return Array.from({ length: n }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
}

const results = { alone: { 1: [], 2: [] }, busy: { 1: [], 2: [] } };
// Threads the 2-thread runs' decode ended on (the runner's measured choice).
const ended = { alone: [], busy: [] };
function record(k, t, out) {
  results[k][t].push(out.tg512);
  if (t === 2) ended[k].push(out.decode_threads);
}
for (let r = 0; r < runs; r++) {
  for (const t of r % 2 ? [2, 1] : [1, 2]) {
    record("alone", t, bench(t));
    const procs = compete(competitors);
    await new Promise((res) => setTimeout(res, 200));
    try {
      record("busy", t, bench(t));
    } finally {
      for (const p of procs) p.kill("SIGKILL");
    }
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = (xs) => Math.max(...xs);
console.log(`decode tg512 tok/s, ${runs} runs (best / median), ${os.availableParallelism()} cores, ${competitors} competing busy loop(s)`);
for (const k of ["alone", "busy"]) {
  const a = results[k][1];
  const b = results[k][2];
  console.log(`${k.padEnd(6)} 1 thread ${best(a).toFixed(0)} / ${med(a).toFixed(0)}   2 threads ${best(b).toFixed(0)} / ${med(b).toFixed(0)}   2 over 1: ${(med(b) / med(a)).toFixed(2)}x   (2-thread decode ended on ${ended[k].join(", ")} threads)`);
}
