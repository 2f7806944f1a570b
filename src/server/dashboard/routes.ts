// The dashboard's server side (see README, Dashboard): its page (assets.ts) and its API under
// /dashboard/api/, read-only views of the engine:
//   GET info              what the page needs to know first (model, pool, whether salts show)
//   GET tree              the radix tree: a snapshot, or a delta from `since` (tree-feed.ts)
//   GET requests          the samples in flight
//   GET requests/:id/path where a finished request's ids run in the tree (the playground's highlight)
//   GET stats             the last ten minutes of samples (stats-feed.ts)
//   GET stream            all of it live, as server-sent events: history, stats, tree, requests
// The key check and the OpenAI error format are the server's (http.ts); aborting is the
// existing POST /abort_request. Everything here is computed at a bounded rate and sized by
// what is shown, so that any number of open pages costs the engine nothing it waits on.
import type { FastifyInstance } from "fastify";
import type { ServerResponse } from "node:http";
import type { Engine } from "../../engine/engine.js";
import { ApiError } from "../errors.js";
import { openEventStream } from "../sse.js";
import type { Serving } from "../serving.js";
import { registerDashboardAssets } from "./assets.js";
import { INTERVAL_MS, intParam, MAX_NODES, onlyParams, SINCE } from "./params.js";
import { StatsFeed, type StatsSample } from "./stats-feed.js";
import { namespaceName, TreeFeed } from "./tree-feed.js";

export interface DashboardDeps {
  readonly serving: () => Serving;
  /** The engine once attached. */
  readonly engine: () => Engine | null;
  /** The server has an API key: every caller gave it, so salted namespaces are shown (hashed). */
  readonly keyed: boolean;
  readonly name: string;
}

/** Most requests one list holds. */
const MAX_REQUESTS = 200;
/** Most live streams open at once: each is a timer and a view per tick, so they are bounded. */
export const MAX_STREAMS = 32;

export interface RequestJson {
  readonly id: string;
  readonly sample_id: string;
  readonly status: string;
  readonly prompt_tokens: number;
  /** Prompt tokens the cache served; null until admitted. */
  readonly cached_tokens: number | null;
  readonly output_tokens: number;
  readonly age_ms: number;
  /** Its namespace's name (tree-feed.ts); null where salts are not shown. */
  readonly namespace: string | null;
}

export class Dashboard {
  readonly stats: StatsFeed;
  private readonly tree: TreeFeed;
  private readonly streams = new Set<ServerResponse>();

  constructor(private readonly deps: DashboardDeps) {
    this.stats = new StatsFeed(() => deps.engine()?.stats() ?? null);
    this.tree = new TreeFeed(deps.engine, deps.keyed);
  }

  async register(app: FastifyInstance): Promise<void> {
    await registerDashboardAssets(app);
    this.stats.start();
    const api = "/dashboard/api";
    app.get(`${api}/info`, async (req) => {
      onlyParams(req.query, []);
      const s = this.deps.serving();
      return {
        object: "dashboard.info", model: this.deps.name, context_length: s.contextLength, kv_capacity: s.engine.kvCapacity,
        radix_cache: s.engine.cacheTiers !== null, salted_namespaces_shown: this.deps.keyed,
        max_nodes: MAX_NODES, interval_ms: INTERVAL_MS,
      };
    });
    app.get(`${api}/tree`, async (req) => {
      onlyParams(req.query, ["max_nodes", "since"]);
      const maxNodes = intParam(req.query, "max_nodes", MAX_NODES);
      const since = intParam(req.query, "since", SINCE);
      this.deps.serving();
      return this.tree.message(maxNodes, since);
    });
    app.get(`${api}/requests`, async (req) => {
      onlyParams(req.query, []);
      return this.requests(this.deps.serving().engine);
    });
    app.get<{ Params: { id: string } }>(`${api}/requests/:id/path`, async (req) => {
      const engine = this.deps.serving().engine;
      const id = req.params.id;
      const done = id.length <= 256 ? engine.finishedRequest(id) : undefined;
      if (!done || (done.salt !== "" && !this.deps.keyed)) {
        throw new ApiError(404, `No recently finished request has the id '${id.slice(0, 256)}'.`, "invalid_request_error", "id", "not_found");
      }
      const path = engine.locate(done.ids, done.salt);
      return {
        object: "dashboard.path", id, namespace: namespaceName(done.salt), tokens: done.ids.length, prompt_tokens: done.promptTokens,
        cached_tokens: done.cachedTokens, matched_tokens: path?.matched ?? 0, node_ids: path?.nodeIds ?? [],
      };
    });
    app.get(`${api}/stats`, async (req) => {
      onlyParams(req.query, []);
      this.deps.serving();
      return { object: "list", data: this.stats.history() };
    });
    app.get(`${api}/stream`, async (req, reply) => {
      onlyParams(req.query, ["max_nodes", "interval_ms", "since"]);
      const maxNodes = intParam(req.query, "max_nodes", MAX_NODES);
      const interval = intParam(req.query, "interval_ms", INTERVAL_MS);
      const since = intParam(req.query, "since", SINCE);
      const engine = this.deps.serving().engine;
      if (this.streams.size >= MAX_STREAMS) {
        throw new ApiError(429, `${MAX_STREAMS} dashboard streams are open already; close one and retry.`, "rate_limit_error", null, "rate_limit_exceeded", { "retry-after": "5" });
      }
      this.stream(openEventStream(reply), engine, maxNodes, interval, since);
    });
  }

  private requests(engine: Engine): { object: "list"; data: RequestJson[]; total: number } {
    const all = engine.requests();
    // Running first, then the rest, oldest first within each.
    all.sort((a, b) => Number(b.status === "running") - Number(a.status === "running") || b.ageMs - a.ageMs);
    const data = all.slice(0, MAX_REQUESTS).map((r): RequestJson => ({
      id: r.id, sample_id: r.sampleId, status: r.status === "waiting" || r.status === "parked" ? "queued" : r.status,
      prompt_tokens: r.promptTokens, cached_tokens: r.cachedTokens >= 0 ? r.cachedTokens : null, output_tokens: r.outputTokens,
      age_ms: Math.round(r.ageMs), namespace: r.salt === "" || this.deps.keyed ? namespaceName(r.salt) : null,
    }));
    return { object: "list", data, total: all.length };
  }

  private stream(res: ServerResponse, engine: Engine, maxNodes: number, interval: number, since: number): void {
    this.streams.add(res);
    const send = (event: string, data: unknown): void => {
      if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let version = since;
    let lastRequests = "";
    const tick = (): void => {
      // A client that does not keep up skips ticks; its next delta starts from what it has.
      if (res.writableNeedDrain) return;
      const tree = this.tree.message(maxNodes, version);
      if (tree.type === "snapshot" || tree.version !== version) send("tree", tree);
      version = tree.version;
      const reqs = JSON.stringify(this.requests(engine));
      if (reqs !== lastRequests) res.write(`event: requests\ndata: ${reqs}\n\n`);
      lastRequests = reqs;
    };
    send("history", this.stats.history());
    tick();
    const timer = setInterval(tick, interval);
    let beats = 0;
    const unlisten = this.stats.listen((s: StatsSample) => {
      if (!res.writableNeedDrain) send("stats", s);
      // A comment now and then keeps proxies from closing a quiet stream.
      if (++beats % 15 === 0) res.write(": keep-alive\n\n");
    });
    res.on("close", () => {
      clearInterval(timer);
      unlisten();
      this.streams.delete(res);
    });
  }

  /** Ends every open stream and stops sampling (the server is draining). */
  close(): void {
    this.stats.stop();
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}
