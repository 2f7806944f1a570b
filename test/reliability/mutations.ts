// Seeded model-file mutations (test/helpers/mutate-model.ts) loaded in the isolated loader
// (test/helpers/isolated-load.ts), K per format: GGUF, model.safetensors, config.json,
// tokenizer.json. A file either loads and a short generation gives finite logits, or is refused
// with a FormatError whose one line names the file; a crash, a hang, non-finite logits, a
// failure after load or an internal error passed off as the file's fault is a failure. The
// classification is the one of test/model/mutations.test.ts.
import fs from "node:fs";
import path from "node:path";
import { tempDir, testModel } from "../helpers/models.js";
import { IsolatedLoader, loadProblem } from "../helpers/isolated-load.js";
import { mutations, type Mutation } from "../helpers/mutate-model.js";
import { Tally, type PartResult } from "./common.js";

export interface MutationOptions {
  readonly seed: number;
  /** Mutations per format. */
  readonly count: number;
  readonly timeoutMs?: number;
}

const sizes = { vocabSize: 320, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 32 };

function hfFolder(original: string, name: string, m: Mutation, dir: string): string {
  for (const f of fs.readdirSync(original)) {
    if (f === name) fs.writeFileSync(path.join(dir, f), m.bytes);
    else fs.symlinkSync(path.join(original, f), path.join(dir, f));
  }
  return dir;
}

export async function modelMutations(opts: MutationOptions): Promise<PartResult> {
  const tally = new Tally();
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const loader = new IsolatedLoader({ heapMb: 256 });
  let slowest = 0;
  try {
    const gguf = await testModel("mutations-llama-q8_0", { arch: "llama", format: "gguf", dtype: "q8_0", sizes, seed: 5 });
    const hf = await testModel("mutations-qwen2-hf-f16", { arch: "qwen2", format: "hf", dtype: "f16", sizes, seed: 5 });
    const formats: [string, string, (m: Mutation, dir: string) => string][] = [
      ["gguf", gguf, (m, dir) => {
        const p = path.join(dir, "model.gguf");
        fs.writeFileSync(p, m.bytes);
        return p;
      }],
      ...["model.safetensors", "config.json", "tokenizer.json"].map((name): [string, string, (m: Mutation, dir: string) => string] =>
        [name, path.join(hf, name), (m, dir) => hfFolder(hf, name, m, dir)]),
    ];
    let n = 0;
    for (const [name, file, place] of formats) {
      for (const m of mutations(opts.seed, file, opts.count)) {
        const dir = path.join(tempDir(), `reliability-mutation-${n++}`);
        fs.mkdirSync(dir);
        try {
          const model = place(m, dir);
          const o = await loader.load(model, timeoutMs);
          slowest = Math.max(slowest, o.ms);
          tally.count(`${name} ${o.kind}`);
          const why = loadProblem(o, model, timeoutMs);
          if (why) tally.fail(`${name} seed ${m.seed} #${m.index} (${m.description}): ${why}`);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await loader.close();
  }
  return { part: "mutations", tally, notes: [`slowest load ${slowest.toFixed(0)} ms`] };
}
