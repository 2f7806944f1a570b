// radixlm beside node-llama-cpp (current llama.cpp CPU kernels) on the same GGUF: pp512 and
// tg128 for each thread count, the two engines' processes alternating run after run, best
// and median of each, and our ratio to the peer. node-llama-cpp is installed once into a
// scratch folder outside the project (never a dependency of radixlm), from the npm registry.
//
//   npm run bench:peer -- MODEL.gguf [--threads 1,2] [--runs 3] [--peer-version 3.22.1] [--peer-dir DIR]
//
// The machines are shared: read the ratios, measured in one sitting, rather than absolute figures.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { installPeer, peerOptions, root } from "./install.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "1,2" },
    runs: { type: "string", default: "3" },
    ...peerOptions,
  },
});
const model = positionals[0];
if (!model || !fs.existsSync(model)) {
  console.error("usage: npm run bench:peer -- MODEL.gguf [--threads 1,2] [--runs 3] [--peer-version V] [--peer-dir DIR]");
  process.exit(2);
}
const threads = values.threads.split(",").map(Number);
const runs = Number(values.runs);
const peerDir = installPeer(values["peer-dir"], values["peer-version"], "bench:peer");
fs.copyFileSync(path.join(here, "peer.mjs"), path.join(peerDir, "peer.mjs"));

function json(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 2 ** 24 });
  const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (r.status !== 0 || !line) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(line);
}

const ours = (t) => json(process.execPath, [path.join(root, "bin/radixlm.js"), "bench", "model", "--model", path.resolve(model), "--threads", String(t), "--json"], root);
const peer = (t) => json(process.execPath, ["peer.mjs", path.resolve(model), String(t)], peerDir);

const results = new Map(threads.map((t) => [t, { ours: [], peer: [] }]));
for (let r = 0; r < runs; r++) {
  for (const t of threads) {
    // alternate which engine goes first, so that neither always meets the warmer machine
    const order = r % 2 === 0 ? ["ours", "peer"] : ["peer", "ours"];
    for (const who of order) results.get(t)[who].push(who === "ours" ? ours(t) : peer(t));
  }
  process.stderr.write(`bench:peer: run ${r + 1} of ${runs} done (load ${os.loadavg()[0].toFixed(2)})\n`);
}

const best = (xs) => Math.max(...xs);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (x) => x.toFixed(1).padStart(8);
console.log(`${path.basename(model)}: ${runs} alternating runs, ${os.availableParallelism()} cores, node-llama-cpp ${values["peer-version"]}`);
console.log("threads  metric   radixlm best/median     peer best/median      ratio (best, median)");
for (const t of threads) {
  const { ours: o, peer: p } = results.get(t);
  for (const m of ["pp512", "tg128"]) {
    const a = o.map((x) => x[m]);
    const b = p.map((x) => x[m]);
    console.log(`${String(t).padStart(7)}  ${m}  ${f(best(a))} /${f(median(a))}   ${f(best(b))} /${f(median(b))}   ${(best(a) / best(b)).toFixed(2)}x, ${(median(a) / median(b)).toFixed(2)}x`);
  }
}
