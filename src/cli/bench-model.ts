// radixlm bench model: prefill and decode speed of one model file, as llama-bench measures
// them. pp512: one 512-token prompt in a single step; tg128: 128 tokens decoded one per
// step after a short prompt. Single runs after a warm-up. Decode GB/s = bytes of weights
// read per token x tokens/s, set against the machine's memory bandwidth.
import fs from "node:fs";
import type { Command } from "commander";
import { loadModel, type LoadedModel } from "../model/load.js";
import type { ModelRunner, StepPlan } from "../kernels/backend.js";
import { defaultThreads, NativeModelRunner } from "../kernels/native.js";
import { nativeKernels } from "../kernels/native-kernels.js";
import { nativeOrWarn, selectBackend } from "../kernels/select.js";
import { mulberry32 } from "../util/random.js";
import { parseIntArg, UsageError } from "./errors.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";
import { splitParts } from "../formats/gguf-split.js";
import { Progress } from "../util/progress.js";

interface Options {
  model?: string;
  threads?: string;
  backend: string;
  kvDtype: string;
  pp: string;
  tg: string;
  json?: boolean;
}

export interface ModelBenchResult {
  readonly ppTokens: number;
  readonly tgTokens: number;
  readonly ppTokS: number;
  readonly tgTokS: number;
  /** Bytes of weights one decode step reads (the embedding table counts once, as output). */
  readonly weightBytes: number;
  readonly decodeGBps: number;
  readonly bandwidthGBps: number | null;
}

/** A prompt of `n` tokens at positions start.. in slots start.. of one sequence. */
function step(tokens: Int32Array, start: number, slots: Int32Array): StepPlan {
  const n = tokens.length;
  return {
    tokens,
    positions: Int32Array.from({ length: n }, (_, j) => start + j),
    seqs: [{ start: 0, count: n, kvSlots: slots.subarray(0, start + n) }],
    logitRows: Int32Array.of(n - 1),
  };
}

function weightBytesPerToken(model: LoadedModel): number {
  const w = model.weights;
  let bytes = w.totalBytes();
  // An untied embedding table is only looked up (one row); a tied one is read whole as output.
  if (w.has("output.weight")) bytes -= w.get("token_embd.weight").bytes.byteLength;
  // A mixture of experts reads only the experts a token is routed to.
  const moe = model.config.moe;
  if (moe) {
    for (const name of w.names()) {
      if (/ffn_(gate|up|down)_exps\.weight$/.test(name)) bytes -= (w.info(name).byteLength * (moe.experts - moe.used)) / moe.experts;
    }
  }
  return bytes;
}

/**
 * `onStep(done, total, phase)`: progress in forward steps (2 of warm-up, 1 of prefill, 1 + tg
 * of decode).
 */
export async function benchModel(model: LoadedModel, runner: ModelRunner, ppTokens: number, tgTokens: number,
  onStep: (done: number, total: number, phase: string) => void = () => undefined): Promise<Omit<ModelBenchResult, "bandwidthGBps">> {
  const total = 4 + tgTokens;
  const vocab = model.config.vocabSize;
  const rnd = mulberry32(1234);
  const randomTokens = (n: number): Int32Array => Int32Array.from({ length: n }, () => Math.floor(rnd() * vocab));
  const slots = Int32Array.from({ length: runner.kv.capacity }, (_, i) => i);
  // Every step asks for one row of logits: one buffer serves them all, as in the engine.
  const logits = new Float32Array(vocab);
  // Warm-up: a short prefill and one decode step (pages in the weights, sizes the buffers).
  onStep(0, total, "warm-up");
  await runner.forward(step(randomTokens(Math.min(32, ppTokens)), 0, slots), logits);
  await runner.forward(step(randomTokens(1), Math.min(32, ppTokens), slots), logits);

  onStep(2, total, `pp${ppTokens}`);
  let t0 = performance.now();
  await runner.forward(step(randomTokens(ppTokens), 0, slots), logits);
  const ppTokS = (ppTokens * 1000) / (performance.now() - t0);

  const shortPrompt = 8;
  onStep(3, total, `tg${tgTokens}`);
  await runner.forward(step(randomTokens(shortPrompt), 0, slots), logits);
  t0 = performance.now();
  for (let i = 0; i < tgTokens; i++) {
    await runner.forward(step(randomTokens(1), shortPrompt + i, slots), logits);
    onStep(5 + i, total, `tg${tgTokens}`);
  }
  const tgTokS = (tgTokens * 1000) / (performance.now() - t0);
  const weightBytes = weightBytesPerToken(model);
  return { ppTokens, tgTokens, ppTokS, tgTokS, weightBytes, decodeGBps: (weightBytes * tgTokS) / 1e9 };
}

/** The machine's memory bandwidth in GB/s from the kernels' probe; null when the addon is off. */
function memoryBandwidth(threads: number): number | null {
  if (!nativeOrWarn()) return null;  // one warning line says the addon is off
  return nativeKernels()?.memoryBandwidth(threads) ?? null;
}

/** Restarts the kernel's peak-RSS count at the current RSS (Linux); false where it cannot. */
function resetPeakRss(): boolean {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall back to the current figure
  }
  return process.memoryUsage().rss;
}

const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

