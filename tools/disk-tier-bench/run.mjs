// The disk tier's benchmarks (issue 21), each side by side in one sitting:
//
//   working-set: a multi-turn workload (native /generate, so that each turn resends the ids the
//     server generated and the ideal hit rate is reachable) whose distinct tokens are `--ratio` (4) times the KV
//     pool, served without and with --cache-dir: throughput, mean TTFT, hit rate (by tier) and
//     the workload's ideal hit rate.
//   restart: a `--restart-prompt-len` (4096) token system prompt; the first request's TTFT on
//     a cold server vs on one restarted with the cache dir an earlier run left; and the start
//     time (spawn to ready line) with a cache dir of about `--restart-fill-bytes` (1 GiB) vs none.
//   bandwidth: the disk's read bandwidth under the cache dir (O_DIRECT, past the page cache),
//     beside what loads reached.
//
//   node tools/disk-tier-bench/run.mjs [--preset smollm2-135m|qwen2.5-0.5b] [--model M.gguf]
//     [--parts working-set,restart,bandwidth] [--conversations 32] [--turns 4]
//     [--system-prompt-len 256] [--question-len 64] [--output-len 32] [--max-concurrency 4]
//     [--ratio 4] [--threads 2] [--restart-prompt-len 4096] [--restart-fill-bytes 1073741824]
//     [--out DIR]
//
// Without --model, a random-weight q8_0 model of the preset's shape is made once in the out folder.
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
    preset: { type: "string", default: "smollm2-135m" },
    model: { type: "string" },
    parts: { type: "string", default: "working-set,restart,bandwidth" },
    conversations: { type: "string", default: "32" },
    turns: { type: "string", default: "4" },
    "system-prompt-len": { type: "string", default: "256" },
    "question-len": { type: "string", default: "64" },
    "output-len": { type: "string", default: "32" },
    "max-concurrency": { type: "string", default: "4" },
    ratio: { type: "string", default: "4" },
    threads: { type: "string", default: "2" },
    "restart-prompt-len": { type: "string", default: "4096" },
    "restart-fill-bytes": { type: "string", default: String(2 ** 30) },
    port: { type: "string", default: "31100" },
    out: { type: "string", default: path.join(os.tmpdir(), "radixlm-disk-tier-bench") },
  },
});
fs.mkdirSync(o.out, { recursive: true });
const parts = new Set(o.parts.split(","));
let model = o.model;
if (!model) {
  model = path.join(o.out, `${o.preset}-q8_0.gguf`);
  if (!fs.existsSync(model)) {
    const r = spawnSync(process.execPath, [bin, "make-test-model", "--preset", o.preset, "--dtype", "q8_0", "--out", model], { stdio: "inherit" });
    if (r.status !== 0) process.exit(1);
  }
}
const base = `http://127.0.0.1:${o.port}`;
const num = (k) => Number(o[k]);

/** Starts `serve`; resolves with the child, its ready time (ms from spawn) and its output lines once ready. */
function serve(args) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, "serve", "--model", model, "--port", o.port, "--threads", o.threads, "--log-interval", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on("line", (l) => {
      lines.push(l);
      if (/serving .* at/.test(l)) resolve({ child, readyMs: performance.now() - t0, lines, err: () => err });
    });
    child.on("exit", (c) => reject(new Error(`serve exited with ${c}: ${err}`)));
  });
}

const stop = (c) => new Promise((r) => {
  if (c.exitCode !== null) return r();
  c.on("exit", r);
  c.kill("SIGTERM");
});

async function info() {
  return (await fetch(`${base}/get_server_info`)).json();
}

/** One request's TTFT (streamed /generate, first chunk), in ms. */
async function ttft(ids, maxNewTokens = 4) {
  const t0 = performance.now();
  const r = await fetch(`${base}/generate`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ input_ids: ids, stream: true, sampling_params: { max_new_tokens: maxNewTokens, temperature: 0, ignore_eos: true } }),
  });
  const reader = r.body.getReader();
  const first = await reader.read();
  const ms = performance.now() - t0;
  if (first.done) throw new Error("no tokens");
  while (!(await reader.read()).done);
  return ms;
}

