// The HTTP server: a fastify app with the OpenAI and native routes, and its lifecycle.
//
//   loading  -> listening, every route but /metrics answers 503 until attach(engine)
//   ready    -> serving
//   draining -> new requests get 503; in-flight ones finish within the grace period, then
//               are aborted; then the server and the engine close
//   closed
//
// The HTTP layer never computes: a route validates, tokenizes and submits to the engine, whose
// loop yields to I/O between steps (and, on the native backend, computes off this thread).
// Bodies are decoded as they arrive; long prompts are tokenized on a thread of their own.
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import fastifyCors from "@fastify/cors";
import type { Engine } from "../engine/engine.js";
import { checkApiKey } from "./auth.js";
import { clientErrorHandler, installErrorHandlers, unavailable } from "./errors.js";
import { jsonBodyParser } from "./json-body.js";
import { JsonThread } from "./json-thread.js";
import { Metrics, statusLine } from "./metrics.js";
import { registerNativeApi } from "./native-api.js";
import { registerOpenAI } from "./openai.js";
import { registerResponses } from "./responses.js";
import { registerEmbeddings } from "./embeddings.js";
import { registerCacheRoutes } from "./cache-routes.js";
import { registerKvEvents, type KvEventHub } from "./kv-events.js";
import { Serving } from "./serving.js";
import { VERSION } from "../util/version.js";
import { reasoningParserOf, type ReasoningParser } from "./reasoning.js";
import type { ToolCallFormat } from "../structured/tool-calls.js";
import type { MetricNameSet } from "./gateway-metrics.js";
import { Dashboard } from "./dashboard/routes.js";
import { isDashboardAsset } from "./dashboard/assets.js";

export type ServerState = "loading" | "ready" | "draining" | "closed";

export interface ServerOptions {
  /** The model name clients send (`model`) and /v1/models lists. */
  readonly name: string;
  /** Require `Authorization: Bearer KEY` on every route but /health, /health_generate and /metrics. */
  readonly apiKey?: string;
  /** Largest request body accepted (413 beyond). Default 32 MiB. */
  readonly maxBodyBytes?: number;
  /** Seconds between status lines while busy; 0 turns them off. Default 5. */
  readonly logIntervalSeconds?: number;
  /** Status lines (stdout in the CLI). */
  readonly log?: (line: string) => void;
  /** Warnings and internal errors (stderr in the CLI). */
  readonly warn?: (line: string) => void;
  /** Extra fields for /get_server_info (the command-line settings). */
  readonly info?: Readonly<Record<string, unknown>>;
  /**
   * Origins a browser page may call from (CORS), "*" for any; absent or empty: CORS off, so a
   * page on another origin fails at its preflight.
   */
  readonly corsAllowOrigins?: readonly string[];
  /** Answer a `model` other than the served name (or the model's path) with a 404; by default any name is served. */
  readonly strictModelName?: boolean;
  /**
   * Where chat answers' thinking goes (`reasoning_content`): a parser, "none", or "auto" (the
   * default: on when the model's chat template writes <think> and </think>).
   */
  readonly reasoningParser?: ReasoningParser | "auto" | "none";
  /** The tool-call format of chat answers; "auto" (the default): the one the model's chat template shows. */
  readonly toolCallParser?: ToolCallFormat | "auto";
  /** `dimensions` is allowed on /v1/embeddings even where the model's config does not say it was Matryoshka-trained. */
  readonly matryoshka?: boolean;
  /** Bounds of the responses kept for previous_response_id and GET /v1/responses/{id}: default 1000 responses, 64 MiB. */
  readonly responsesStore?: { readonly maxResponses?: number; readonly maxBytes?: number };
  /** The engine's KV events (the hub given to the engine as `kvEvents`): GET /kv_events and /get_server_info's kv_events. */
  readonly kvEvents?: KvEventHub;
  /** The metric name families /metrics serves (gateway-metrics.ts); default radixlm and vLLM's. */
  readonly metricNames?: readonly MetricNameSet[];
  /** Serve the dashboard (/dashboard: the radix tree, the numbers, the requests, a playground); default true. */
  readonly dashboard?: boolean;
}

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

export class RadixServer {
  readonly app: FastifyInstance;
  readonly metrics: Metrics;
  private current: ServerState = "loading";
  private serving: Serving | null = null;
  private readonly ticker: NodeJS.Timeout;
  private drained: Promise<void> | null = null;
  private readonly warn: (line: string) => void;
  private readonly jsonThread = new JsonThread();
  private readonly routes: string[] = [];
  private readonly dashboard: Dashboard | null;