async function run(o: Options): Promise<void> {
  if (o.backend !== "native" && o.backend !== "reference") throw new UsageError(`--backend must be native or reference, got "${o.backend}"`);
  if (o.kvDtype !== "f16" && o.kvDtype !== "f32") throw new UsageError(`--kv-dtype must be f16 or f32, got "${o.kvDtype}"`);
  const threads = o.threads === undefined ? defaultThreads() : parseIntArg("--threads", o.threads, 1);
  const pp = parseIntArg("--pp", o.pp, 1);
  const tg = parseIntArg("--tg", o.tg, 1);
  const backend = selectBackend(o.backend, threads);
  const model = await loadModel(await modelPath(o.model));
  if (pp > model.config.maxPositionEmbeddings || 8 + tg > model.config.maxPositionEmbeddings) {
    model.close();
    throw new UsageError(`--pp ${pp} and 8 + --tg ${tg} must each fit the model's context of ${model.config.maxPositionEmbeddings} tokens`);
  }
  // The runner's own memory (weights paged in, KV pool, activations) is what has to fit
  // in file + KV + 15%; the loader's (tokenizer, metadata) is counted apart.
  const loadedPeak = peakRss();
  const reset = resetPeakRss();
  const rssLoaded = process.memoryUsage().rss;
  try {
    const t0 = performance.now();
    const runner = backend.createRunner(model, { capacity: Math.max(pp, 8 + tg, 33), dtype: o.kvDtype });
    const buildMs = performance.now() - t0;
    try {
      const bar = new Progress("bench model", 4 + tg, { unit: "steps" });
      let r;
      try {
        r = await benchModel(model, runner, pp, tg, (done, _total, phase) => bar.update(done, phase));
      } finally {
        bar.stop();
      }
      const peak = peakRss();  // before the bandwidth probe, which allocates its own arrays
      const bandwidth = memoryBandwidth(threads);
      const usedThreads = backend.name === "reference" ? 1 : threads;
      const info = runner instanceof NativeModelRunner ? runner.info() : null;
      if (o.json) {
        const out: Record<string, number | string | null> = {};
        out[`pp${pp}`] = r.ppTokS;
        out[`tg${tg}`] = r.tgTokS;
        Object.assign(out, { decode_gbps: r.decodeGBps, bandwidth_gbps: bandwidth, threads: usedThreads, decode_threads: info?.decodeThreads ?? usedThreads, backend: backend.name });
        process.stdout.write(JSON.stringify(out) + "\n");
        return;
      }
      const fileBytes = model.format === "gguf" ? splitParts(model.path).reduce((n, p) => n + fs.statSync(p).size, 0) : model.weights.totalBytes();
      const kvBytes = info?.kvBytes ?? runner.kv.capacity * model.config.numLayers * model.config.numKvHeads * model.config.headDim * 2 * (o.kvDtype === "f16" ? 2 : 4);
      const paths = info ? ` (matmul ${info.matmul}, ops ${info.ops})` : "";
      const packed = info && info.packedBytes > 0
        ? `, ${mb(info.packedBytes)} of matrices repacked for ${info.matmul}, ${mb(info.releasedBytes)} of their file pages given back`
        : "";
      const bw = bandwidth === null ? "bandwidth not measured" : `machine ${bandwidth.toFixed(1)} GB/s: ${((100 * r.decodeGBps) / bandwidth).toFixed(0)}%`;
      const lines = [
        `model      ${model.path}: ${model.config.arch}, ${mb(fileBytes)} file, ${mb(r.weightBytes)} of weights read per token`,
        `backend    ${backend.name}${paths}, ${usedThreads} thread${usedThreads === 1 ? "" : "s"}`,
        `load       runner built in ${buildMs.toFixed(0)} ms${packed}`,
        `pp${pp}`.padEnd(11) + `${r.ppTokS.toFixed(1)} tok/s`,
        `tg${tg}`.padEnd(11) + `${r.tgTokS.toFixed(1)} tok/s` + (info && info.decodeThreads !== usedThreads ? ` (decode measured faster on ${info.decodeThreads} thread${info.decodeThreads === 1 ? "" : "s"}: the machine is busy)` : ""),
        `decode     ${r.decodeGBps.toFixed(2)} GB/s of weights (${bw})`,
        reset
          ? `peak RSS   ${mb(Math.max(peak, loadedPeak))}; running: ${mb(peak - rssLoaded)} over the ${mb(rssLoaded)} after loading (budget file + KV pool + 15% = ${mb((fileBytes + kvBytes) * 1.15)})`
          : `peak RSS   ${mb(peak)} (budget file + KV pool + 15% = ${mb((fileBytes + kvBytes) * 1.15)}, plus the process and loader)`,
      ];
      process.stdout.write(lines.join("\n") + "\n");
    } finally {
      runner.close();
    }
  } finally {
    model.close();
  }
}

export function register(bench: Command): void {
  bench
    .command("model")
    .description("prefill (pp) and decode (tg) tokens/s of a model, as llama-bench measures them")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`)
    .option("--threads <n>", "compute threads (default: the number of cores)")
    .option("--backend <name>", "native or reference", "native")
    .option("--kv-dtype <type>", "KV cache storage: f16 or f32", "f16")
    .option("--pp <n>", "prompt tokens of the prefill test", "512")
    .option("--tg <n>", "tokens of the decode test", "128")
    .option("--json", 'print one JSON object: {"pp512", "tg128", "decode_gbps", "bandwidth_gbps", "threads", "backend"}')
    .action(run);
}
