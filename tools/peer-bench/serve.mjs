// radixlm serve beside llama-server (the server a llama.cpp user runs) on one serving workload,
// the same GGUF and thread count: by default the shared-prefix one, 16 requests of 1,500 shared
// and 50 own tokens, 32 output tokens each, 4 in flight. Each run starts each server afresh
// (neither keeps a cache from the one before), the two alternating which goes first, and
// drives it with `radixlm bench serve`; then medians and our ratio.
//
// llama-server is built once, with cmake and this machine's compiler, from the llama.cpp
// source that node-llama-cpp ships (llama/gitRelease.bundle), in the peer's scratch folder
// outside the project. Nothing is fetched but node-llama-cpp itself, from the npm registry.
//
//   npm run bench:peer-serve -- MODEL.gguf [--runs 2] [--threads 2] [--concurrency 4]
//     [--prompts 16] [--prefix 1500] [--question 50] [--output 32] [--peer-version 3.22.1] [--peer-dir DIR]
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { installPeer, peerOptions, root } from "./install.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "2" },
    threads: { type: "string", default: String(Math.min(os.availableParallelism(), 8)) },
    concurrency: { type: "string", default: "4" },
    prompts: { type: "string", default: "16" },
    prefix: { type: "string", default: "1500" },
    question: { type: "string", default: "50" },
    output: { type: "string", default: "32" },
    ...peerOptions,
  },
});
const model = positionals[0] && path.resolve(positionals[0]);
if (!model || !fs.existsSync(model)) {
  console.error("usage: npm run bench:peer-serve -- MODEL.gguf [--runs 2] [--threads 2] [--concurrency 4] [--prompts 16] [--prefix 1500] [--question 50] [--output 32]");
  process.exit(2);
}
const int = (k) => {
  const n = Number(values[k]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:peer-serve: --${k} must be a positive integer`);
    process.exit(2);
  }
  return n;
};
const [runs, threads, concurrency, prompts, prefix, question, output] = ["runs", "threads", "concurrency", "prompts", "prefix", "question", "output"].map(int);

const peerDir = installPeer(values["peer-dir"], values["peer-version"], "bench:peer-serve");
const server = buildLlamaServer(peerDir);

function buildLlamaServer(dir) {
  const src = path.join(dir, "llama.cpp");
  const build = path.join(src, "build");
  const bin = path.join(build, "bin", "llama-server");
  if (fs.existsSync(bin)) return bin;
  const bundle = path.join(dir, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
  if (!fs.existsSync(bundle)) throw new Error(`no llama.cpp source in ${bundle}`);
  const log = (m) => process.stderr.write(`bench:peer-serve: ${m}\n`);
  const run = (cmd, args) => execFileSync(cmd, args, { stdio: ["ignore", process.stderr, process.stderr] });
  if (!fs.existsSync(src)) run("git", ["clone", "-q", bundle, src]);
  log(`building llama-server in ${build} (once; several minutes)`);
  try {
    run("cmake", ["-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"]);
    run("cmake", ["--build", build, "--target", "llama-server", "-j", String(os.availableParallelism())]);
  } catch (e) {
    throw new Error(`building llama-server needs cmake and a C++ compiler: ${e instanceof Error ? e.message : e}`);
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function start(cmd, args, port) {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${path.basename(cmd)} exited (${child.exitCode}): ${err.trim().split("\n").slice(-3).join(" | ")}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${path.basename(cmd)} did not come up on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await gone;
  clearTimeout(t);
}

const workload = ["--groups", "1", "--prompts-per-group", String(prompts), "--system-prompt-len", String(prefix), "--question-len", String(question), "--output-len", String(output), "--max-concurrency", String(concurrency)];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-peer-serve-"));

function benchServe(port, extra, label) {
  const out = path.join(tmp, `${label}.json`);
  const r = spawnSync(process.execPath, [path.join(root, "bin/radixlm.js"), "bench", "serve", "--base-url", `http://127.0.0.1:${port}`, ...workload, "--label", label, "--json", out, ...extra], { encoding: "utf8", maxBuffer: 2 ** 24 });
  if (r.status !== 0 || !fs.existsSync(out)) throw new Error(`bench serve (${label}) failed (${r.status}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(fs.readFileSync(out, "utf8"));
}

// Room in each llama-server slot for a whole request.
const slotContext = Math.ceil((prefix + question + output + 64) / 256) * 256;

async function runLlamaServer() {
  const port = await freePort();
  const child = await start(server, ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-t", String(threads), "-np", String(concurrency), "-c", String(slotContext * concurrency)], port);
  try {
    return benchServe(port, ["--tokenizer", model], "llama-server");
  } finally {
    await stop(child);
  }
}

async function runRadixlm() {
  const port = await freePort();
  const child = await start(process.execPath, [path.join(root, "bin/radixlm.js"), "serve", "--model", model, "--port", String(port), "--threads", String(threads), "--max-running-requests", String(concurrency)], port);
  try {
    return benchServe(port, ["--flush-cache"], "radixlm");
  } finally {
    await stop(child);
  }
}

const results = { radixlm: [], "llama-server": [] };
try {
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ["radixlm", "llama-server"] : ["llama-server", "radixlm"];
    for (const who of order) {
      const x = who === "radixlm" ? await runRadixlm() : await runLlamaServer();
      results[who].push(x);
      const lost = x.requests.failed + x.requests.not_sent;
      if (lost > 0) process.stderr.write(`bench:peer-serve: ${who}: ${lost} of ${x.requests.total} requests failed or unsent: ${x.errors.slice(0, 3).join(" | ")}\n`);
    }
    process.stderr.write(`bench:peer-serve: run ${r + 1} of ${runs} done (load ${os.loadavg()[0].toFixed(2)})\n`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const failed = Object.values(results).flat().reduce((n, x) => n + x.requests.failed + x.requests.not_sent, 0);
console.log(`${path.basename(model)}: ${prompts} requests of ${prefix} shared + ${question} own tokens, ${output} out, ${concurrency} in flight, ${threads} threads; ${runs} alternating runs, ${os.availableParallelism()} cores, llama.cpp from node-llama-cpp ${values["peer-version"]}`);
console.log("server         time s (each)          median   mean TTFT ms   hit rate   of bound");
for (const [who, xs] of Object.entries(results)) {
  const times = xs.map((x) => x.duration_s.toFixed(2)).join(", ");
  const bound = xs.filter((x) => typeof x.bound_fraction === "number").map((x) => `${(100 * x.bound_fraction).toFixed(0)}%`).join(", ");
  const hit = median(xs.map((x) => x.cache_hit_rate ?? 0));
  console.log(`${who.padEnd(14)} ${times.padEnd(22)} ${median(xs.map((x) => x.duration_s)).toFixed(2).padStart(6)}   ${median(xs.map((x) => x.ttft_ms.mean)).toFixed(0).padStart(12)}   ${(100 * hit).toFixed(1).padStart(7)}%   ${bound || "-"}`);
}
const a = median(results.radixlm.map((x) => x.duration_s));
const b = median(results["llama-server"].map((x) => x.duration_s));
const ta = median(results.radixlm.map((x) => x.ttft_ms.mean));
const tb = median(results["llama-server"].map((x) => x.ttft_ms.mean));
console.log(`radixlm over llama-server (medians): total time ${(b / a).toFixed(2)}x faster, mean TTFT ${(tb / ta).toFixed(2)}x lower${failed ? `; ${failed} requests failed or unsent` : ""}`);
if (failed) process.exitCode = 1;
