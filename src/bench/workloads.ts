// Benchmark workloads as token ids, deterministic by seed. A workload is a set of chains:
// each chain is a conversation (or agent run) whose steps run in order, every step sending
// the whole history so far plus its new tokens; chains run concurrently.
import { mulberry32 } from "../util/random.js";

export type WorkloadName = "generated-shared-prefix" | "multi-turn" | "few-shot" | "agent-loop" | "random" | "edit";
export const WORKLOAD_NAMES: readonly WorkloadName[] = ["generated-shared-prefix", "multi-turn", "few-shot", "agent-loop", "random", "edit"];
/** The workloads of random token ids, made here; `edit` is text through a chat template (edit-workload.ts). */
export type TokenWorkloadName = Exclude<WorkloadName, "edit">;

export interface WorkloadOptions {
  readonly groups: number;
  readonly promptsPerGroup: number;
  readonly systemPromptLen: number;
  readonly questionLen: number;
  readonly outputLen: number;
  /** multi-turn: conversations and turns; agent-loop: runs and steps. */
  readonly conversations: number;
  readonly turns: number;
  readonly seed: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  groups: 8, promptsPerGroup: 8, systemPromptLen: 1024, questionLen: 64, outputLen: 32,
  conversations: 8, turns: 4, seed: 0,
};

export interface WorkloadStep {
  /** Tokens appended to the chain's history (after the previous step's output). */
  readonly tokens: readonly number[];
  /** Tokens generated: exactly this many (ignoring EOS), or for a chat step at most this many, to its EOS. */
  readonly outputLen: number;
  /** A chat request (the edit workload): `tokens` are its message rendered by the model's chat template. */
  readonly chat?: ChatStep;
}

/** One user message, answered greedily up to the model's end of turn. */
export interface ChatStep {
  readonly user: string;
  /** The conversation rendered by the chat template, with the assistant's header: the text `tokens` encode. */
  readonly prompt: string;
  /** The reply asked for (an edit's rewritten text). */
  readonly expected: string;
}

export interface Workload {
  readonly name: WorkloadName;
  readonly chains: readonly (readonly WorkloadStep[])[];
}

/** Token ids drawn from [lo, hi): the caller keeps special tokens out of the range. */
export function makeWorkload(name: TokenWorkloadName, o: WorkloadOptions, lo: number, hi: number): Workload {
  return buildWorkload(name, o, (r) => lo + Math.floor(r * (hi - lo)));
}

/**
 * Token ids drawn from `alphabet` (for prompts sent as text: ids that decode to whole words,
 * so that the text tokenizes back to exactly these ids).
 */
export function makeWorkloadFrom(name: TokenWorkloadName, o: WorkloadOptions, alphabet: readonly number[]): Workload {
  if (alphabet.length === 0) throw new Error("the workload alphabet is empty");
  return buildWorkload(name, o, (r) => alphabet[Math.floor(r * alphabet.length)]!);
}

function buildWorkload(name: TokenWorkloadName, o: WorkloadOptions, draw: (r: number) => number): Workload {
  const rnd = mulberry32(o.seed ^ 0x5eed);
  const toks = (n: number): number[] => Array.from({ length: n }, () => draw(rnd()));
  const chains: WorkloadStep[][] = [];
  switch (name) {
    case "generated-shared-prefix":
    case "few-shot": {
      // few-shot: one set of k examples shared by every question.
      const groups = name === "few-shot" ? 1 : o.groups;
      const per = name === "few-shot" ? o.groups * o.promptsPerGroup : o.promptsPerGroup;
      for (let g = 0; g < groups; g++) {
        const system = toks(o.systemPromptLen);
        for (let p = 0; p < per; p++) chains.push([{ tokens: [...system, ...toks(o.questionLen)], outputLen: o.outputLen }]);
      }
      shuffle(chains, rnd);
      break;
    }
    case "multi-turn":
      for (let c = 0; c < o.conversations; c++) {
        const steps: WorkloadStep[] = [{ tokens: [...toks(o.systemPromptLen), ...toks(o.questionLen)], outputLen: o.outputLen }];
        for (let t = 1; t < o.turns; t++) steps.push({ tokens: toks(o.questionLen), outputLen: o.outputLen });
        chains.push(steps);
      }
      break;
    case "agent-loop":
      for (let c = 0; c < o.conversations; c++) {
        // a task, then at each step a tool result appended to the growing scratchpad
        const steps: WorkloadStep[] = [{ tokens: toks(o.systemPromptLen + o.questionLen), outputLen: o.outputLen }];
        for (let t = 1; t < o.turns; t++) steps.push({ tokens: toks(o.questionLen * 2), outputLen: o.outputLen });
        chains.push(steps);
      }
      break;
    case "random":
      for (let i = 0; i < o.groups * o.promptsPerGroup; i++) chains.push([{ tokens: toks(o.systemPromptLen + o.questionLen), outputLen: o.outputLen }]);
      break;
  }
  return { name, chains };
}

/** Tokens the longest chain holds at its end: every step's new tokens and output. Its last request needs that much context. */
export function longestChain(w: Workload): number {
  let most = 0;
  for (const chain of w.chains) most = Math.max(most, chain.reduce((a, s) => a + s.tokens.length + s.outputLen, 0));
  return most;
}

function shuffle<T>(a: T[], rnd: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/**
 * The hit rate a cache of unbounded size would reach: each prompt's longest prefix among
 * everything sent or generated before it (at most all but its last token).
 */
export class IdealHitRate {
  private readonly root = new Map<number, unknown>();
  private hits = 0;
  private total = 0;

  query(prompt: readonly number[]): void {
    let node = this.root;
    let n = 0;
    for (let i = 0; i < prompt.length - 1; i++) {
      const next = node.get(prompt[i]!) as Map<number, unknown> | undefined;
      if (!next) break;
      node = next;
      n++;
    }
    this.hits += n;
    this.total += prompt.length;
    // Once prefilled, the prompt itself is there for everything after it.
    this.add(prompt);
  }

  add(seq: readonly number[]): void {
    let node = this.root;
    for (const t of seq) {
      let next = node.get(t) as Map<number, unknown> | undefined;
      if (!next) {
        next = new Map();
        node.set(t, next);
      }
      node = next;
    }
  }

  get rate(): number {
    return this.total > 0 ? this.hits / this.total : 0;
  }

  get hitTokens(): number {
    return this.hits;
  }

  get queriedTokens(): number {
    return this.total;
  }
}
