// radixlm route: one address in front of many `radixlm serve` workers, routing each request
// where its prefix is most likely cached (src/router/). Prints one ready line with the URL;
// on SIGTERM/SIGINT stops taking requests and exits 0 once those in flight are done.
import type { Command } from "commander";
import { ChatRenderer } from "../engine/chat.js";
import { loadModel } from "../model/load.js";
import { DEFAULT_CACHE_AWARE, POLICY_NAMES, type PolicyName } from "../router/policies.js";
import { Router } from "../router/router.js";
import type { Prompting } from "../router/routing-keys.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";

interface RouteFlags {
  worker?: string[];
  workerApiKey?: string[];
  policy: string;
  host: string;
  port: string;
  apiKey?: string;
  model?: string;
  cacheThreshold: string;
  balanceAbsThreshold: string;
  balanceRelThreshold: string;
  evictionInterval: string;
  maxTreeSize: string;
  maxRetries: string;
  retryBackoff: string;
  healthCheckInterval: string;
  breakerFailures: string;
  breakerCooldown: string;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

async function run(o: RouteFlags): Promise<void> {
  const urls = o.worker ?? [];
  const keys = o.workerApiKey ?? [];
  if (keys.length > 1 && keys.length !== urls.length) throw new UsageError(`--worker-api-key: give one key for every worker, or one for all (got ${keys.length} keys for ${urls.length} workers)`);
  if (!(POLICY_NAMES as readonly string[]).includes(o.policy)) throw new UsageError(`--policy must be one of ${POLICY_NAMES.join(", ")}, got "${o.policy}"`);
  const policy = o.policy as PolicyName;
  if (policy === "exact" && o.model === undefined) throw new UsageError("--policy exact routes on token ids: give --model (the workers' model, for its tokenizer and chat template)");
  const port = parseIntArg("--port", o.port);
  const cacheThreshold = parseFloatArg("--cache-threshold", o.cacheThreshold, 0);
  if (cacheThreshold > 1) throw new UsageError(`--cache-threshold must be in [0, 1], got "${o.cacheThreshold}"`);
  const cacheAware = {
    cacheThreshold,
    balanceAbsThreshold: parseIntArg("--balance-abs-threshold", o.balanceAbsThreshold),
    balanceRelThreshold: parseFloatArg("--balance-rel-threshold", o.balanceRelThreshold, 1),
    maxTreeSize: parseIntArg("--max-tree-size", o.maxTreeSize, 1),
  };
  const apiKey = o.apiKey ?? process.env.RADIXLM_API_KEY;
  const prompting = o.model !== undefined ? await promptingOf(o.model) : null;
  const router = new Router({
    workers: urls.map((url, i) => ({ url, apiKey: keys.length === 1 ? keys[0] : keys[i] })),
    policy, cacheAware, apiKey, prompting,
    maxRetries: parseIntArg("--max-retries", o.maxRetries),
    retryBackoffMs: parseFloatArg("--retry-backoff", o.retryBackoff, 0) * 1000,
    maintainIntervalMs: parseFloatArg("--eviction-interval", o.evictionInterval, 0.001) * 1000,
    health: { intervalMs: parseFloatArg("--health-check-interval", o.healthCheckInterval, 0.01) * 1000, timeoutMs: 5000, unhealthyAfter: 3 },
    breaker: { failures: parseIntArg("--breaker-failures", o.breakerFailures, 1), cooldownMs: parseFloatArg("--breaker-cooldown", o.breakerCooldown, 0) * 1000 },
  });
  const url = await router.listen(o.host, port);
  process.stdout.write(`radixlm: routing at ${url} to ${urls.length} worker${urls.length === 1 ? "" : "s"} (policy ${policy}${prompting ? ", by token ids" : ""})\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    void router.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/** The workers' tokenizer and chat template, from their model (its weights are mapped, never read). */
async function promptingOf(arg: string): Promise<Prompting> {
  const model = await loadModel(await modelPath(arg));
  return { tokenizer: model.tokenizer, chat: new ChatRenderer(model) };
}

export function register(program: Command): void {
  const d = DEFAULT_CACHE_AWARE;
  program
    .command("route")
    .description("route requests to many `radixlm serve` workers, keeping requests that share a prefix on the worker that caches it")
    .option("--worker <url>", "a worker's address (repeat for each; more can be added at run time with POST /workers)", collect)
    .option("--worker-api-key <key>", "the key to send to the workers (one for all, or one per --worker in order)", collect)
    .option("--policy <name>", `${POLICY_NAMES.join(", ")} (exact: on the workers' KV events, serve --kv-events; needs --model)`, "cache-aware")
    .option("--host <addr>", "address to bind", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", "30000")
    .option("--api-key <key>", "require `Authorization: Bearer KEY` of clients (default: $RADIXLM_API_KEY)")
    .option("--model <path>", `the workers' model, to route by its token ids (${MODEL_HELP})`)
    .option("--cache-threshold <x>", "a prefix match above this share of a request sends it to the matching worker", String(d.cacheThreshold))
    .option("--balance-abs-threshold <n>", "load is imbalanced when the busiest worker has this many more requests than the idlest ...", String(d.balanceAbsThreshold))
    .option("--balance-rel-threshold <x>", "... and this many times as many", String(d.balanceRelThreshold))
    .option("--eviction-interval <seconds>", "how often the routing tree is trimmed", "120")
    .option("--max-tree-size <n>", "code points (or tokens) of the routing tree per worker", String(d.maxTreeSize))
    .option("--max-retries <n>", "attempts after the first that failed before the worker answered", "3")
    .option("--retry-backoff <seconds>", "wait before the first retry (doubling)", "0.05")
    .option("--health-check-interval <seconds>", "seconds between GET /health checks of each worker", "10")
    .option("--breaker-failures <n>", "failures in a row that open a worker's circuit breaker", "5")
    .option("--breaker-cooldown <seconds>", "how long an open breaker refuses before a trial request", "30")
    .action(run);
}
