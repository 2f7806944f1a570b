// radixlm bench offline: a workload through the in-process engine, cache on vs off (with
// --cache-dir, the cache run has a disk tier there), or with --compare speculative,
// speculative decoding on vs off.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadModel, type LoadedModel } from "../model/load.js";
import type { EngineOptions } from "../engine/options.js";
import { ChatRenderer } from "../engine/chat.js";
import { benchOffline, formatOffline, type OpenDiskStore } from "../bench/offline.js";
import { benchSpeculative, formatSpeculative } from "../bench/offline-speculative.js";
import { makeEditWorkload, type EditWorkloadOptions } from "../bench/edit-workload.js";
import { DEFAULT_WORKLOAD, longestChain, makeWorkload, WORKLOAD_NAMES, type TokenWorkloadName, type Workload, type WorkloadName, type WorkloadOptions } from "../bench/workloads.js";
import { cacheDirFlags, openCacheDir, type CacheDirFlagValues } from "./cache-dir-flags.js";
import { parseIntArg, UsageError } from "./errors.js";
import { engineFlags, engineOptionsFrom, type EngineFlagValues } from "./engine-flags.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";

/** The workload flags as commander gives them (shared with bench serve). */
export type WorkloadFlagValues = Partial<Record<keyof WorkloadOptions | "editTextLen", string>>;

