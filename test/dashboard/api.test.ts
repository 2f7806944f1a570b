// The dashboard's API over a real server: the tree as a snapshot and as deltas (a shared
// prefix is one node with the prefix's token count), bounds on every query parameter (400s in
// the OpenAI format), the API key (the page's files open, the API not), salted namespaces
// (hashed, and only with a key), a finished request's path, the live stream, the requests in
// flight, the page's files and uPlot's, and --no-dashboard.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { envelope, get, post, spawnServe, start, until, withExtra, type Running } from "../server/harness.js";
import type { TreeMessage, TreeNodeJson } from "../../src/server/dashboard/tree-feed.js";
import type { StatsSample } from "../../src/server/dashboard/stats-feed.js";
import { MAX_STREAMS } from "../../src/server/dashboard/routes.js";
import { common, ids } from "./prompt-ids.js";

const T = { timeout: 120_000 };
const PREFIX = "You are a careful assistant. Answer in one short sentence, and never make anything up. ";

type Snapshot = Extract<TreeMessage, { type: "snapshot" }>;

async function tree(url: string, query = "", headers: Record<string, string> = {}): Promise<TreeMessage> {
  const r = await get(`${url}/dashboard/api/tree${query}`, headers);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as TreeMessage;
}

async function snapshot(url: string, query = "", headers: Record<string, string> = {}): Promise<Snapshot> {
  const t = await tree(url, query, headers);
  assert.equal(t.type, "snapshot");
  return t as Snapshot;
}


const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

