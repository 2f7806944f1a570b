// radixlm bench offline: a workload through the in-process engine, cache on vs off.
import type { Command } from "commander";
import { loadModel } from "../model/load.js";
import { benchOffline, formatOffline } from "../bench/offline.js";
import { DEFAULT_WORKLOAD, makeWorkload, WORKLOAD_NAMES, type WorkloadName, type WorkloadOptions } from "../bench/workloads.js";
import { parseIntArg, UsageError } from "./errors.js";
import { engineFlags, engineOptionsFrom, type EngineFlagValues } from "./engine-flags.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";

/** The workload flags as commander gives them (shared with bench serve). */
export type WorkloadFlagValues = Partial<Record<keyof WorkloadOptions, string>>;

interface Options extends EngineFlagValues, WorkloadFlagValues {
  model: string;
  workload: string;
  json?: boolean;
}

export function workloadOptions(o: WorkloadFlagValues): WorkloadOptions {
  const d = DEFAULT_WORKLOAD;
  const n = (name: string, v: string | undefined, def: number, min = 1): number => (v === undefined ? def : parseIntArg(name, v, min));
  return {
    groups: n("--groups", o.groups, d.groups),
    promptsPerGroup: n("--prompts-per-group", o.promptsPerGroup, d.promptsPerGroup),
    systemPromptLen: n("--system-prompt-len", o.systemPromptLen, d.systemPromptLen, 0),
    questionLen: n("--question-len", o.questionLen, d.questionLen),
    outputLen: n("--output-len", o.outputLen, d.outputLen),
    conversations: n("--conversations", o.conversations, d.conversations),
    turns: n("--turns", o.turns, d.turns),
    seed: n("--seed", o.seed, d.seed, 0),
  };
}

async function run(o: Options): Promise<void> {
  if (!WORKLOAD_NAMES.includes(o.workload as WorkloadName)) throw new UsageError(`unknown workload "${o.workload}" (${WORKLOAD_NAMES.join(", ")})`);
  const wopts = workloadOptions(o);
  const model = await loadModel(await modelPath(o.model));
  try {
    // Ordinary tokens only: skip ids the tokenizer marks special.
    let hi = model.config.vocabSize;
    while (hi > 1 && model.tokenizer.isSpecial(hi - 1)) hi--;
    const w = makeWorkload(o.workload as WorkloadName, wopts, Math.min(10, hi - 1), hi);
    const report = await benchOffline(model, w, await engineOptionsFrom(o, model));
    process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatOffline(report) + "\n");
  } finally {
    model.close();
  }
}

/** The workload flags shared by bench offline and bench serve. */
export function workloadFlags(c: Command, seedHelp: string): Command {
  return c
    .option("--workload <name>", WORKLOAD_NAMES.join("|"), "generated-shared-prefix")
    .option("--groups <n>", "prefix groups (shared-prefix, few-shot, random)")
    .option("--prompts-per-group <n>", "prompts per group")
    .option("--system-prompt-len <n>", "shared prefix tokens")
    .option("--question-len <n>", "tokens of each question (or new turn)")
    .option("--output-len <n>", "tokens generated per request")
    .option("--conversations <n>", "conversations (multi-turn, agent-loop)")
    .option("--turns <n>", "turns per conversation (multi-turn, agent-loop)")
    .option("--seed <n>", seedHelp);
}

export function register(bench: Command): void {
  const c = bench
    .command("offline")
    .description("run a workload through the engine in-process, with and without the radix cache")
    .requiredOption("--model <path>", MODEL_HELP);
  workloadFlags(c, "workload seed")
    .option("--json", "print one JSON object");
  engineFlags(c);
  c.action(run);
}
