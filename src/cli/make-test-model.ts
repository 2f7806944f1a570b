// radixlm make-test-model: random-weight models in real formats, for tests and benchmarks.
import type { Command } from "commander";
import { makeTestModel, type ShapeOverrides } from "../model/test-model.js";
import { isPresetName, PRESET_NAMES } from "../model/presets.js";
import { isWeightType, WEIGHT_TYPES } from "../formats/dtype.js";
import { knownArchitectures } from "../model/registry.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";
import { Progress } from "../util/progress.js";

interface Options {
  out: string;
  arch?: string;
  preset: string;
  format: string;
  dtype: string;
  tokenizer?: string;
  seed: string;
  layers?: string;
  hidden?: string;
  heads?: string;
  kvHeads?: string;
  headDim?: string;
  ffn?: string;
  vocab?: string;
  ropeTheta?: string;
  tied?: boolean;
}

async function run(o: Options): Promise<void> {
  if (!isPresetName(o.preset)) throw new UsageError(`unknown preset "${o.preset}" (${PRESET_NAMES.join(", ")})`);
  if (o.arch !== undefined && !knownArchitectures().includes(o.arch)) throw new UsageError(`unknown architecture "${o.arch}" (${knownArchitectures().join(", ")})`);
  if (o.format !== "hf" && o.format !== "gguf") throw new UsageError(`--format must be hf or gguf, got "${o.format}"`);
  if (!isWeightType(o.dtype)) throw new UsageError(`unknown --dtype "${o.dtype}" (${WEIGHT_TYPES.join(", ")})`);
  const sizes: { -readonly [K in keyof ShapeOverrides]: ShapeOverrides[K] } = {};
  if (o.layers) sizes.numLayers = parseIntArg("--layers", o.layers, 1);
  if (o.hidden) sizes.hiddenSize = parseIntArg("--hidden", o.hidden, 1);
  if (o.heads) sizes.numHeads = parseIntArg("--heads", o.heads, 1);
  if (o.kvHeads) sizes.numKvHeads = parseIntArg("--kv-heads", o.kvHeads, 1);
  if (o.headDim) sizes.headDim = parseIntArg("--head-dim", o.headDim, 2);
  if (o.ffn) sizes.intermediateSize = parseIntArg("--ffn", o.ffn, 1);
  if (o.vocab) sizes.vocabSize = parseIntArg("--vocab", o.vocab, 1);
  if (o.ropeTheta) sizes.ropeTheta = parseFloatArg("--rope-theta", o.ropeTheta);
  if (o.tied !== undefined) sizes.tieWordEmbeddings = o.tied;
  const t0 = performance.now();
  const seed = parseIntArg("--seed", o.seed);
  const bar = new Progress(`writing ${o.preset} ${o.dtype}`, 0, { unit: "bytes", rate: true });
  let r;
  try {
    r = await makeTestModel({
      out: o.out, format: o.format, dtype: o.dtype, arch: o.arch, preset: o.preset, sizes, tokenizer: o.tokenizer, seed,
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
    `wrote ${r.path}: ${c.arch} ${o.format} ${o.dtype}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}, ` +
    `${(r.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

export function register(program: Command): void {
  program
    .command("make-test-model")
    .description("write a random-weight model in a real format and a real shape (deterministic by --seed)")
    .requiredOption("--out <path>", "output folder (hf) or file (gguf)")
    .option("--arch <name>", `family: ${knownArchitectures().join(", ")} (default: the preset's)`)
    .option("--preset <name>", `shape: ${PRESET_NAMES.join(", ")}`, "tiny")
    .option("--format <fmt>", "hf or gguf", "gguf")
    .option("--dtype <type>", `weight type: ${WEIGHT_TYPES.join(", ")} (quantized types need gguf)`, "f32")
    .option("--tokenizer <path>", "tokenizer.json, HF folder or vocab-only GGUF; the vocab size follows it")
    .option("--seed <n>", "random seed", "0")
    .option("--layers <n>", "override the number of layers")
    .option("--hidden <n>", "override the hidden size")
    .option("--heads <n>", "override the attention heads")
    .option("--kv-heads <n>", "override the KV heads")
    .option("--head-dim <n>", "override the head dim")
    .option("--ffn <n>", "override the feed-forward size")
    .option("--vocab <n>", "override the vocab size (without --tokenizer)")
    .option("--rope-theta <x>", "override the RoPE base")
    .option("--tied", "tie the output matrix to the embeddings")
    .option("--no-tied", "separate output matrix")
    .action(run);
}
