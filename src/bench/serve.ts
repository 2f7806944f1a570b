// `radixlm bench serve`: a workload sent to a running server over HTTP. Chains (a prompt, a
// conversation, an agent run) start at the request rate (Poisson arrivals, or all at once);
// a chain's steps go one after the other, each re-sending the history with the server's
// previous answer; at most `maxConcurrency` requests are in flight. Every request has a
// timeout and the whole run a deadline, after which nothing more is sent. A chat step (the
// edit workload) is one user message, answered greedily to the model's end of turn.
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { mulberry32 } from "../util/random.js";
import { Progress, type ProgressStream } from "../util/progress.js";
import type { PromptText } from "./prompt-text.js";
import { sendRequest, type ChatTurn, type ClientOptions, type PromptInput, type RequestResult } from "./serve-client.js";
import { buildReport, type RequestRecord, type ServeReport, type ServeRunInfo } from "./serve-report.js";
import { cacheDelta, scrapeMetrics, specDelta } from "./server-metrics.js";
import { IdealHitRate, type ChatStep, type Workload } from "./workloads.js";
import { sleep } from "../util/sleep.js";

export type PromptFormat = "ids" | "text";

export interface ServeBenchOptions {
  readonly client: ClientOptions;
  readonly workload: Workload;
  /** How completions and native prompts are sent; chat always sends text. */
  readonly promptFormat: PromptFormat;
  /** Needed for text prompts and for counting what the server does not count. */
  readonly tokenizer: Tokenizer | null;
  readonly text: PromptText | null;
  /** Chain starts per second; Infinity starts them all at once. */
  readonly requestRate: number;
  readonly maxConcurrency: number | null;
  /** Seeds the arrival times. */
  readonly seed: number;
  readonly timeoutMs: number;
  readonly maxDurationMs: number;
  readonly info: Omit<ServeRunInfo, "started_at" | "prompt_format">;
  readonly progress?: ProgressStream;
}

class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}


/** Start offsets (ms) of each chain: exponential gaps at `rate` per second, the first at 0. */
export function arrivalTimes(n: number, rate: number, seed: number): number[] {
  const rnd = mulberry32(seed ^ 0xa771);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    if (Number.isFinite(rate)) t += (-Math.log(1 - rnd()) / rate) * 1000;
  }
  return out;
}

interface History {
  ids: number[];
  text: string;
  messages: ChatTurn[];
}

/**
 * A chat step as the API takes it: messages for chat; for completions and /generate, the
 * prompt the chat template rendered, as ids, or as text without the BOS the server will add
 * to a text prompt itself.
 */
function chatInput(c: ChatStep, as: "chat" | "text" | "ids", ids: readonly number[], tok: Tokenizer | null): PromptInput {
  if (as === "chat") return { kind: "chat", messages: [{ role: "user", content: c.user }] };
  if (as === "ids") return { kind: "ids", ids };
  const bos = tok?.bosId !== undefined && tok.addBos ? tok.idToToken(tok.bosId) : undefined;
  return { kind: "text", text: bos !== undefined && c.prompt.startsWith(bos) ? c.prompt.slice(bos.length) : c.prompt };
}

