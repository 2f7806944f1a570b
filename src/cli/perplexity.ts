// radixlm perplexity: a model's perplexity on a text file, through the real forward pass.
import fs from "node:fs";
import type { Command } from "commander";
import { loadModel } from "../model/load.js";
import { perplexity } from "../model/perplexity.js";
import { defaultThreads } from "../kernels/native.js";
import { isBackendName, selectBackend } from "../kernels/select.js";
import { parseIntArg, UsageError } from "./errors.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";
import { Progress } from "../util/progress.js";

interface Options {
  model?: string;
  file: string;
  window: string;
  backend: string;
  threads?: string;
  json?: boolean;
}

async function run(o: Options): Promise<void> {
  if (!isBackendName(o.backend)) throw new UsageError(`--backend must be auto, native or reference, got "${o.backend}"`);
  if (!fs.existsSync(o.file)) throw new UsageError(`${o.file}: no such file`);
  const window = parseIntArg("--window", o.window, 2);
  const threads = o.threads === undefined ? defaultThreads() : parseIntArg("--threads", o.threads, 1);
  const model = await loadModel(await modelPath(o.model));
  try {
    if (window > model.config.maxPositionEmbeddings) {
      throw new UsageError(`--window ${window} exceeds the model's context length ${model.config.maxPositionEmbeddings}`);
    }
    // Special tokens in the text (ChatML markers, end of text) are read as the tokens they name.
    const ids = model.tokenizer.encode(fs.readFileSync(o.file, "utf8"), { addSpecial: false, parseSpecial: true });
    if (ids.length < 2) throw new UsageError(`${o.file}: the text needs at least 2 tokens`);
    const bar = new Progress("perplexity", Math.ceil((ids.length - 1) / window), { unit: "windows" });
    let r;
    try {
      r = await perplexity(model, selectBackend(o.backend, threads), ids, window, undefined,
        (soFar) => bar.update(soFar.windows, `running perplexity ${soFar.perplexity.toFixed(3)}`));
    } finally {
      bar.stop();
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ perplexity: r.perplexity, nll: r.nll, scored_tokens: r.scoredTokens, windows: r.windows, window }) + "\n");
    } else {
      process.stdout.write(`perplexity ${r.perplexity.toFixed(4)} (${r.scoredTokens} tokens scored in ${r.windows} windows of ${window})\n`);
    }
  } finally {
    model.close();
  }
}

export function register(program: Command): void {
  program
    .command("perplexity")
    .description("perplexity of a model on a text file (windows of --window tokens, each from position 0)")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`)
    .requiredOption("--file <path>", "UTF-8 text; special tokens written in it are parsed as such")
    .option("--window <n>", "tokens per window", "256")
    .option("--backend <name>", "auto (native when the addon loads), native or reference", "auto")
    .option("--threads <n>", "compute threads (default: the number of cores)")
    .option("--json", "print the result as one JSON line")
    .action(run);
}
