// radixlm bench serve: a workload against a running server (ours or another engine's) over
// its HTTP API; prints a table, and writes JSON and an SVG chart on request.
import fs from "node:fs";
import net from "node:net";
import type { Command } from "commander";
import { loadTokenizerFile } from "../tokenizer/load.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { API_KINDS, type ApiKind, type ClientOptions } from "../bench/serve-client.js";
import { benchServe, type PromptFormat } from "../bench/serve.js";
import { formatReport } from "../bench/serve-report.js";
import { serveBound, serverEngine, type ServerEngine } from "../bench/serve-bound.js";
import { formatBound, type WorkloadBound } from "../bench/bound.js";
import { MIN_ALPHABET, PromptText, wordAlphabet } from "../bench/prompt-text.js";
import { renderSvg } from "../bench/svg.js";
import { makeWorkload, makeWorkloadFrom, WORKLOAD_NAMES, type Workload, type WorkloadName } from "../bench/workloads.js";
import { makeEditWorkload, templateRenderer } from "../bench/edit-workload.js";
import { editOptions, fitLengths, workloadFlags, workloadOptions, type WorkloadFlagValues } from "./bench-offline.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";

interface Options extends WorkloadFlagValues {
  baseUrl: string;
  api: string;
  workload: string;
  requestRate: string;
  maxConcurrency?: string;
  tokenizer?: string;
  model?: string;
  promptFormat?: string;
  apiKey?: string;
  extraBody?: string;
  timeout: string;
  maxDuration: string;
  json?: string;
  svg?: string;
  label?: string;
  flushCache?: boolean;
  bound: boolean;
}