describe("the dashboard API", () => {
  let srv: Running;
  before(async () => {
    srv = await start();
  });
  after(async () => {
    await srv.close();
  });

  test("a shared prefix is one node with the prefix's token count; deltas carry only what changed", T, async () => {
    const empty = await snapshot(srv.url);
    assert.equal(empty.total_tokens, 0);
    assert.deepEqual(empty.nodes, []);
    const prompts = [PREFIX + "What colour is the sky?", PREFIX + "How many legs has a spider?"];
    for (const prompt of prompts) await srv.client.completions.create({ model: "tiny-test", prompt, max_tokens: 4, temperature: 0 });
    const shared = common(await ids(srv.url, prompts[0]!), await ids(srv.url, prompts[1]!));
    assert.ok(shared > 10, `the prompts share ${shared} tokens`);
    await settle();
    const snap = await snapshot(srv.url);
    assert.equal(snap.radix_cache, true);
    assert.deepEqual(snap.namespaces.map((n) => n.name), ["shared"]);
    const root = snap.namespaces[0]!.root;
    const top = snap.nodes.filter((n) => n.parent === root);
    assert.equal(top.length, 1);
    const node = top[0]!;
    assert.equal(node.tokens, shared);
    assert.equal(node.depth, 0);
    assert.equal(node.state, "evictable");
    assert.ok(node.hits >= 2, `hits ${node.hits}`);
    assert.equal(snap.nodes.filter((n) => n.parent === node.id).length, 2);
    assert.ok(node.text.length > 0 && PREFIX.startsWith(node.text.replace(/…$/, "").trimStart().slice(0, 10)), node.text);
    // Tokens under the shared node: its own and both branches'.
    const children = snap.nodes.filter((n) => n.parent === node.id);
    assert.equal(node.under, node.tokens + children.reduce((a, c) => a + c.under, 0));
    assert.equal(snap.total_tokens, node.under);
    // Nothing changed: a delta from the version held is empty.
    await settle();
    const same = await tree(srv.url, `?since=${snap.version}`);
    assert.equal(same.type, "delta");
    if (same.type !== "delta") return;
    assert.equal(same.version, snap.version);
    assert.deepEqual([same.upserts, same.removed], [[], []]);
    // A third request splits the shared node no further but adds a branch: the delta names the new node and the touched ones.
    await srv.client.completions.create({ model: "tiny-test", prompt: PREFIX + "Why is the sea salty?", max_tokens: 4, temperature: 0 });
    await settle();
    const d = await tree(srv.url, `?since=${snap.version}`);
    assert.equal(d.type, "delta");
    if (d.type !== "delta") return;
    assert.equal(d.base, snap.version);
    assert.ok(d.version > snap.version);
    const before = new Set(snap.nodes.map((n) => n.id));
    const added = d.upserts.filter((n) => !before.has(n.id));
    assert.ok(added.length >= 1);
    assert.ok(d.upserts.some((n) => n.id === node.id && n.hits > node.hits));
    assert.deepEqual(d.removed, []);
    // Applied to the snapshot, the delta gives the snapshot taken now.
    const applied = new Map<number, TreeNodeJson>(snap.nodes.map((n) => [n.id, n]));
    for (const n of d.upserts) applied.set(n.id, n);
    for (const id of d.removed) applied.delete(id);
    const now = await snapshot(srv.url);
    assert.equal(now.version, d.version);
    assert.deepEqual([...applied.values()].sort((a, b) => a.id - b.id), [...now.nodes].sort((a, b) => a.id - b.id));
    // A version the server no longer knows gets a snapshot.
    assert.equal((await tree(srv.url, "?since=999999")).type, "snapshot");
  });

  test("max_nodes bounds the view to the largest nodes, parents first", T, async () => {
    const small = await snapshot(srv.url, "?max_nodes=2");
    assert.equal(small.nodes.length, 2);
    assert.equal(small.truncated, true);
    assert.equal(small.nodes[0]!.state, "root");
    const shown = new Set(small.nodes.map((n) => n.id));
    for (const n of small.nodes) if (n.parent !== 0) assert.ok(shown.has(n.parent));
    assert.ok(small.nodes[1]!.more > 0 || small.nodes[0]!.more === 0);
    const all = await snapshot(srv.url, "?max_nodes=5000");
    assert.equal(all.truncated, false);
    assert.ok(all.nodes.length > 2);
  });

  test("every query parameter is bounded: 400s in the OpenAI format, naming it", T, async () => {
    const cases: [string, string][] = [
      ["tree?max_nodes=0", "max_nodes"], ["tree?max_nodes=5001", "max_nodes"], ["tree?max_nodes=abc", "max_nodes"],
      ["tree?max_nodes=1&max_nodes=2", "max_nodes"], ["tree?since=-1", "since"], ["tree?depth=3", "depth"],
      ["stream?interval_ms=10", "interval_ms"], ["stream?interval_ms=60000", "interval_ms"], ["stream?max_nodes=1e3", "max_nodes"],
      ["requests?limit=5", "limit"], ["stats?x=1", "x"], ["info?max_nodes=3", "max_nodes"],
    ];
    for (const [path, param] of cases) {
      const r = await get(`${srv.url}/dashboard/api/${path}`);
      assert.equal(r.status, 400, path);
      const e = envelope(r.body);
      assert.equal(e.param, param, path);
      assert.equal(e.type, "invalid_request_error");
    }
  });

  test("a finished request's path: the nodes its ids run through, and how many were cached", T, async () => {
    const c = await srv.client.completions.create({ model: "tiny-test", prompt: PREFIX + "Where do rivers go?", max_tokens: 5, temperature: 0 });
    const p = await get(`${srv.url}/dashboard/api/requests/${c.id}/path`);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.id, c.id);
    assert.equal(p.body.namespace, "shared");
    assert.equal(p.body.prompt_tokens, c.usage!.prompt_tokens);
    assert.equal(p.body.cached_tokens, c.usage!.prompt_tokens_details!.cached_tokens);
    assert.ok(p.body.cached_tokens > 10);
    assert.ok(p.body.node_ids.length >= 2);
    // All of it is in the tree but the last token sampled, whose KV no step computed.
    assert.equal(p.body.matched_tokens, p.body.tokens - 1);
    await settle();
    const snap = await snapshot(srv.url);
    const byId = new Map(snap.nodes.map((n) => [n.id, n]));
    // The path goes down the tree: each node the child of the one before it.
    for (let i = 1; i < p.body.node_ids.length; i++) assert.equal(byId.get(p.body.node_ids[i])!.parent, p.body.node_ids[i - 1]);
    const missing = await get(`${srv.url}/dashboard/api/requests/cmpl-nobody/path`);
    assert.equal(missing.status, 404);
    assert.equal(envelope(missing.body).code, "not_found");
  });

  test("the stream sends history, the tree, the requests, a stats sample each second, then tree deltas", T, async () => {
    const ac = new AbortController();
    const r = await fetch(`${srv.url}/dashboard/api/stream?interval_ms=250`, { signal: ac.signal });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type")!, /^text\/event-stream/);
    const events: [string, unknown][] = [];
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    /** Reads events until one satisfies `done` (or 10 s pass). */
    const readUntil = async (done: (name: string, data: unknown) => boolean): Promise<boolean> => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const { value, done: end } = await reader.read();
        if (end) return false;
        buf += decoder.decode(value, { stream: true });
        let at;
        let hit = false;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const name = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (!name || !data) continue;
          events.push([name, JSON.parse(data)]);
          if (done(name, events[events.length - 1]![1])) hit = true;
        }
        if (hit) return true;
      }
      return false;
    };
    assert.ok(await readUntil((name) => name === "stats"), "a stats event");
    assert.deepEqual(events.slice(0, 3).map((e) => e[0]), ["history", "tree", "requests"]);
    const first = events[1]![1] as TreeMessage;
    assert.equal(first.type, "snapshot");
    const s = events.find((e) => e[0] === "stats")![1] as StatsSample;
    assert.equal(s.kv.capacity, srv.engine.kvCapacity);
    assert.equal(s.kv.free + s.kv.evictable + s.kv.protected + s.kv.owned, s.kv.capacity);
    assert.ok(s.hit_rate_total > 0);
    assert.ok(s.ttft !== null && s.ttft.count > 0 && s.ttft.p99 >= s.ttft.p50);
    // A new request: the tree comes as a delta from what the stream sent, naming new nodes.
    await srv.client.completions.create({ model: "tiny-test", prompt: "Something else entirely, with no shared prefix at all.", max_tokens: 3 });
    assert.ok(await readUntil((name, d) => name === "tree" && (d as TreeMessage).type === "delta" &&
      (d as Extract<TreeMessage, { type: "delta" }>).upserts.some((n) => n.depth === 0 && n.state !== "root")), "a tree delta");
    const trees = events.filter((e) => e[0] === "tree").map((e) => e[1] as TreeMessage);
    // Each delta starts from the version the one before it ended at.
    for (let i = 1; i < trees.length; i++) {
      const t = trees[i]!;
      assert.equal(t.type, "delta");
      if (t.type === "delta") assert.equal(t.base, trees[i - 1]!.version);
    }
    ac.abort();
  });

  test(`at most ${MAX_STREAMS} streams are open at once: one more is a 429, and a closed one frees its place`, T, async () => {
    const open: AbortController[] = [];
    const openOne = async (): Promise<Response> => {
      const ac = new AbortController();
      const r = await fetch(`${srv.url}/dashboard/api/stream?interval_ms=10000`, { signal: ac.signal });
      if (r.status === 200) open.push(ac);
      return r;
    };
    try {
      for (let i = 0; i < MAX_STREAMS; i++) assert.equal((await openOne()).status, 200);
      const over = await openOne();
      assert.equal(over.status, 429);
      const body = (await over.json()) as { error: { type: string; code: string; message: string } };
      assert.equal(body.error.type, "rate_limit_error");
      assert.match(body.error.message, new RegExp(`${MAX_STREAMS} dashboard streams are open already`));
      open.pop()!.abort();
      // The server sees the close shortly after.
      const deadline = Date.now() + 5000;
      let again: Response;
      do {
        await new Promise((r) => setTimeout(r, 50));
        again = await openOne();
      } while (again.status === 429 && Date.now() < deadline);
      assert.equal(again.status, 200);
    } finally {
      for (const ac of open) ac.abort();
    }
  });

  test("requests in flight are listed with their prompt, cached prefix and tokens so far, and abort", T, async () => {
    const res = post(`${srv.url}/generate`, { text: PREFIX + "Count to a thousand.", rid: "dash-victim", sampling_params: { max_new_tokens: 1500, ignore_eos: true, temperature: 0 } });
    assert.ok(await until(() => srv.engine.requests().some((r) => r.id === "dash-victim" && r.outputTokens > 0), 20_000));
    const list = await get(`${srv.url}/dashboard/api/requests`);
    assert.equal(list.status, 200);
    const row = (list.body.data as { id: string; status: string; prompt_tokens: number; cached_tokens: number; output_tokens: number; namespace: string }[]).find((r) => r.id === "dash-victim");
    assert.ok(row, JSON.stringify(list.body));
    assert.equal(row.status, "running");
    assert.ok(row.prompt_tokens > 10);
    assert.ok(row.cached_tokens > 10, `cached ${row.cached_tokens}`);
    assert.ok(row.output_tokens > 0);
    assert.equal(row.namespace, "shared");
    assert.deepEqual((await post(`${srv.url}/abort_request`, { rid: "dash-victim" })).body, { aborted: 1 });
    const done = await res;
    assert.equal(done.body.meta_info.finish_reason.type, "abort");
  });

  test("the page and uPlot are served from the package, with a policy that allows only this server", T, async () => {
    const page = await fetch(`${srv.url}/dashboard`, { redirect: "manual" });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get("location"), "/dashboard/");
    const html = await fetch(`${srv.url}/dashboard/`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get("content-type")!, /text\/html/);
    assert.match(html.headers.get("content-security-policy")!, /default-src 'self'/);
    const text = await html.text();
    assert.doesNotMatch(text, /https?:\/\//);
    for (const f of ["app.js", "tree.js", "charts.js", "api.js", "requests.js", "playground.js", "style.css", "vendor/uplot/uPlot.esm.js", "vendor/uplot/uPlot.min.css"]) {
      const r = await fetch(`${srv.url}/dashboard/${f}`);
      assert.equal(r.status, 200, f);
      const body = await r.text();
      if (f.endsWith(".js") && !f.startsWith("vendor")) assert.doesNotMatch(body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, f);
    }
    assert.equal((await fetch(`${srv.url}/dashboard/vendor/uplot/uPlot.cjs.js`)).status, 404);
    assert.equal((await fetch(`${srv.url}/dashboard/../package.json`)).status, 404);
  });
});