const rng = (seed) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const tokens = (n, seed) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => 100 + Math.floor(r() * 20000));
};
const fresh = (name) => {
  const d = path.join(o.out, name);
  fs.rmSync(d, { recursive: true, force: true });
  return d;
};

const report = [];
const say = (l) => {
  console.log(l);
  report.push(l);
};
say(`disk tier, ${os.cpus().length} cores, ${o.threads} threads, model ${path.basename(model)}`);

if (parts.has("working-set")) {
  const C = num("conversations"), T = num("turns"), S = num("system-prompt-len"), Q = num("question-len"), O = num("output-len");
  const distinct = C * (S + T * (Q + O));
  const kv = Math.floor(distinct / num("ratio"));
  const runs = [];
  for (const tier of ["off", "on"]) {
    const args = ["--max-total-tokens", String(kv)];
    if (tier === "on") args.push("--cache-dir", fresh("ws-cache"));
    const s = await serve(args);
    const json = path.join(o.out, `ws-${tier}.json`);
    const r = spawnSync(process.execPath, [bin, "bench", "serve", "--base-url", base, "--api", "native", "--workload", "multi-turn",
      "--conversations", String(C), "--turns", String(T), "--system-prompt-len", String(S), "--question-len", String(Q),
      "--output-len", String(O), "--max-concurrency", o["max-concurrency"], "--no-bound", "--label", `tier ${tier}`, "--json", json],
    { stdio: ["ignore", "inherit", "inherit"] });
    const disk = (await info()).disk_tier ?? null;
    await stop(s.child);
    if (r.status !== 0) process.exit(r.status ?? 1);
    runs.push({ tier, ...JSON.parse(fs.readFileSync(json, "utf8")), disk });
  }
  const [off, on] = runs;
  say(`\nworking set: multi-turn ${C} conversations x ${T} turns, prefix ${S}, question ${Q}, output ${O}, concurrency ${o["max-concurrency"]}; ` +
    `${distinct} distinct tokens, KV pool ${kv} (1/${o.ratio})`);
  say("tier  hit rate  (ram / disk)   ideal  of ideal   tok/s   ttft mean ms");
  for (const r of runs) {
    const tiers = r.hit_rate_disk !== undefined ? `(${(100 * r.hit_rate_ram).toFixed(1)} / ${(100 * r.hit_rate_disk).toFixed(1)})` : "";
    say(`${r.tier.padEnd(4)} ${(100 * r.cache_hit_rate).toFixed(1).padStart(7)}%  ${tiers.padEnd(14)} ${(100 * r.ideal_hit_rate).toFixed(1).padStart(5)}%  ` +
      `${((100 * r.cache_hit_rate) / r.ideal_hit_rate).toFixed(1).padStart(7)}%  ${r.total_token_throughput.toFixed(0).padStart(6)}  ${r.ttft_ms.mean.toFixed(0).padStart(8)}`);
  }
  say(`on vs off: throughput ${(on.total_token_throughput / off.total_token_throughput).toFixed(2)}x, mean TTFT ${(off.ttft_ms.mean / on.ttft_ms.mean).toFixed(2)}x lower`);
  if (on.disk) {
    const d = on.disk;
    say(`disk tier: ${d.loadedTokens} tokens (${(d.loadedBytes / 2 ** 20).toFixed(0)} MiB) loaded in ${d.loads} loads (${d.failedLoads} failed), ` +
      `mean ${(d.loadMsTotal / Math.max(1, d.loads)).toFixed(1)} ms, ${(d.loadedBytes / 1e6 / Math.max(1e-9, d.loadMsTotal)).toFixed(2)} GB/s per load; ` +
      `${d.writtenTokens} tokens (${(d.writtenBytes / 2 ** 20).toFixed(0)} MiB) written`);
  }
}

