// The router: one address in front of many workers, serving the same OpenAI and native routes
// they do. A generation route's body is read for what it will be routed by (routing-keys.ts),
// a policy picks a worker (policies.ts), and the worker's answer is passed back chunk by chunk
// (proxy.ts). Attempts that fail before the worker answers are retried on another worker,
// with backoff; each worker has a circuit breaker and health checks (worker-pool.ts).
// Routes about one stored response go to the worker that made it; /flush_cache and
// /abort_request go to every worker; the rest to any.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { AddressInfo } from "node:net";
import { checkApiKey } from "../server/auth.js";
import { ApiError, badRequest, clientErrorHandler, installErrorHandlers, sendError } from "../server/errors.js";
import { VERSION } from "../util/version.js";
import { makePolicy, type CacheAwareOptions, type CachedPrefixes, type Policy, type PolicyName, type RouteRequest } from "./policies.js";
import { pipeAnswer, send } from "./proxy.js";
import { RouterMetrics } from "./router-metrics.js";
import { routeRequest, type Prompting } from "./routing-keys.js";
import { DEFAULT_HEALTH, WorkerPool, type HealthOptions } from "./worker-pool.js";
import { DEFAULT_BREAKER, type BreakerOptions, type Worker } from "./worker.js";
import { KvMirror } from "./kv-mirror.js";
import { sleep } from "../util/sleep.js";

export interface RouterOptions {
  readonly workers: readonly { readonly url: string; readonly apiKey?: string }[];
  readonly policy: PolicyName;
  readonly cacheAware: CacheAwareOptions;
  /** Require this key of clients (as `radixlm serve --api-key`). */
  readonly apiKey?: string;
  /** Attempts after the first, each on another worker where there is one. */
  readonly maxRetries?: number;
  /** The first retry waits this long; each later one twice as long. */
  readonly retryBackoffMs?: number;
  /** How long a worker may take to answer a request's head. */
  readonly upstreamTimeoutMs?: number;
  readonly breaker?: BreakerOptions;
  readonly health?: HealthOptions;
  /** How often the cache-aware tree is trimmed (SGLang's eviction interval). */
  readonly maintainIntervalMs?: number;
  readonly maxBodyBytes?: number;
  /** The workers' tokenizer and chat template: route by token ids. */
  readonly prompting?: Prompting | null;
  /** What the workers report caching (exact policy). */
  readonly cached?: CachedPrefixes | null;
  readonly warn?: (line: string) => void;
}

/** Routes whose body is routed by its prompt. */
const ROUTED = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/rerank", "/v1/responses", "/generate"];
/** Routes any one worker answers. */
const ANY_POST = ["/tokenize", "/detokenize"];
const ANY_GET = ["/v1/models", "/get_model_info", "/health_generate"];
/** Stored responses remembered for routing follow-ups (previous_response_id, GET /v1/responses/{id}). */
const MAX_STICKY = 100_000;

export class Router {
  readonly app: FastifyInstance;
  readonly pool: WorkerPool;
  readonly metrics: RouterMetrics;
  readonly policy: Policy;
  private readonly sticky = new Map<string, string>();
  private readonly maintainer: NodeJS.Timeout;
  private readonly raw = new WeakMap<FastifyRequest, Buffer>();
  /** The workers' KV events, followed for the exact policy. */
  readonly mirror: KvMirror | null;

