// Seeded corruptions of real model files (test/helpers/mutate-model.ts), each loaded in a
// worker with a small heap and a time limit: the load either succeeds, and then a short
// generation gives finite logits, or fails with a FormatError whose one-line message names a
// file of the model. Never a crash, a hang, an out-of-memory, or an internal TypeError or
// RangeError passed off as the file's fault.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { tempDir, testModel } from "../helpers/models.js";
import { IsolatedLoader, loadProblem } from "../helpers/isolated-load.js";
import { mutations, type Mutation } from "../helpers/mutate-model.js";

const SEED = Number(process.env.RADIXLM_MUTATION_SEED ?? 1);
const COUNT = Number(process.env.RADIXLM_MUTATIONS ?? 200);
/** Per file; loads take tens of milliseconds, the rest is room for a busy machine. */
const TIME_LIMIT_MS = 15_000;

// Small models: corruptions of their headers are a larger share of the file.
const sizes = { vocabSize: 320, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 32 };
const gguf = (): Promise<string> => testModel("mutations-llama-q8_0", { arch: "llama", format: "gguf", dtype: "q8_0", sizes, seed: 5 });
const hf = (): Promise<string> => testModel("mutations-qwen2-hf-f16", { arch: "qwen2", format: "hf", dtype: "f16", sizes, seed: 5 });

const loader = new IsolatedLoader({ heapMb: 256 });
after(() => loader.close());


interface Tally {
  generated: number;
  refused: number;
  slowest: number;
  failures: string[];
}

async function run(source: string, file: string, place: (m: Mutation, dir: string) => string): Promise<Tally> {
  const tally: Tally = { generated: 0, refused: 0, slowest: 0, failures: [] };
  let i = 0;
  for (const m of mutations(SEED, file, COUNT)) {
    const dir = path.join(tempDir(), `mutation-${path.basename(source)}-${i++}`);
    fs.mkdirSync(dir);
    const model = place(m, dir);
    const o = await loader.load(model, TIME_LIMIT_MS);
    tally.slowest = Math.max(tally.slowest, o.ms);
    if (o.kind === "generated") tally.generated++;
    if (o.kind === "refused") tally.refused++;
    const why = loadProblem(o, model, TIME_LIMIT_MS);
    if (why) tally.failures.push(`seed ${m.seed} #${m.index} (${m.description}): ${why}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return tally;
}

/** The HF folder in `dir`, its files linked to the originals except the mutated one. */
function hfFolder(original: string, name: string, m: Mutation, dir: string): string {
  for (const f of fs.readdirSync(original)) {
    if (f === name) fs.writeFileSync(path.join(dir, f), m.bytes);
    else fs.symlinkSync(path.join(original, f), path.join(dir, f));
  }
  return dir;
}

function report(kind: string, t: Tally, log: (s: string) => void): void {
  const head = `${kind}: ${COUNT} mutations (seed ${SEED}): ${t.generated} loaded and ran, ${t.refused} refused cleanly, slowest ${t.slowest.toFixed(0)} ms`;
  log(head);
  assert.equal(t.failures.length, 0, `${head}\n${t.failures.join("\n")}`);
  assert.equal(t.generated + t.refused, COUNT);
}

test("GGUF: seeded mutations load and run, or fail with one line naming the file", async (t) => {
  const file = await gguf();
  report("gguf", await run(file, file, (m, dir) => {
    const p = path.join(dir, "model.gguf");
    fs.writeFileSync(p, m.bytes);
    return p;
  }), (s) => t.diagnostic(s));
});

for (const name of ["model.safetensors", "config.json", "tokenizer.json"]) {
  test(`${name}: seeded mutations load and run, or fail with one line naming the file`, async (t) => {
    const dir = await hf();
    report(name, await run(dir, path.join(dir, name), (m, into) => hfFolder(dir, name, m, into)), (s) => t.diagnostic(s));
  });
}
