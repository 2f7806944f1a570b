// radixlm serve: the OpenAI-compatible HTTP server. It listens at once (answering 503 while the
// model loads), loads the model, warms the engine up, prints one ready line with the URL, and
// on SIGTERM/SIGINT drains: new requests get 503, in-flight ones finish within the grace
// period (then are aborted), and the process exits 0.
import { REASONING_PARSERS, type ReasoningParser } from "../server/reasoning.js";
import { TOOL_CALL_FORMATS, toolCallFormatNamed } from "../structured/tool-calls.js";
import path from "node:path";
import type { Command } from "commander";
import { Engine } from "../engine/engine.js";
import { defaultThreads } from "../kernels/native.js";
import { loadModel, type LoadedModel } from "../model/load.js";
import { describeGenerationDefaults } from "../model/generation-defaults.js";
import { DEFAULT_MAX_BODY_BYTES, RadixServer } from "../server/http.js";
import { DEFAULT_METRIC_NAME_SETS, parseMetricNameSets, type MetricNameSet } from "../server/gateway-metrics.js";
import { engineFlags, engineOptionsFrom, type EngineFlagValues } from "./engine-flags.js";
import { kvEventHubFrom, kvEventsFlags, type KvEventsFlagValues } from "./kv-events-flags.js";
import { cacheDirFlags, openCacheDir, type CacheDir, type CacheDirFlagValues } from "./cache-dir-flags.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";
import { DEMO_MODEL_NAME } from "./default-model.js";
import { MODEL_HELP, modelPath, repoIdOf } from "./model-arg.js";
import { Progress } from "../util/progress.js";

interface ServeOptions extends EngineFlagValues, KvEventsFlagValues, CacheDirFlagValues {
  model?: string;
  host: string;
  port: string;
  apiKey?: string;
  servedModelName?: string;
  maxBodyBytes?: string;
  gracePeriod: string;
  logInterval: string;
  warmup: boolean;
  corsAllowOrigin?: string;
  strictModelName?: boolean;
  reasoningParser: string;
  toolCallParser: string;
  matryoshka?: boolean;
  metricsNames: string;
  dashboard: boolean;
}

/** --cors-allow-origin: a comma-separated list of origins (scheme://host[:port]), or "*". */
export function parseOrigins(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError("--cors-allow-origin needs at least one origin, or *");
  if (list.length > 64) throw new UsageError(`--cors-allow-origin takes at most 64 origins, got ${list.length}`);
  for (const o of list) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw new UsageError(`--cors-allow-origin: "${o}" is not an origin (scheme://host[:port], no path) or *`);
  }
  return list;
}

function defaultName(modelPath: string): string {
  const base = path.basename(path.resolve(modelPath));
  return base.endsWith(".gguf") ? base.slice(0, -5) : base;
}

/** A one-line chat request to paste into a shell. */
function curlExample(url: string, name: string, withKey: boolean, embedOnly: boolean): string {
  const body = JSON.stringify(embedOnly ? { model: name, input: "A cat sat on the mat." } : { model: name, messages: [{ role: "user", content: "Tell me a story about a cat." }] });
  const auth = withKey ? ` -H "Authorization: Bearer $RADIXLM_API_KEY"` : "";
  const route = embedOnly ? "embeddings" : "chat/completions";
  return `curl -s ${url}/v1/${route} -H 'Content-Type: application/json'${auth} -d '${body.replaceAll("'", "'\\''")}'`;
}

/** The startup line that says which sampling defaults came from the model, and where from. */
export function generationDefaultsLine(model: LoadedModel, used: boolean): string {
  const given = describeGenerationDefaults(model.generationDefaults);
  const where = model.format === "hf" ? "generation_config.json" : "general.sampling.* keys";
  if (!given) return "radixlm: sampling defaults: the model sets none (a request without temperature gets 1)";
  if (!used) return `radixlm: sampling defaults: the model's (${where}: ${given}) are ignored (--generation-config none)`;
  return `radixlm: sampling defaults from the model (${where}): ${given}; a request's own values win`;
}

