// The radixlm command line: one file per command, registered here.
import { VERSION } from "../util/version.js";
import { Command, CommanderError } from "commander";
import { reportAndExit } from "./errors.js";
import { setQuiet } from "../util/progress.js";
import * as generate from "./generate.js";
import * as tokenize from "./tokenize.js";
import * as info from "./info.js";
import * as makeTestModel from "./make-test-model.js";
import * as benchModel from "./bench-model.js";
import * as benchOffline from "./bench-offline.js";
import * as benchServe from "./bench-serve.js";
import * as benchCompare from "./bench-compare.js";
import * as serve from "./serve.js";
import * as route from "./route.js";
import * as convert from "./convert.js";
import * as perplexity from "./perplexity.js";

/** Help shows `(default: 30000)`, not `(default: "30000")`: defaults given as numeric strings (and "inf") print bare. */
function showNumericDefaults(c: Command): void {
  for (const o of c.options) {
    const v: unknown = o.defaultValue;
    if (o.defaultValueDescription === undefined && typeof v === "string" && /^(-?\d+(\.\d+)?|inf)$/.test(v)) o.defaultValueDescription = v;
  }
  for (const sub of c.commands) showNumericDefaults(sub);
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command("radixlm")
    .description("LLM serving engine for Node.js built around RadixAttention")
    .version(VERSION)
    .option("-q, --quiet", "no progress bars (they are drawn on a terminal only)")
    .exitOverride()
    // Commander's message and its "(Did you mean ...?)" line, as one line.
    .configureOutput({ outputError: (str, write) => write(`radixlm: ${str.trim().split("\n").join(" ")}\n`) });
  program.hook("preAction", () => setQuiet(program.opts<{ quiet?: boolean }>().quiet === true));
  for (const c of [generate, tokenize, info, makeTestModel, convert, perplexity, serve, route]) c.register(program);
  const bench = program.command("bench").description("measure speed: `bench model` (prefill and decode tokens/s), `bench offline` (a workload, cache on vs off), `bench serve` (a workload against a server), `bench compare`");
  benchModel.register(bench);
  benchOffline.register(bench);
  benchServe.register(bench);
  benchCompare.register(bench);
  showNumericDefaults(program);
  for (const c of program.commands) c.exitOverride();
  for (const c of bench.commands) c.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) process.exit(0);
      process.exit(2);
    }
    reportAndExit(err);
  }
}