describe("the dashboard and the API key", () => {
  const KEY = "dash-key";
  let srv: Running;
  before(async () => {
    srv = await start({}, { apiKey: KEY });
  });
  after(async () => {
    await srv.close();
  });

  test("the page opens without the key; the API wants it; salted namespaces show hashed, never raw", T, async () => {
    assert.equal((await fetch(`${srv.url}/dashboard/`)).status, 200);
    assert.equal((await fetch(`${srv.url}/dashboard/app.js`)).status, 200);
    for (const p of ["info", "tree", "requests", "stats", "stream", "requests/x/path"]) {
      const r = await get(`${srv.url}/dashboard/api/${p}`);
      assert.equal(r.status, 401, p);
      assert.equal(envelope(r.body).code, "missing_api_key");
    }
    assert.equal((await get(`${srv.url}/dashboard/api/tree`, { authorization: "Bearer wrong" })).status, 401);
    assert.equal((await post(`${srv.url}/abort_request`, { rid: "x" })).status, 401);
    const salt = "tenant-secret-salt";
    await srv.client.completions.create(withExtra({ model: "tiny-test", prompt: PREFIX + "salted", max_tokens: 2 }, { cache_salt: salt }));
    await srv.client.completions.create({ model: "tiny-test", prompt: PREFIX + "plain", max_tokens: 2 });
    await settle();
    const auth = { authorization: `Bearer ${KEY}` };
    const r = await get(`${srv.url}/dashboard/api/tree`, auth);
    assert.equal(r.status, 200);
    const names = (r.body as Snapshot).namespaces.map((n) => n.name).sort();
    assert.equal(names.length, 2);
    assert.equal(names[1], "shared");
    assert.match(names[0]!, /^ns-[0-9a-f]{12}$/);
    assert.equal((r.body as Snapshot).hidden_namespaces, 0);
    assert.doesNotMatch(JSON.stringify(r.body), new RegExp(salt));
    const info = await get(`${srv.url}/dashboard/api/info`, auth);
    assert.equal(info.body.salted_namespaces_shown, true);
  });
});