async function run(o: ServeOptions): Promise<void> {
  const port = parseIntArg("--port", o.port, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got "${o.port}"`);
  const apiKey = o.apiKey ?? (process.env.RADIXLM_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.trim() === "") throw new UsageError("--api-key must not be empty");
  const maxBodyBytes = o.maxBodyBytes === undefined ? DEFAULT_MAX_BODY_BYTES : parseIntArg("--max-body-bytes", o.maxBodyBytes, 1024);
  const graceMs = parseFloatArg("--grace-period", o.gracePeriod) * 1000;
  const logInterval = parseFloatArg("--log-interval", o.logInterval);
  if (graceMs < 0) throw new UsageError(`--grace-period must be >= 0, got "${o.gracePeriod}"`);
  if (logInterval < 0) throw new UsageError(`--log-interval must be >= 0, got "${o.logInterval}"`);
  // Resolved (downloaded, for an hf: reference) before the server listens: /get_model_info names the local path.
  const localPath = await modelPath(o.model);
  const name = o.servedModelName ?? (o.model === undefined ? DEMO_MODEL_NAME : repoIdOf(o.model) ?? defaultName(o.model));

  const corsAllowOrigins = parseOrigins(o.corsAllowOrigin);
  const reasoningParser = o.reasoningParser;
  if (reasoningParser !== "auto" && reasoningParser !== "none" && !(REASONING_PARSERS as readonly string[]).includes(reasoningParser)) {
    throw new UsageError(`--reasoning-parser must be auto, none, ${REASONING_PARSERS.join(" or ")}, got "${reasoningParser}"`);
  }
  const toolCallParser = o.toolCallParser === "auto" ? "auto" : toolCallFormatNamed(o.toolCallParser);
  if (toolCallParser === null) throw new UsageError(`--tool-call-parser must be auto, ${TOOL_CALL_FORMATS.join(", ")}, got "${o.toolCallParser}"`);
  const strictModelName = o.strictModelName === true;
  let metricNames: MetricNameSet[];
  try {
    metricNames = parseMetricNameSets(o.metricsNames);
  } catch (err) {
    throw new UsageError(`--metrics-names ${err instanceof Error ? err.message : String(err)}`);
  }
  const info: Record<string, unknown> = {
    model_path: localPath, host: o.host, port, api_key: apiKey !== undefined, max_body_bytes: maxBodyBytes,
    cors_allow_origins: corsAllowOrigins ?? [], strict_model_name: strictModelName, reasoning_parser: reasoningParser,
    tool_call_parser: toolCallParser, matryoshka: o.matryoshka === true, metrics_names: metricNames,
    dashboard: o.dashboard !== false,
  };
  // Before listening, so that a missing zeromq or a taken address stops the start with one line.
  const kvEvents = await kvEventHubFrom(o);
  const server = new RadixServer({
    kvEvents,
    name, apiKey, maxBodyBytes, logIntervalSeconds: logInterval, info, corsAllowOrigins, strictModelName,
    reasoningParser: reasoningParser as ReasoningParser | "auto" | "none", toolCallParser, matryoshka: o.matryoshka === true,
    metricNames, dashboard: o.dashboard !== false,
  });
  let engine: Engine | null = null;
  let cacheDir: CacheDir | null = null;
  let checkpoints: NodeJS.Timeout | null = null;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1 || !engine) {
      if (signals > 1) process.stderr.write(`radixlm: ${sig} again: exiting without draining\n`);
      process.exit(signals > 1 ? 1 : 0);
    }
    process.stdout.write(`radixlm: ${sig}: draining (grace period ${(graceMs / 1000).toFixed(1)} s)\n`);
    if (checkpoints) clearInterval(checkpoints);
    // The engine closes in the drain, writing what the disk tier had not stored yet.
    const saving = cacheDir ? new Progress(`draining, then saving the cache dir ${o.cacheDir}`, 1, { unit: "steps" }) : null;
    server.drain(graceMs).then(() => cacheDir?.store.close()).finally(() => saving?.stop()).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`radixlm: error while draining: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  try {
    await server.listen(o.host, port);
  } catch (err) {
    throw new UsageError(`cannot listen on ${o.host}:${port}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const steps = (o.warmup ? 3 : 2) + (o.cacheDir !== undefined ? 1 : 0);
  const progress = new Progress(`loading ${path.basename(localPath)}`, steps, { unit: "steps" });
  let cacheLine: string | null = null;
  try {
    progress.update(0, "reading the model");
    const model = await loadModel(localPath);
    progress.update(1, "preparing the backend and KV pool");
    const engineOpts = await engineOptionsFrom(o, model);
    cacheDir = await openCacheDir(o, localPath, model, engineOpts, (k) => engine?.forgetDiskItem(k));
    engine = await Engine.create({ ...engineOpts, model, kvEvents, ...(cacheDir ? { diskStore: cacheDir.store } : {}) });
    // For clients that measure against the same kernels (bench serve's bound).
    info.engine = {
      backend: engineOpts.backend?.name ?? "reference",
      threads: engineOpts.backend?.name === "native" ? (o.threads === undefined ? defaultThreads() : Number(o.threads)) : 1,
      kv_cache_dtype: engineOpts.kvCacheDtype ?? "f16",
      chunked_prefill_size: engineOpts.chunkedPrefillSize ?? 512,
      max_running_requests: engineOpts.maxRunningRequests ?? 64,
    };
    progress.update(2, o.warmup ? "warming up" : "");
    if (o.warmup) {
      await engine.probe();
      engine.flushCache();
      progress.update(3, "");
    }
    const tiers = engine.cacheTiers;
    if (cacheDir && tiers) {
      // After the warm-up, whose flush must not drop what an earlier run left.
      progress.update(steps - 1, `reading the cache dir ${o.cacheDir}`);
      const found = tiers.restoreDiskTree();
      progress.update(steps);
      // Printed once the bar is gone.
      cacheLine = `radixlm: cache dir ${o.cacheDir}: ${found.tokens} cached tokens in ${found.items} item(s) from earlier runs` +
        (found.dropped > 0 ? ` (${found.dropped} unusable item(s) dropped)` : "") + "\n";
      // Pinned prefixes come back in the background: the server is ready meanwhile.
      void tiers.restorePins().then((n) => {
        if (n > 0) process.stdout.write(`radixlm: cache dir: ${n} pinned prefix(es) pinned again\n`);
      });
      const { store, checkpointMs } = cacheDir;
      if (checkpointMs > 0) {
        checkpoints = setInterval(() => void store.flush().catch((err: unknown) =>
          process.stderr.write(`radixlm: cache dir: sync failed (${err instanceof Error ? err.message : String(err)})\n`)), checkpointMs);
        checkpoints.unref();
      }
    }
    progress.stop();
    if (cacheLine !== null) process.stdout.write(cacheLine);
    server.attach(engine);
    const backend = engineOpts.backend?.name ?? "reference";
    process.stdout.write(`radixlm: serving ${name} at ${server.url} (backend ${backend}, KV pool ${engine.kvCapacity} tokens, ` +
      `context ${Math.min(model.config.maxPositionEmbeddings, engine.kvCapacity)})\n`);
    process.stdout.write(generationDefaultsLine(model, engineOpts.generationConfig !== "none") + "\n");
    process.stdout.write(`radixlm: try: ${curlExample(server.url, name, apiKey !== undefined, model.headless)}\n`);
    if (o.dashboard !== false) process.stdout.write(`radixlm: dashboard at ${server.url}/dashboard/\n`);
  } catch (err) {
    progress.stop();
    await server.app.close().catch(() => undefined);
    throw err;
  }
}

export function register(program: Command): void {
  const c = program
    .command("serve")
    .description("serve a model over HTTP: OpenAI-compatible /v1 routes and SGLang-style native routes")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`)
    .option("--host <addr>", "address to bind (0.0.0.0 for every interface)", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", "30000")
    .option("--api-key <key>", "require `Authorization: Bearer KEY` (default: $RADIXLM_API_KEY)")
    .option("--served-model-name <name>", "the model name clients send (default: the file or folder name)")
    .option("--max-body-bytes <n>", `largest request body accepted (default ${DEFAULT_MAX_BODY_BYTES})`)
    .option("--grace-period <seconds>", "on SIGTERM/SIGINT, how long in-flight requests may finish before they are aborted", "20")
    .option("--log-interval <seconds>", "seconds between status lines while busy (0: none)", "5")
    .option("--no-warmup", "skip the one-token warm-up generation before the ready line")
    .option("--cors-allow-origin <origins>", "let browser pages on these origins call the server (comma-separated, or *; default: CORS off)")
    .option("--strict-model-name", "answer a request for another model name with a 404 (default: any name gets the loaded model)")
    .option("--reasoning-parser <name>", `where a chat answer's <think> text goes: ${REASONING_PARSERS.join(", ")} (reasoning_content), none, or auto (on when the chat template thinks)`, "auto")
    .option("--tool-call-parser <name>", `how chat answers write tool calls: ${TOOL_CALL_FORMATS.join(", ")}, or auto (the format the chat template shows)`, "auto")
    .option("--matryoshka", "allow /v1/embeddings' dimensions for a Matryoshka-trained model whose config does not say so (Qwen3-Embedding; vLLM's is_matryoshka)")
    .option("--no-dashboard", "do not serve the dashboard (/dashboard: the radix tree, hit rates, requests, a playground)")
    .option("--metrics-names <list>", "metric names /metrics serves, comma-separated: radixlm, vllm (the inference gateway's default), sglang", DEFAULT_METRIC_NAME_SETS.join(","));
  engineFlags(cacheDirFlags(kvEventsFlags(c))).action(run);
}