  constructor(private readonly opts: ServerOptions) {
    const warn = opts.warn ?? ((line: string) => process.stderr.write(line + "\n"));
    const log = opts.log ?? ((line: string) => process.stdout.write(line + "\n"));
    this.metrics = new Metrics(opts.name, opts.metricNames);
    this.app = Fastify({
      logger: false,
      bodyLimit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      return503OnClosing: false,
      forceCloseConnections: "idle",
      clientErrorHandler,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allowUnionTypes: true, verbose: true } },
    });
    // Any content type is read as JSON, decoded as it arrives (json-body.ts).
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser("*", jsonBodyParser(opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, this.jsonThread));
    installErrorHandlers(this.app, warn);
    this.app.addHook("onRoute", (r) => {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      if (!methods.includes("HEAD") && !methods.includes("OPTIONS") && !this.routes.includes(r.url)) this.routes.push(r.url);
    });
    // Registered before the key check, so that errors carry the CORS headers too (a page can
    // read a 401) and preflights, which browsers send without credentials, are answered here.
    const cors = opts.corsAllowOrigins !== undefined && opts.corsAllowOrigins.length > 0;
    if (cors) {
      const origins = opts.corsAllowOrigins!;
      void this.app.register(fastifyCors, {
        origin: origins.includes("*") ? true : [...origins],
        methods: ["GET", "POST", "DELETE", "OPTIONS"],
        allowedHeaders: ["authorization", "content-type", "x-api-key"],
        maxAge: 600,
        hook: "onRequest",
      });
    }
    const dashboard = opts.dashboard === false ? null : new Dashboard({
      serving: () => serving(), engine: () => this.serving?.engine ?? null, keyed: opts.apiKey !== undefined, name: opts.name,
    });
    this.dashboard = dashboard;
    this.app.addHook("onRequest", async (req, reply) => {
      if (cors && req.method === "OPTIONS") return;
      // The dashboard's page is static: a browser opens it without a key, in any state.
      if (dashboard && isDashboardAsset(req.method, req.url)) return;
      if (opts.apiKey !== undefined) checkApiKey(req, opts.apiKey);
      if (this.current === "ready" || req.url.split("?")[0] === "/metrics") return;
      if (this.current === "loading") throw unavailable("The server is loading the model; retry shortly.");
      reply.header("connection", "close");
      throw unavailable("The server is shutting down.");
    });
    const serving = (): Serving => {
      if (!this.serving || this.current !== "ready") throw unavailable(this.current === "loading" ? "The server is loading the model." : "The server is shutting down.");
      return this.serving;
    };
    registerOpenAI(this.app, serving, (): Record<string, string> => (this.current === "ready" ? {} : { connection: "close" }), opts.strictModelName === true);
    registerEmbeddings(this.app, serving, opts.strictModelName === true, opts.matryoshka === true);
    registerResponses(this.app, serving, (): Record<string, string> => (this.current === "ready" ? {} : { connection: "close" }),
      { strictModel: opts.strictModelName === true, maxStored: opts.responsesStore?.maxResponses, maxStoredBytes: opts.responsesStore?.maxBytes });
    registerNativeApi(this.app, {
      serving, metrics: this.metrics, state: () => this.current,
      serverInfo: () => ({ version: VERSION, ...(opts.info ?? {}), ...(opts.kvEvents ? { kv_events: opts.kvEvents.info() } : {}) }),
    });
    registerCacheRoutes(this.app, serving);
    registerKvEvents(this.app, opts.kvEvents);
    if (dashboard) {
      void this.app.register(async (scope) => dashboard.register(scope));
      this.metrics.onLatency = (kind, ms) => dashboard.stats.observe(kind, ms);
    }
    // What this server is, for a person or a probe opening its address.
    this.app.get("/", async () => ({
      name: "radixlm", version: VERSION, model: opts.name,
      routes: this.routes.filter((r) => r !== "/").sort(),
    }));
    const every = (opts.logIntervalSeconds ?? 5) * 1000;
    let lastLog = performance.now();
    this.ticker = setInterval(() => {
      this.metrics.sample();
      const now = performance.now();
      if (every > 0 && now - lastLog >= every - 1 && this.serving) {
        lastLog = now;
        const line = statusLine(this.serving.engine.stats(), this.metrics.genThroughput());
        if (line) log(line);
      }
    }, 1000);
    this.ticker.unref();
    this.warn = warn;
  }

  get state(): ServerState {
    return this.current;
  }

  /** Starts listening (state stays "loading" until attach); resolves to the base URL. */
  async listen(host = "127.0.0.1", port = 30000): Promise<string> {
    await this.app.listen({ host, port });
    return this.url;
  }

  get url(): string {
    const a = this.app.server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** The engine is ready: start serving. */
  attach(engine: Engine): void {
    if (this.current !== "loading") throw new Error(`cannot attach an engine in state ${this.current}`);
    const choice = this.opts.reasoningParser ?? "auto";
    const reasoning = choice === "auto" ? reasoningParserOf(engine.model.chatTemplate ?? "") : choice === "none" ? null : choice;
    const toolCalls = this.opts.toolCallParser === undefined || this.opts.toolCallParser === "auto" ? null : this.opts.toolCallParser;
    this.serving = new Serving(engine, this.opts.name, this.metrics, this.warn, reasoning, toolCalls);
    this.metrics.attach(engine);
    this.current = "ready";
  }

  /**
   * Stops taking requests, lets in-flight generations finish for up to `graceMs`, aborts the
   * rest, then closes the HTTP server and the engine.
   */
  drain(graceMs: number): Promise<void> {
    this.drained ??= this.doDrain(graceMs);
    return this.drained;
  }

  private async doDrain(graceMs: number): Promise<void> {
    this.current = "draining";
    this.app.server.closeIdleConnections();
    const s = this.serving;
    if (s && s.sending > 0) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)));
      const late = await Promise.race([s.idle().then(() => false), expired]);
      clearTimeout(timer);
      if (late) {
        s.abortAll();
        await Promise.race([s.idle(), new Promise((r) => setTimeout(r, 5000))]);
      }
    }
    clearInterval(this.ticker);
    this.dashboard?.close();
    // Responses still being written get a moment; then every connection goes.
    const closing = this.app.close();
    const forced = setTimeout(() => this.app.server.closeAllConnections(), 2000);
    await closing;
    clearTimeout(forced);
    if (s) await Promise.all([s.engine.close(), s.close()]);
    await this.jsonThread.close();
    this.current = "closed";
  }

  /** For tests: the engine behind the routes (null while loading). */
  get engine(): Engine | null {
    return this.serving?.engine ?? null;
  }
}
