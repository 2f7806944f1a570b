// radixlm tokenize: the ids of a text as a JSON array (no BOS, special tokens not parsed).
import fs from "node:fs";
import type { Command } from "commander";
import { loadTokenizerFile } from "../tokenizer/load.js";
import { UsageError } from "./errors.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";

async function run(o: { model: string; text?: string; file?: string }): Promise<void> {
  if ((o.text === undefined) === (o.file === undefined)) throw new UsageError("give exactly one of --text and --file");
  let text = o.text;
  if (o.file !== undefined) {
    try {
      text = fs.readFileSync(o.file).toString("utf8");
    } catch {
      throw new UsageError(`${o.file}: cannot read the file`);
    }
  }
  const tok = await loadTokenizerFile(await modelPath(o.model));
  process.stdout.write(JSON.stringify(tok.encode(text ?? "", { addSpecial: false, parseSpecial: false })) + "\n");
}

export function register(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids of a text as a JSON array")
    .requiredOption("--model <path>", `${MODEL_HELP}; a vocab-only GGUF or a tokenizer.json too`)
    .option("--text <text>", "the text")
    .option("--file <path>", "a file whose exact bytes (UTF-8) are the text")
    .action(run);
}