/** The server root: the URL without a trailing slash or /v1 (routes add their own). */
export function serverRoot(baseUrl: string): string {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new UsageError(`--base-url is not a URL: "${baseUrl}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UsageError(`--base-url must be http or https, got "${baseUrl}"`);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "").replace(/\/v1$/, "");
}

async function getJson(url: string, apiKey: string | null): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(url, { headers: apiKey !== null ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(10_000) });
    if (!r.ok) return null;
    const v = (await r.json()) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

interface ServerFacts {
  readonly model: string | null;
  /** A tokenizer path the server names that exists on this machine. */
  readonly tokenizerPath: string | null;
  /** The model file a radixlm server names, where it exists on this machine, and its engine settings. */
  readonly modelPath: string | null;
  readonly engine: ServerEngine | null;
  /** The chat template the server renders messages with, where it says (radixlm's /get_model_info). */
  readonly chatTemplate: string | null;
  /** Most tokens of prompt + output a request may have, where the server says. */
  readonly contextLength: number | null;
  /** The engine behind the API, from /v1/models' owned_by. */
  readonly engineName: string | null;
}

const ENGINE_NAMES: Readonly<Record<string, string>> = { radixlm: "radixlm", llamacpp: "llama.cpp", "llama.cpp": "llama.cpp", vllm: "vLLM", sglang: "SGLang" };

/** The model name and tokenizer location, where the server tells them (/v1/models, /get_model_info). */
async function askServer(root: string, apiKey: string | null): Promise<ServerFacts> {
  const models = await getJson(`${root}/v1/models`, apiKey);
  const card = Array.isArray(models?.data) ? (models.data[0] as Record<string, unknown> | undefined) : undefined;
  const info = await getJson(`${root}/get_model_info`, apiKey);
  const candidates = [info?.tokenizer_path, info?.model_path, card?.root].filter((p): p is string => typeof p === "string" && p !== "");
  const server = await getJson(`${root}/get_server_info`, apiKey);
  const modelPath = typeof server?.model_path === "string" && fs.existsSync(server.model_path) ? server.model_path : null;
  return {
    model: typeof card?.id === "string" ? card.id : typeof info?.served_model_name === "string" ? info.served_model_name : null,
    tokenizerPath: candidates.find((p) => fs.existsSync(p)) ?? null,
    modelPath,
    engine: serverEngine(server),
    chatTemplate: typeof info?.chat_template === "string" ? info.chat_template : null,
    contextLength: [info?.context_length, card?.max_model_len].find((n): n is number => typeof n === "number" && Number.isInteger(n) && n > 0) ?? null,
    engineName: typeof card?.owned_by === "string" && card.owned_by !== "" ? ENGINE_NAMES[card.owned_by.toLowerCase()] ?? card.owned_by.slice(0, 40) : null,
  };
}

/** Whether the server is on this machine: its address is a loopback one. */
function isLoopback(root: string): boolean {
  const host = new URL(root).hostname;
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parseExtraBody(s: string | undefined): Record<string, unknown> {
  if (s === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new UsageError(`--extra-body must be a JSON object, got "${s}"`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new UsageError(`--extra-body must be a JSON object, got "${s}"`);
  return v as Record<string, unknown>;
}

/** Why nothing listens at `root` (connection refused, no such host, no answer in 10 s), or null when something does. */
export function unreachable(root: string): Promise<string | null> {
  const u = new URL(root);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(10_000, () => {
      sock.destroy();
      resolve("no answer within 10 s");
    });
    sock.once("connect", () => {
      sock.destroy();
      resolve(null);
    });
    sock.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") resolve("connection refused (is the server running?)");
      else if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") resolve(`no such host ${JSON.stringify(host)}`);
      else resolve(e.message);
    });
  });
}

/** SGLang's (and our) POST /flush_cache, so that a run starts from an empty prefix cache. */
async function flushCache(root: string, apiKey: string | null): Promise<void> {
  let r: Response;
  try {
    r = await fetch(`${root}/flush_cache`, { method: "POST", headers: apiKey !== null ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Error(`--flush-cache: ${root}/flush_cache did not answer: ${(e as Error).message}`);
  }
  if (!r.ok) throw new Error(`--flush-cache: ${root}/flush_cache answered HTTP ${r.status}`);
}

async function run(o: Options): Promise<void> {
  if (!API_KINDS.includes(o.api as ApiKind)) throw new UsageError(`unknown --api "${o.api}" (${API_KINDS.join(", ")})`);
  const api = o.api as ApiKind;
  if (!WORKLOAD_NAMES.includes(o.workload as WorkloadName)) throw new UsageError(`unknown workload "${o.workload}" (${WORKLOAD_NAMES.join(", ")})`);
  let wopts = workloadOptions(o);
  const root = serverRoot(o.baseUrl);
  const rate = o.requestRate === "inf" ? Infinity : parseFloatArg("--request-rate", o.requestRate);
  if (!(rate > 0)) throw new UsageError(`--request-rate must be > 0 or "inf", got "${o.requestRate}"`);
  const maxConcurrency = o.maxConcurrency === undefined ? null : parseIntArg("--max-concurrency", o.maxConcurrency, 1);
  const timeoutS = parseFloatArg("--timeout", o.timeout);
  const maxDurationS = parseFloatArg("--max-duration", o.maxDuration);
  if (timeoutS <= 0 || maxDurationS <= 0) throw new UsageError("--timeout and --max-duration must be > 0");
  const fmt = o.promptFormat ?? (api === "openai-chat" ? "text" : "ids");
  if (fmt !== "ids" && fmt !== "text") throw new UsageError(`--prompt-format must be ids or text, got "${fmt}"`);
  if (api === "openai-chat" && fmt === "ids") throw new UsageError("--api openai-chat sends text: --prompt-format ids does not apply");
  const apiKey = o.apiKey ?? (process.env.RADIXLM_API_KEY || null);
  const extraBody = parseExtraBody(o.extraBody);

  // Before anything that needs the server's answers: a dead address is the problem to name.
  const down = await unreachable(root);
  if (down !== null) throw new UsageError(`cannot reach ${root}: ${down}`);
  const facts = await askServer(root, apiKey);
  const tokPath = o.tokenizer ?? facts.tokenizerPath;
  if (tokPath === null) {
    throw new UsageError(`no --tokenizer given, and ${root} names no tokenizer file on this machine: give --tokenizer PATH (tokenizer.json, HF folder or GGUF)`);
  }
  const tokenizer: Tokenizer = await loadTokenizerFile(tokPath);
  const name = o.workload as WorkloadName;
  let text: PromptText | null = null;
  let workload: Workload;
  if (name === "edit") {
    // Rendered as the server renders messages: its own template, else the tokenizer file's.
    const own = tokenizer.toTokenizerJson().config.chat_template;
    const render = templateRenderer(facts.chatTemplate ?? (typeof own === "string" ? own : null), tokenizer);
    workload = makeEditWorkload(editOptions(o, wopts), tokenizer, render, facts.contextLength ?? Infinity);
  } else {
    const alphabet = wordAlphabet(tokenizer);
    // Default lengths cut to the server's context, where it says (as bench offline does).
    if (facts.contextLength !== null) {
      const fitted = fitLengths(name, wopts, o, facts.contextLength);
      if (fitted !== wopts) {
        process.stderr.write(`radixlm: default lengths scaled to fit the server's context of ${facts.contextLength} tokens: ` +
          `--system-prompt-len ${fitted.systemPromptLen}, --question-len ${fitted.questionLen}, --output-len ${fitted.outputLen}\n`);
        wopts = fitted;
      }
    }
    if (alphabet.length >= MIN_ALPHABET) {
      text = new PromptText(tokenizer, alphabet);
      workload = makeWorkloadFrom(name, wopts, alphabet);
    } else if (fmt === "ids") {
      let hi = tokenizer.vocabSize;
      while (hi > 1 && tokenizer.isSpecial(hi - 1)) hi--;
      workload = makeWorkload(name, wopts, Math.min(10, hi - 1), hi);
    } else {
      throw new UsageError(`${tokPath}: only ${alphabet.length} whole-word tokens, too few to build text of exact lengths; use --prompt-format ids`);
    }
  }
  if (o.flushCache) await flushCache(root, apiKey);
  const client: ClientOptions = { root, api, model: o.model ?? facts.model, apiKey, extraBody };
  const label = o.label ?? `${o.workload}@${new URL(root).host}`;
  const report = await benchServe({
    client, workload, promptFormat: fmt as PromptFormat, tokenizer, text,
    requestRate: rate, maxConcurrency, seed: wopts.seed,
    timeoutMs: timeoutS * 1000, maxDurationMs: maxDurationS * 1000,
    info: {
      label, base_url: root, api, model: client.model, workload: o.workload, workload_options: { ...wopts },
      request_rate: Number.isFinite(rate) ? rate : "inf", max_concurrency: maxConcurrency, tokenizer: tokPath,
      server_engine: facts.engineName,
    },
  });
  // A run where nothing completed has no figures worth a table or a bound: only what went wrong.
  if (report.requests.completed === 0) {
    if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 1) + "\n");
    throw new Error(`no request completed${report.errors.length ? `: ${report.errors[0]}` : ""}`);
  }
  // The bound needs the server idle: measured after the run, before anything is printed;
  // only for a server on this machine (its kernels are the ones measured here). A bound that
  // cannot be measured costs the run nothing but its line.
  let bound: WorkloadBound | null = null;
  let boundError: string | null = null;
  if (o.bound && facts.modelPath !== null && facts.engine !== null && isLoopback(root)) {
    try {
      bound = await serveBound(facts.modelPath, facts.engine, report, workload);
    } catch (e) {
      boundError = `${facts.modelPath}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const out = bound === null ? report : { ...report, bound, bound_fraction: bound.seconds / report.duration_s };
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(out, null, 1) + "\n");
  if (o.svg) fs.writeFileSync(o.svg, renderSvg([report]));
  process.stdout.write(formatReport(report) + "\n");
  if (bound !== null) process.stdout.write(formatBound(bound, report.duration_s, "the run") + "\n");
  if (boundError !== null) process.stderr.write(`radixlm: bound not measured: ${boundError}\n`);
}

export function register(bench: Command): void {
  const c = bench
    .command("serve")
    .description("run a workload against a running server over HTTP (radixlm, llama.cpp, vLLM, SGLang)")
    .requiredOption("--base-url <url>", "the server, e.g. http://127.0.0.1:8080 (a trailing /v1 is fine)")
    .option("--api <kind>", API_KINDS.join("|"), "openai-completions");
  workloadFlags(c, "workload and arrival seed")
    .option("--request-rate <r>", "conversations started per second (Poisson), or inf", "inf")
    .option("--max-concurrency <n>", "most requests in flight at once")
    .option("--tokenizer <path>", "tokenizer.json, HF folder or GGUF (default: the one the server names, if on this machine)")
    .option("--model <name>", "the request's model field (default: the server's first model)")
    .option("--prompt-format <f>", "ids|text: how completions and native prompts are sent (default ids; chat sends text)")
    .option("--api-key <key>", "bearer token (default: $RADIXLM_API_KEY)")
    .option("--extra-body <json>", "JSON object merged into every request body")
    .option("--timeout <s>", "per-request time limit in seconds", "300")
    .option("--max-duration <s>", "stop sending after this many seconds", "1800")
    .option("--json <out>", "write the result as JSON")
    .option("--svg <out>", "write a chart (latency CDFs, throughput bars)")
    .option("--label <name>", "the run's name in tables and charts")
    .option("--flush-cache", "POST /flush_cache before the run (radixlm, SGLang)")
    .option("--no-bound", "skip the bound (measured after the run, where the server is radixlm with its model file on this machine)")
    .action(run);
}