interface Options extends EngineFlagValues, WorkloadFlagValues, CacheDirFlagValues {
  model?: string;
  workload: string;
  compare: string;
  rounds: string;
  maxConcurrency?: string;
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

const LENGTHS = ["systemPromptLen", "questionLen", "outputLen"] as const;
const FLAG = { systemPromptLen: "--system-prompt-len", questionLen: "--question-len", outputLen: "--output-len" } as const;

/**
 * The workload's lengths with the ones the flags left to their defaults cut down so that its
 * longest chain fits `context` tokens (the defaults' 1,120-token requests do not fit a small
 * model such as the bundled one, 512): the shared system prompt first, then questions and
 * outputs together, in proportion. Lengths given as flags are kept; if the workload cannot fit
 * even so, a UsageError says which figures are too large.
 */
export function fitLengths(name: TokenWorkloadName, o: WorkloadOptions, given: WorkloadFlagValues, context: number): WorkloadOptions {
  const longest = (x: WorkloadOptions): number => longestChain(makeWorkload(name, x, 0, 2));
  let fitted = o;
  // Every chain holds the system prompt once, so each token cut from it is one token less.
  if (given.systemPromptLen === undefined && longest(fitted) > context) {
    fitted = { ...fitted, systemPromptLen: Math.max(0, fitted.systemPromptLen - (longest(fitted) - context)) };
  }
  const rest = (["questionLen", "outputLen"] as const).filter((k) => given[k] === undefined);
  if (rest.length > 0 && longest(fitted) > context) {
    const fixed = longest({ ...fitted, ...Object.fromEntries(rest.map((k) => [k, 0])) });
    const f = (context - fixed) / (longest(fitted) - fixed);
    if (f > 0) fitted = { ...fitted, ...Object.fromEntries(rest.map((k) => [k, Math.max(1, Math.floor(fitted[k] * f))])) };
  }
  const need = longest(fitted);
  if (need > context) {
    const figures = LENGTHS.map((k) => `${FLAG[k]} ${fitted[k]}`).join(", ");
    const turns = name === "multi-turn" || name === "agent-loop" ? `, --turns ${fitted.turns}` : "";
    throw new UsageError(`the workload's longest chain needs ${need} tokens (${figures}${turns}), more than the model's context of ${context}`);
  }
  return fitted;
}

/**
 * The cache run's store, in a fresh folder under --cache-dir: the run starts from an empty
 * store whatever the folder holds (a server's store, an earlier bench's), which it neither
 * reads nor changes; the folder goes when the run is over (`remove`).
 */
function benchStore(o: Options, localPath: string, model: LoadedModel, engineOpts: Omit<EngineOptions, "model">): { open: OpenDiskStore; remove(): void } | null {
  if (o.cacheDir === undefined) return null;
  const root = o.cacheDir;
  let dir: string | null = null;
  return {
    open: async (onEvict) => {
      fs.mkdirSync(root, { recursive: true });
      dir = fs.mkdtempSync(path.join(root, "bench-offline-"));
      const c = await openCacheDir({ ...o, cacheDir: dir }, localPath, model, engineOpts, onEvict);
      if (!c) throw new Error("the cache dir did not open");
      return c;
    },
    remove: () => {
      if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The edit workload's options from the shared flags: groups x prompts-per-group requests. */
export function editOptions(o: WorkloadFlagValues, w: WorkloadOptions): EditWorkloadOptions {
  return {
    requests: w.groups * w.promptsPerGroup,
    seed: w.seed,
    textTokens: o.editTextLen === undefined ? null : parseIntArg("--edit-text-len", o.editTextLen, 1),
  };
}

/** The workload the flags ask for, made to fit the model's context. */
function offlineWorkload(name: WorkloadName, o: Options, model: LoadedModel): Workload {
  const asked = workloadOptions(o);
  const context = model.config.maxPositionEmbeddings;
  if (name === "edit") return makeEditWorkload(editOptions(o, asked), model.tokenizer, userRenderer(new ChatRenderer(model)), context);
  const wopts = fitLengths(name, asked, o, context);
  if (LENGTHS.some((k) => wopts[k] !== asked[k])) {
    const figures = LENGTHS.map((k) => `${FLAG[k]} ${wopts[k]}`).join(", ");
    process.stderr.write(`radixlm: default lengths scaled to fit the model's context of ${context} tokens: ${figures}\n`);
  }
  // Ordinary tokens only: skip ids the tokenizer marks special.
  let hi = model.config.vocabSize;
  while (hi > 1 && model.tokenizer.isSpecial(hi - 1)) hi--;
  return makeWorkload(name, wopts, Math.min(10, hi - 1), hi);
}

/** One user message through the engine's own renderer: the prompt a `messages` input gets. */
const userRenderer = (chat: ChatRenderer) => (user: string): string => chat.render([{ role: "user", content: user }]);

async function run(o: Options): Promise<void> {
  if (!WORKLOAD_NAMES.includes(o.workload as WorkloadName)) throw new UsageError(`unknown workload "${o.workload}" (${WORKLOAD_NAMES.join(", ")})`);
  if (o.compare !== "cache" && o.compare !== "speculative") throw new UsageError(`--compare must be cache or speculative, got "${o.compare}"`);
  if (o.compare === "speculative" && o.cacheDir !== undefined) throw new UsageError("--cache-dir goes with --compare cache (the disk tier sits behind the cache run)");
  const maxConcurrency = o.maxConcurrency === undefined ? null : parseIntArg("--max-concurrency", o.maxConcurrency, 1);
  const localPath = await modelPath(o.model);
  const model = await loadModel(localPath);
  let store: ReturnType<typeof benchStore> = null;
  try {
    const w = offlineWorkload(o.workload as WorkloadName, o, model);
    const engineOpts = await engineOptionsFrom(o, model);
    if (o.compare === "speculative") {
      const report = await benchSpeculative(model, w, engineOpts, parseIntArg("--rounds", o.rounds, 1), maxConcurrency);
      process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatSpeculative(report) + "\n");
      return;
    }
    store = benchStore(o, localPath, model, engineOpts);
    const report = await benchOffline(model, w, engineOpts, store?.open ?? null, maxConcurrency);
    process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatOffline(report) + "\n");
  } finally {
    store?.remove();
    model.close();
  }
}

/** The workload flags shared by bench offline and bench serve. */
export function workloadFlags(c: Command, seedHelp: string): Command {
  return c
    .option("--workload <name>", WORKLOAD_NAMES.join("|"), "generated-shared-prefix")
    .option("--groups <n>", "prefix groups (shared-prefix, few-shot, random; edit: groups x prompts per group requests)")
    .option("--prompts-per-group <n>", "prompts per group")
    .option("--system-prompt-len <n>", "shared prefix tokens")
    .option("--question-len <n>", "tokens of each question (or new turn)")
    .option("--output-len <n>", "tokens generated per request")
    .option("--conversations <n>", "conversations (multi-turn, agent-loop)")
    .option("--turns <n>", "turns per conversation (multi-turn, agent-loop)")
    .option("--edit-text-len <n>", "edit: texts of at least this many tokens, stories joined (default: one story or two, under 1,000 characters, as the demo model was trained on)")
    .option("--seed <n>", seedHelp);
}

export function register(bench: Command): void {
  const c = bench
    .command("offline")
    .description("run a workload through the engine in-process, with and without the radix cache (with --cache-dir, the cache run has a disk tier behind it, in an empty folder made there for the run and removed after), or with --compare speculative, with and without speculative decoding")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`);
  workloadFlags(c, "workload seed")
    .option("--compare <what>", "cache: the radix cache on and off; speculative: speculative decoding ngram and off (both with the cache)", "cache")
    .option("--rounds <n>", "--compare speculative: runs of each side, alternating; each side reports its fastest", "2")
    .option("--max-concurrency <n>", "chains (requests, or conversations) in flight at once (default: all of them)")
    .option("--json", "print one JSON object");
  engineFlags(cacheDirFlags(c));
  c.action(run);
}
