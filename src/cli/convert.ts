// radixlm convert: write a model (HF folder or GGUF) as a GGUF of a chosen weight type.
import type { Command } from "commander";
import { convertToGGUF } from "../model/convert.js";
import { isWeightType, WEIGHT_TYPES } from "../formats/dtype.js";
import { UsageError } from "./errors.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";
import { Progress } from "../util/progress.js";

interface Options {
  model: string;
  out: string;
  dtype: string;
  name?: string;
}

async function run(o: Options): Promise<void> {
  if (!isWeightType(o.dtype)) throw new UsageError(`unknown --dtype "${o.dtype}" (${WEIGHT_TYPES.join(", ")})`);
  const t0 = performance.now();
  const src = await modelPath(o.model);
  const bar = new Progress(`converting to ${o.dtype}`, 0, { unit: "bytes", rate: true });
  bar.update(0, "reading the model");
  let r;
  try {
    r = await convertToGGUF({
      src, out: o.out, dtype: o.dtype, name: o.name,
      onTensor: (p) => {
        bar.setTotal(p.totalBytes);
        bar.update(p.bytes, `${p.tensors}/${p.totalTensors} tensors`);
      },
    });
  } finally {
    bar.stop();
  }
  const c = r.config;
  process.stdout.write(
    `wrote ${r.path}: ${c.arch} gguf ${o.dtype}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}, ` +
    `${(r.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

export function register(program: Command): void {
  program
    .command("convert")
    .description("convert a model (HF folder or GGUF) into a GGUF file of the given weight type")
    .requiredOption("--model <path>", `${MODEL_HELP}: the model to read`)
    .requiredOption("--out <file>", "GGUF file to write")
    .option("--dtype <type>", `weight type: ${WEIGHT_TYPES.join(", ")}`, "q8_0")
    .option("--name <text>", "general.name in the output (default: the source's name)")
    .action(run);
}