export async function benchServe(o: ServeBenchOptions): Promise<ServeReport> {
  const chat = o.client.api === "openai-chat";
  const format: PromptFormat = chat ? "text" : o.promptFormat;
  // Chat steps carry their own text; the others' text is made from their ids.
  const madeText = o.workload.chains.some((c) => c.some((step) => !step.chat));
  if ((chat || format === "text") && madeText && !o.text) throw new Error("text prompts need a tokenizer");
  const total = o.workload.chains.reduce((a, c) => a + c.length, 0);
  const info: ServeRunInfo = { ...o.info, prompt_format: chat ? "chat" : format, started_at: new Date().toISOString() };
  const before = await scrapeMetrics(o.client.root, o.client.apiKey);
  const ideal = new IdealHitRate();
  const records: RequestRecord[] = [];
  const sem = new Semaphore(o.maxConcurrency ?? Number.MAX_SAFE_INTEGER);
  const stop = new AbortController();
  const deadline = setTimeout(() => stop.abort(new Error("the run reached --max-duration")), o.maxDurationMs);
  const bar = new Progress("bench serve", total, { unit: "requests", rate: true, ...(o.progress ? { out: o.progress } : {}) });
  let failed = 0;
  const starts = arrivalTimes(o.workload.chains.length, o.requestRate, o.seed);
  const countText = (s: string): number => o.tokenizer?.encode(s).length ?? 0;
  const t0 = performance.now();
  let lastEnd = t0;

  const runChain = async (chainIndex: number): Promise<void> => {
    const h: History = { ids: [], text: "", messages: [] };
    for (const step of o.workload.chains[chainIndex]!) {
      if (stop.signal.aborted) return;
      // A chat step is a whole conversation of one message: it opens its chain.
      const promptIds = step.chat ? [...step.tokens] : [...h.ids, ...step.tokens];
      let input: PromptInput;
      let promptText = "";
      let counted: number;
      if (step.chat) {
        input = chatInput(step.chat, chat ? "chat" : format === "text" ? "text" : "ids", promptIds, o.tokenizer);
        promptText = input.kind === "text" ? input.text : "";
        counted = promptIds.length;
      } else if (chat) {
        const content = o.text!.first(step.tokens);
        input = { kind: "chat", messages: [...h.messages, { role: "user", content }] };
        counted = promptIds.length;
      } else if (format === "text") {
        promptText = h.text === "" ? o.text!.first(step.tokens) : h.text + o.text!.continuation(step.tokens);
        input = { kind: "text", text: promptText };
        counted = countText(promptText);
      } else {
        input = { kind: "ids", ids: promptIds };
        counted = promptIds.length;
      }
      ideal.query(promptIds);
      await sem.acquire();
      let res: RequestResult;
      try {
        if (stop.signal.aborted) return;
        const output = { maxTokens: step.outputLen, untilEos: step.chat !== undefined };
        res = await sendRequest(o.client, input, output, AbortSignal.any([stop.signal, AbortSignal.timeout(o.timeoutMs)]));
      } finally {
        sem.release();
      }
      lastEnd = Math.max(lastEnd, performance.now());
      const outputTokens = res.outputTokens ?? (o.tokenizer ? countText(res.outputText) : res.chunks);
      records.push({
        ok: res.ok, error: res.error, ttftMs: res.ttftMs, e2eMs: res.e2eMs, itlMs: res.itlMs,
        promptTokens: res.promptTokens ?? counted, outputTokens, cachedTokens: res.cachedTokens, speculative: res.speculative,
        ...(step.chat ? { matchedExpected: res.outputText.trim() === step.chat.expected.trim() } : {}),
      });
      if (!res.ok) failed++;
      bar.increment(1, failed > 0 ? `${failed} failed` : "");
      // A failed step ends its chain: the next one would build on an answer that never came.
      if (!res.ok) return;
      const outIds = res.outputIds ? [...res.outputIds] : (o.tokenizer?.encode(res.outputText) ?? []);
      ideal.add([...promptIds, ...outIds]);
      h.ids = [...promptIds, ...outIds];
      h.text = promptText + res.outputText;
      if (input.kind === "chat") h.messages = [...input.messages, { role: "assistant", content: res.outputText }];
    }
  };

  try {
    // One wait at a time until each chain's arrival (one abort listener, not one per chain).
    const running: Promise<void>[] = [];
    for (let i = 0; i < o.workload.chains.length && !stop.signal.aborted; i++) {
      await sleep(starts[i]! - (performance.now() - t0), stop.signal);
      if (!stop.signal.aborted) running.push(runChain(i));
    }
    await Promise.all(running);
  } finally {
    clearTimeout(deadline);
    bar.stop();
  }
  const after = await scrapeMetrics(o.client.root, o.client.apiKey);
  return buildReport({
    info, records, total,
    durationS: (lastEnd - t0) / 1000,
    metrics: before && after ? cacheDelta(before, after) : null,
    spec: before && after ? specDelta(before, after) : null,
    idealHitRate: ideal.rate,
  });
}