let loadRate = null;
if (parts.has("restart")) {
  const P = num("restart-prompt-len");
  const system = tokens(P, 7);
  const ask = (k) => [...system, ...tokens(16, 1000 + k)];
  const kv = String(P + 1024);
  // Cold: a server with no cache dir; the first request computes the whole prompt.
  let s = await serve(["--max-total-tokens", kv]);
  const cold = await ttft(ask(1));
  await stop(s.child);
  // A first run leaves the prompt in the cache dir, then stops (the shutdown stores what was not yet).
  const dir = fresh("restart-cache");
  s = await serve(["--max-total-tokens", kv, "--cache-dir", dir]);
  await ttft(ask(0));
  await stop(s.child);
  s = await serve(["--max-total-tokens", kv, "--cache-dir", dir]);
  const warm = await ttft(ask(1));
  const d = (await info()).disk_tier;
  await stop(s.child);
  say(`\nwarm restart: ${P}-token system prompt, first request's TTFT: cold ${cold.toFixed(0)} ms, after a restart ${warm.toFixed(0)} ms ` +
    `(${(cold / warm).toFixed(1)}x lower; ${d.loadedTokens} tokens loaded from disk)`);
  // Start time with a big cache dir (0: skipped): fill it with distinct prompts (through the server: real items), then restart.
  const fill = Number(o["restart-fill-bytes"]);
  if (fill > 0) {
    const bigDir = fresh("restart-big");
    s = await serve(["--max-total-tokens", kv, "--cache-dir", bigDir, "--cache-disk-size", String(Math.ceil(fill * 1.5))]);
    for (let k = 0; ; k++) {
      const i = await info();
      if ((i.disk_tier?.storeBytes ?? 0) >= fill) break;
      await ttft(tokens(P, 5000 + k), 1);
    }
    await stop(s.child);
    const bytes = fs.readdirSync(bigDir).reduce((a, f) => a + fs.statSync(path.join(bigDir, f)).size, 0);
    // Side by side, both with the model file in the page cache: without a cache dir, then with the big one.
    s = await serve(["--max-total-tokens", kv]);
    const plainReady = s.readyMs;
    await stop(s.child);
    s = await serve(["--max-total-tokens", kv, "--cache-dir", bigDir, "--cache-disk-size", String(Math.ceil(fill * 1.5))]);
    const found = s.lines.find((l) => l.includes("from earlier runs")) ?? "";
    await stop(s.child);
    say(`start to ready line: no cache dir ${plainReady.toFixed(0)} ms, with a ${(bytes / 2 ** 30).toFixed(2)} GiB cache dir ${s.readyMs.toFixed(0)} ms ` +
      `(${(s.readyMs - plainReady).toFixed(0)} ms more; ${found.replace(/^radixlm: /, "")})`);
  }
  loadRate = d.loadedBytes / 1e6 / Math.max(1e-9, d.loadMsTotal);
}

if (parts.has("bandwidth")) {
  // A file of 512 MiB under the out folder, read back with O_DIRECT (past the page cache).
  const f = path.join(o.out, "bandwidth.bin");
  spawnSync("dd", ["if=/dev/urandom", `of=${f}`, "bs=4M", "count=128", "oflag=direct", "status=none"]);
  const t0 = performance.now();
  const r = spawnSync("dd", [`if=${f}`, "of=/dev/null", "bs=4M", "iflag=direct", "status=none"]);
  const sec = (performance.now() - t0) / 1000;
  fs.rmSync(f, { force: true });
  if (r.status === 0) {
    say(`\ndisk read bandwidth (dd, O_DIRECT, 512 MiB): ${(512 * 2 ** 20 / 1e9 / sec).toFixed(2)} GB/s` +
      (loadRate !== null ? `; the restart's load reached ${loadRate.toFixed(2)} GB/s (read, checksum and copy into the pool)` : ""));
  }
}
fs.writeFileSync(path.join(o.out, "report.txt"), report.join("\n") + "\n");
