// `bench serve` through `radixlm route` to three workers, once per policy, each run on fresh
// workers (cold caches): the cache hit rate and throughput of each policy, and its ratios to
// round-robin's, from one sitting.
//
//   node tools/router-bench/run.mjs [--policies round-robin,cache-aware,exact] [--model M.gguf]
//     [--groups 32] [--prompts-per-group 4] [--system-prompt-len 384] [--question-len 32]
//     [--output-len 16] [--max-concurrency 12] [--kv-tokens 6144] [--out DIR]
//
// Each worker runs on one thread (three workers on a small machine cannot each have cores of
// their own; this keeps them from fighting over more than they would have). Without --model a
// random-weight model of SmolLM2-135M's shape (q8_0) is made once in the out folder.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/radixlm.js");
const { values: o } = parseArgs({
  options: {
    policies: { type: "string", default: "round-robin,cache-aware,exact" },
    model: { type: "string" },
    groups: { type: "string", default: "32" },
    "prompts-per-group": { type: "string", default: "4" },
    "system-prompt-len": { type: "string", default: "384" },
    "question-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "16" },
    "max-concurrency": { type: "string", default: "12" },
    "kv-tokens": { type: "string", default: "6144" },
    out: { type: "string", default: path.join(os.tmpdir(), "radixlm-router-bench") },
  },
});
fs.mkdirSync(o.out, { recursive: true });
let model = o.model;
if (!model) {
  model = path.join(o.out, "smollm2-135m-q8_0.gguf");
  if (!fs.existsSync(model)) {
    const r = spawnSync(process.execPath, [bin, "make-test-model", "--preset", "smollm2-135m", "--dtype", "q8_0", "--out", model], { stdio: "inherit" });
    if (r.status !== 0) process.exit(1);
  }
}

/** Starts a radixlm command; resolves once a line matches `ready`. */
function start(args, ready) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on("line", (l) => ready.test(l) && resolve(child));
    child.on("exit", (c) => reject(new Error(`${args[0]} exited with ${c}: ${err}`)));
  });
}

const stop = (c) => new Promise((r) => {
  if (c.exitCode !== null) return r();
  c.on("exit", r);
  c.kill("SIGTERM");
});

const results = [];
for (const policy of o.policies.split(",")) {
  const ports = [31001, 31002, 31003];
  const workers = [];
  for (const p of ports) {
    const events = policy === "exact" ? ["--kv-events"] : [];
    workers.push(await start(["serve", "--model", model, "--port", String(p), "--threads", "1", "--max-total-tokens", o["kv-tokens"], "--log-interval", "0", ...events], /serving .* at/));
  }
  const routerArgs = ["route", ...ports.flatMap((p) => ["--worker", `http://127.0.0.1:${p}`]), "--port", "31000", "--policy", policy];
  if (policy === "exact") routerArgs.push("--model", model);
  const router = await start(routerArgs, /routing at/);
  const json = path.join(o.out, `${policy}.json`);
  const r = spawnSync(process.execPath, [bin, "bench", "serve", "--base-url", "http://127.0.0.1:31000", "--workload", "generated-shared-prefix",
    "--groups", o.groups, "--prompts-per-group", o["prompts-per-group"], "--system-prompt-len", o["system-prompt-len"],
    "--question-len", o["question-len"], "--output-len", o["output-len"], "--max-concurrency", o["max-concurrency"],
    "--no-bound", "--label", policy, "--json", json], { stdio: ["ignore", "inherit", "inherit"] });
  await stop(router);
  await Promise.all(workers.map(stop));
  if (r.status !== 0) process.exit(r.status ?? 1);
  results.push({ policy, ...JSON.parse(fs.readFileSync(json, "utf8")) });
}

const base = results.find((r) => r.policy === "round-robin");
console.log(`\nrouter, 3 workers x 1 thread, ${os.cpus().length} cores; generated-shared-prefix ${o.groups} groups x ${o["prompts-per-group"]} prompts, ` +
  `prefix ${o["system-prompt-len"]}, question ${o["question-len"]}, output ${o["output-len"]}, concurrency ${o["max-concurrency"]}, KV ${o["kv-tokens"]} tokens per worker`);
console.log("policy        hit rate   ideal   req/s    tok/s    hit x RR   tput x RR   failed");
for (const r of results) {
  const hx = base && base.cache_hit_rate ? (r.cache_hit_rate / base.cache_hit_rate).toFixed(2) : "-";
  const tx = base ? (r.total_token_throughput / base.total_token_throughput).toFixed(2) : "-";
  console.log(`${r.policy.padEnd(13)} ${(100 * (r.cache_hit_rate ?? 0)).toFixed(1).padStart(7)}%  ${(100 * r.ideal_hit_rate).toFixed(1).padStart(5)}%  ` +
    `${r.request_throughput.toFixed(2).padStart(6)}  ${r.total_token_throughput.toFixed(0).padStart(7)}  ${hx.padStart(9)}  ${tx.padStart(10)}   ${r.requests.failed}`);
}