  constructor(private readonly opts: RouterOptions) {
    const warn = opts.warn ?? ((l: string) => process.stderr.write(l + "\n"));
    this.mirror = opts.policy === "exact" && !opts.cached ? new KvMirror(warn) : null;
    this.policy = makePolicy(opts.policy, opts.cacheAware, opts.cached ?? this.mirror);
    this.pool = new WorkerPool(opts.breaker ?? DEFAULT_BREAKER, opts.health ?? DEFAULT_HEALTH, (url) => {
      this.policy.forget?.(url);
      this.mirror?.remove(url);
    });
    for (const w of opts.workers) this.addWorker(w.url, w.apiKey);
    this.metrics = new RouterMetrics(() => this.pool.all);
    this.maintainer = setInterval(() => this.policy.maintain?.(), opts.maintainIntervalMs ?? 120_000);
    this.maintainer.unref();
    const app = Fastify({ logger: false, bodyLimit: opts.maxBodyBytes ?? 32 * 1024 * 1024, forceCloseConnections: "idle", clientErrorHandler });
    this.app = app;
    // Bodies are passed on as they came; they are parsed only to be routed.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (req, body, done) => {
      const buf = body as Buffer;
      this.raw.set(req, buf);
      if (buf.length === 0) return done(null, undefined);
      try {
        done(null, JSON.parse(buf.toString("utf8")));
      } catch (err) {
        done(badRequest(null, `The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, "invalid_json"));
      }
    });
    installErrorHandlers(app, warn);
    app.addHook("onRequest", async (req) => {
      if (opts.apiKey !== undefined) checkApiKey(req, opts.apiKey);
    });
    this.routes();
  }

  private routes(): void {
    const app = this.app;
    for (const path of ROUTED) app.post(path, (req, reply) => this.routed(req, reply, path));
    for (const path of ANY_POST) app.post(path, (req, reply) => this.forward(req, reply, path, null));
    for (const path of ANY_GET) app.get(path, (req, reply) => this.forward(req, reply, path, null));
    app.get("/v1/models/*", (req, reply) => this.forward(req, reply, req.url, null));
    const byResponse = (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const id = (req.params as { id: string }).id;
      const url = this.sticky.get(id);
      const w = url ? this.pool.get(url) : undefined;
      if (!w) return Promise.resolve(void sendError(reply, new ApiError(404, `No response found with id '${id}'.`, "invalid_request_error", "response_id", "not_found")));
      return this.forward(req, reply, req.url, w);
    };
    app.get("/v1/responses/:id", byResponse);
    app.delete("/v1/responses/:id", byResponse);
    app.get("/v1/responses/:id/input_items", byResponse);
    app.post("/v1/responses/:id/cancel", byResponse);
    app.post("/flush_cache", (req, reply) => this.broadcast(req, reply, "/flush_cache"));
    app.post("/abort_request", (req, reply) => this.broadcast(req, reply, "/abort_request"));
    app.get("/health", async (_req, reply) => {
      const n = this.pool.usable().length;
      if (n === 0) return sendError(reply, new ApiError(503, "No worker is available.", "server_error", null, "no_worker"));
      return { status: "ok", workers: n };
    });
    app.get("/metrics", async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.text()));
    app.get("/", async () => ({ name: "radixlm router", version: VERSION, policy: this.policy.name, workers: this.pool.all.length }));
    app.get("/get_server_info", async () => ({ version: VERSION, role: "router", policy: this.policy.name, workers: this.workerList() }));
    this.workerRoutes();
  }

  /** Adds a worker to the pool (and follows its KV events for the exact policy); throws on a bad or duplicate URL. */
  addWorker(url: string, apiKey: string | undefined): Worker {
    const w = this.pool.add(url, apiKey);
    this.mirror?.add(w.url, w.apiKey);
    return w;
  }

  private workerList(): Record<string, unknown>[] {
    return this.pool.all.map((w) => ({
      url: w.url, healthy: w.healthy, breaker: w.breaker.state, inflight: w.inflight,
      ...(this.mirror ? { kv_events: this.mirror.following(w.url), cached_blocks: this.mirror.blockCount(w.url) } : {}),
    }));
  }

  /** /workers (list, add, remove), and SGLang's router's names for the same. */
  private workerRoutes(): void {
    const add = (url: unknown, key: unknown): Record<string, unknown> => {
      if (typeof url !== "string" || url.length > 2048) throw badRequest("url", "'url' must be a worker's URL (http://host:port).");
      if (key !== undefined && key !== null && (typeof key !== "string" || key.length > 4096)) throw badRequest("api_key", "'api_key' must be a string.");
      let w: Worker;
      try {
        w = this.addWorker(url, (key as string | null | undefined) ?? undefined);
      } catch (err) {
        throw badRequest("url", err instanceof Error ? err.message : String(err));
      }
      return { url: w.url, added: true };
    };
    const remove = (url: unknown, reply: FastifyReply): Record<string, unknown> | FastifyReply => {
      if (typeof url !== "string" || !this.pool.remove(url)) return sendError(reply, new ApiError(404, `No worker ${String(url).slice(0, 200)} in the pool.`, "invalid_request_error", "url", "not_found"));
      return { url, removed: true };
    };
    const body = (req: FastifyRequest): Record<string, unknown> => (typeof req.body === "object" && req.body !== null ? req.body as Record<string, unknown> : {});
    const query = (req: FastifyRequest): Record<string, unknown> => req.query as Record<string, unknown>;
    this.app.get("/workers", async () => ({ workers: this.workerList() }));
    this.app.get("/list_workers", async () => ({ urls: this.pool.all.map((w) => w.url) }));
    this.app.post("/workers", async (req, reply) => reply.code(201).send(add(body(req).url, body(req).api_key)));
    this.app.post("/add_worker", async (req) => add(query(req).url ?? body(req).url, body(req).api_key));
    this.app.delete("/workers", async (req, reply) => remove(query(req).url ?? body(req).url, reply));
    this.app.post("/remove_worker", async (req, reply) => remove(query(req).url ?? body(req).url, reply));
  }

  /** A generation route: pick a worker by the body's prompt; a follow-up of a stored response goes where it is. */
  private async routed(req: FastifyRequest, reply: FastifyReply, path: string): Promise<void> {
    const body = req.body as Record<string, unknown> | undefined;
    const prev = path === "/v1/responses" && typeof body?.previous_response_id === "string" ? this.sticky.get(body.previous_response_id) : undefined;
    const pinned = prev ? this.pool.get(prev) : undefined;
    if (pinned?.usable) {
      this.metrics.decision("sticky");
      return this.forward(req, reply, path, pinned);
    }
    const r = routeRequest(path, body, this.opts.prompting ?? null);
    return this.forward(req, reply, path, null, r);
  }

  /**
   * Sends the request to `fixed`, or to the policy's pick (any usable worker without `route`),
   * retrying attempts that fail before an answer on other workers.
   */
  private async forward(req: FastifyRequest, reply: FastifyReply, path: string, fixed: Worker | null, route?: RouteRequest): Promise<void> {
    const client = new AbortController();
    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) client.abort();
    });
    const tried = new Set<Worker>();
    const retries = this.opts.maxRetries ?? 3;
    let last = "no worker is available";
    for (let attempt = 0; attempt <= retries && !client.signal.aborted; attempt++) {
      if (attempt > 0) await sleep((this.opts.retryBackoffMs ?? 50) * 2 ** (attempt - 1), client.signal);
      const w = fixed ?? this.pick(route, tried);
      if (!w) break;
      if (!w.breaker.allow()) {
        if (fixed) break;
        tried.add(w);
        continue;
      }
      tried.add(w);
      w.inflight++;
      this.metrics.request(w.url, path);
      let done = false;
      try {
        const a = await send(w, req.method, req.url, this.raw.get(req) ?? null, req.headers["content-type"], client.signal,
          this.opts.upstreamTimeoutMs ?? 600_000);
        if (a.kind === "failed") {
          w.breaker.failure();
          last = `${w.url}: ${a.message}`;
          this.metrics.retry(w.url, a.status === null ? "connect" : "status");
          if (fixed) break;
          continue;
        }
        w.breaker.success();
        reply.hijack();
        done = true;
        let sniffed = path !== "/v1/responses";
        await pipeAnswer(a.res, reply.raw, (chunk) => {
          if (sniffed) return;
          sniffed = true;
          this.remember(chunk, w.url);
        });
        return;
      } catch (err) {
        if (client.signal.aborted) return;
        if (done) return;
        w.breaker.failure();
        last = `${w.url}: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        w.inflight--;
      }
      if (fixed) break;
    }
    if (client.signal.aborted) return;
    this.metrics.failure(tried.size === 0 ? "no_worker" : "upstream");
    sendError(reply, tried.size === 0
      ? new ApiError(503, "No worker is available.", "server_error", null, "no_worker", { "retry-after": "1" })
      : new ApiError(502, `No worker could take the request (${last.slice(0, 300)}).`, "server_error", null, "upstream_failed"));
  }

  /** The policy's pick among the usable workers not tried yet (or any usable one when all were). */
  private pick(route: RouteRequest | undefined, tried: ReadonlySet<Worker>): Worker | null {
    const usable = this.pool.usable();
    const fresh = usable.filter((w) => !tried.has(w));
    if (fresh.length === 0) return null;
    const d = this.policy.pick(route ?? { keys: [], salt: "" }, fresh);
    this.metrics.decision(d.reason);
    return d.worker;
  }

  /** A stored response's id, from the first chunk of its answer, and the worker that holds it. */
  private remember(chunk: Uint8Array, url: string): void {
    const m = /"id":"(resp_[A-Za-z0-9_-]{1,200})"/.exec(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 8192)).toString("latin1"));
    if (!m) return;
    if (this.sticky.size >= MAX_STICKY) this.sticky.delete(this.sticky.keys().next().value!);
    this.sticky.set(m[1]!, url);
  }

  /** Sends the request to every worker; answers with each one's status and body. */
  private async broadcast(req: FastifyRequest, reply: FastifyReply, path: string): Promise<Record<string, unknown>> {
    const body = this.raw.get(req) ?? null;
    const results = await Promise.all(this.pool.all.map(async (w) => {
      const a = await send(w, "POST", path, body, req.headers["content-type"], AbortSignal.timeout(30_000), 30_000).catch((err: unknown) => ({ kind: "failed" as const, status: null, message: String(err) }));
      if (a.kind === "failed") return { worker: w.url, status: a.status ?? 502, error: a.message };
      const text = await a.res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { worker: w.url, status: a.res.status, body: parsed };
    }));
    const failed = results.some((r) => r.status >= 300);
    reply.code(failed ? (results.every((r) => r.status === 400) ? 400 : 502) : 200);
    return { workers: results };
  }

  async listen(host = "127.0.0.1", port = 30000): Promise<string> {
    await this.app.listen({ host, port });
    this.pool.start();
    const a = this.app.server.address() as AddressInfo;
    return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.maintainer);
    this.mirror?.close();
    this.pool.stop();
    await this.app.close();
  }
}
