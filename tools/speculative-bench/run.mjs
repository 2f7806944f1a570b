// Speculative decoding side by side (issue 22): `bench offline --compare speculative` on
//
//   edit: the bundled demo model rewriting texts with one change (the use n-gram drafting is
//     for: the reply copies the prompt);
//   random, multi-turn: random-weight q8_0 models of SmolLM2-135M's and Qwen2.5-0.5B's shapes
//     (`make-test-model --preset`), the controls: nothing in them is there to be copied, beyond
//     what a random model repeats of its own.
//
// and prints one table of what speculation gave (ngram over off): output tokens/s ratio, mean
// TTFT ratio, acceptance, tokens per verification, and whether the outputs were identical.
//
// The edit requests go one at a time by default (--edit-concurrency): an assistant applies an
// edit and waits for it, and that latency is what speculation is for; the controls send all
// their requests at once. Each comparison also runs with every draft right (each request's
// prediction is the reply it gets): the bound, the most speculation can give there.
//
//   node tools/speculative-bench/run.mjs [--threads 2] [--presets smollm2-135m,qwen2.5-0.5b]
//     [--edits 32] [--edit-concurrency 1] [--edit-text-len N] [--demo PATH] [--prompts 8] [--conversations 4] [--turns 3]
//     [--system-prompt-len 128] [--question-len 32] [--output-len 128] [--max-draft N (default: the engine's, 16)]
//     [--parts edit,random,multi-turn] [--out DIR]
//
// The models are made once in the out folder; results.json and report.txt are written there.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/radixlm.js");
const { values: o } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    presets: { type: "string", default: "smollm2-135m,qwen2.5-0.5b" },
    parts: { type: "string", default: "edit,random,multi-turn" },
    demo: { type: "string", default: path.join(root, "models/demo/radixlm-demo-q8_0.gguf") },
    edits: { type: "string", default: "32" },
    "edit-concurrency": { type: "string", default: "1" },
    "edit-text-len": { type: "string" },
    prompts: { type: "string", default: "8" },
    conversations: { type: "string", default: "4" },
    turns: { type: "string", default: "3" },
    "system-prompt-len": { type: "string", default: "128" },
    "question-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "128" },
    "max-draft": { type: "string" },
    out: { type: "string", default: path.join(os.tmpdir(), "radixlm-speculative-bench") },
  },
});
fs.mkdirSync(o.out, { recursive: true });
const parts = new Set(o.parts.split(","));

function modelOf(preset) {
  const file = path.join(o.out, `${preset}-q8_0.gguf`);
  if (!fs.existsSync(file)) {
    const r = spawnSync(process.execPath, [bin, "make-test-model", "--preset", preset, "--dtype", "q8_0", "--out", file], { stdio: "inherit" });
    if (r.status !== 0) process.exit(1);
  }
  return file;
}

/** One `bench offline --compare speculative --json` run; its report with what it ran. */
function compare(label, model, workloadArgs) {
  const args = ["bench", "offline", "--model", model, ...workloadArgs, "--compare", "speculative", "--json",
    "--threads", o.threads, ...(o["max-draft"] !== undefined ? ["--speculative-max-draft", o["max-draft"]] : [])];
  process.stderr.write(`${label}: radixlm ${args.join(" ")}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) {
    process.stderr.write(r.stdout);
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`${label}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return { label, ...JSON.parse(r.stdout) };
}

const fixedLengths = ["--system-prompt-len", o["system-prompt-len"], "--question-len", o["question-len"], "--output-len", o["output-len"]];
const runs = [];
if (parts.has("edit")) {
  const len = o["edit-text-len"] !== undefined ? ["--edit-text-len", o["edit-text-len"]] : [];
  runs.push(compare(`edit / ${path.basename(o.demo, ".gguf")}`, o.demo, ["--workload", "edit", "--groups", "1", "--prompts-per-group", o.edits, "--max-concurrency", o["edit-concurrency"], ...len]));
}
for (const preset of o.presets.split(",").filter((p) => p !== "")) {
  if (!parts.has("random") && !parts.has("multi-turn")) break;
  const model = modelOf(preset);
  if (parts.has("random")) runs.push(compare(`random / ${preset}`, model, ["--workload", "random", "--groups", "1", "--prompts-per-group", o.prompts, ...fixedLengths]));
  if (parts.has("multi-turn")) {
    runs.push(compare(`multi-turn / ${preset}`, model, ["--workload", "multi-turn", "--conversations", o.conversations, "--turns", o.turns, ...fixedLengths]));
  }
}

const header = ["workload / model", "reqs", "in flight", "out tok/s off", "ngram", "ratio", "decode ratio", "bound", "decode bound", "TTFT ratio", "accepted", "tok/verify", "drafted", "identical", "as expected"];
const x = (v) => `${v.toFixed(2)}x`;
const rows = runs.map((r) => [
  r.label, String(r.on.requests), r.max_concurrency === null ? "all" : String(r.max_concurrency), r.off.throughput.toFixed(1), r.on.throughput.toFixed(1),
  x(r.throughput_ratio), x(r.tpot_ratio), x(r.bound_throughput_ratio), x(r.bound_tpot_ratio), x(r.ttft_ratio), `${(100 * r.accept_rate).toFixed(1)}%`, r.accept_length === null ? "n/a" : r.accept_length.toFixed(2),
  String(r.draft_tokens), r.identical_outputs ? "yes" : `NO (${r.differing_requests})`,
  r.on.expectedReplies ? `${r.on.expectedReplies.matched}/${r.on.expectedReplies.of}` : "",
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
const report = [
  `speculative decoding (ngram over off, max draft ${o["max-draft"] ?? "the default"}), bench offline, ${os.cpus().length} cores, ${o.threads} threads`,
  line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line),
  "ratio: output tokens/s with over without; decode ratio: mean time per output token after the first, without over with;",
  "bound, decode bound: the same two with every draft right; TTFT ratio: mean TTFT without over with (above 1: sooner with)",
];
console.log(report.join("\n"));
fs.writeFileSync(path.join(o.out, "report.txt"), report.join("\n") + "\n");
fs.writeFileSync(path.join(o.out, "results.json"), JSON.stringify(runs, null, 1) + "\n");
if (runs.some((r) => !r.identical_outputs)) {
  console.error("outputs differed between speculation on and off");
  process.exit(1);
}