describe("the dashboard without an API key", () => {
  let srv: Running;
  before(async () => {
    srv = await start();
  });
  after(async () => {
    await srv.close();
  });

  test("salted namespaces are left out (counted, never named); their requests' paths are not found", T, async () => {
    const c = await srv.client.completions.create(withExtra({ model: "tiny-test", prompt: PREFIX + "salted", max_tokens: 2 }, { cache_salt: "s1" }));
    await settle();
    const snap = await snapshot(srv.url);
    assert.deepEqual(snap.namespaces, []);
    assert.equal(snap.hidden_namespaces, 1);
    assert.deepEqual(snap.nodes, []);
    assert.equal((await get(`${srv.url}/dashboard/api/requests/${c.id}/path`)).status, 404);
  });
});

describe("the dashboard without the radix cache", () => {
  let srv: Running;
  before(async () => {
    srv = await start({ disableRadixCache: true });
  });
  after(async () => {
    await srv.close();
  });

  test("the tree says the cache is off; a finished request's path is empty", T, async () => {
    const c = await srv.client.completions.create({ model: "tiny-test", prompt: PREFIX, max_tokens: 2 });
    const snap = await snapshot(srv.url);
    assert.equal(snap.radix_cache, false);
    assert.deepEqual(snap.nodes, []);
    assert.equal((await get(`${srv.url}/dashboard/api/info`)).body.radix_cache, false);
    const p = await get(`${srv.url}/dashboard/api/requests/${c.id}/path`);
    assert.equal(p.status, 200);
    assert.deepEqual([p.body.node_ids, p.body.matched_tokens, p.body.cached_tokens], [[], 0, 0]);
  });
});

describe("radixlm serve --no-dashboard", () => {
  test("answers 404 for the page and its API; without the flag the ready lines name the dashboard", T, async () => {
    const off = await spawnServe(["--no-dashboard", "--port", "0", "--no-warmup"]);
    try {
      for (const p of ["/dashboard", "/dashboard/", "/dashboard/app.js", "/dashboard/api/tree", "/dashboard/api/stream"]) {
        assert.equal((await fetch(`${off.url}${p}`)).status, 404, p);
      }
      assert.ok(!off.stdout.join("").includes("dashboard at"));
      assert.equal((await get(`${off.url}/get_server_info`)).body.dashboard, false);
    } finally {
      off.kill("SIGTERM");
      await off.exit;
    }
    const on = await spawnServe(["--port", "0", "--no-warmup"]);
    try {
      assert.equal((await fetch(`${on.url}/dashboard/`)).status, 200);
      assert.ok(await until(() => on.stdout.join("").includes(`dashboard at ${on.url}/dashboard/`), 5000), on.stdout.join(""));
    } finally {
      on.kill("SIGTERM");
      await on.exit;
    }
  });
});
