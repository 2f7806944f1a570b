// The router across hosts for real: the router, the workers and the client each in a network
// namespace of their own, joined by veth pairs to a bridge in a fifth, with addresses that
// exist only inside them (10.77.0.0/24). Made and removed by the test; it needs root and
// `ip` (iproute2), and skips with a message elsewhere.
//
// A worker killed mid-load loses no request: those not yet answered are retried on another
// worker, those it was streaming end with an error event; its breaker opens. A worker added
// at run time takes requests. A client that disconnects stops the worker's request.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { modelPath } from "../server/harness.js";

const tag = `r${process.pid % 100000}`;
const NS = { bridge: `${tag}b`, router: `${tag}r`, client: `${tag}c`, workers: [0, 1, 2, 3].map((i) => `${tag}w${i}`) };
const ADDR = { router: "10.77.0.2", client: "10.77.0.3", workers: [0, 1, 2, 3].map((i) => `10.77.0.${11 + i}`) };

function ip(...args: string[]): { ok: boolean; err: string } {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  return { ok: r.status === 0, err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

function why(): string | false {
  if (process.platform !== "linux") return "network namespaces are Linux's";
  if (process.getuid?.() !== 0) return "making network namespaces needs root";
  const probe = `${tag}p`;
  const r = ip("netns", "add", probe);
  if (!r.ok) return `ip netns add fails here (${r.err.trim().split("\n")[0]})`;
  ip("netns", "del", probe);
  return false;
}
const skip = why();

function makeNet(): void {
  ip("netns", "add", NS.bridge);
  ip("-n", NS.bridge, "link", "add", "br0", "type", "bridge");
  ip("-n", NS.bridge, "link", "set", "br0", "up");
  const hosts: [string, string][] = [[NS.router, ADDR.router], [NS.client, ADDR.client], ...NS.workers.map((n, i): [string, string] => [n, ADDR.workers[i]!])];
  hosts.forEach(([ns, addr], i) => {
    const must = (...a: string[]): void => {
      const r = ip(...a);
      if (!r.ok) throw new Error(`ip ${a.join(" ")}: ${r.err}`);
    };
    must("netns", "add", ns);
    must("link", "add", `${tag}h${i}`, "type", "veth", "peer", "name", `${tag}s${i}`);
    must("link", "set", `${tag}h${i}`, "netns", ns);
    must("link", "set", `${tag}s${i}`, "netns", NS.bridge);
    must("-n", NS.bridge, "link", "set", `${tag}s${i}`, "master", "br0");
    must("-n", NS.bridge, "link", "set", `${tag}s${i}`, "up");
    must("-n", ns, "addr", "add", `${addr}/24`, "dev", `${tag}h${i}`);
    must("-n", ns, "link", "set", `${tag}h${i}`, "up");
    must("-n", ns, "link", "set", "lo", "up");
  });
}

function removeNet(): void {
  for (const ns of [NS.router, NS.client, ...NS.workers, NS.bridge]) ip("netns", "del", ns);
}

const bin = path.resolve(process.cwd(), "bin/radixlm.js");

/** A command in a namespace that prints a line matching `ready`; resolves once it has. */
function startIn(ns: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} in ${ns} printed no ready line in 60 s: ${stderr}`)), 60_000);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!ready.test(line)) return;
      clearTimeout(timer);
      resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} in ${ns} exited with ${code}: ${stderr}`)));
  });
}

function startWorker(i: number, model: string): Promise<ChildProcess> {
  return startIn(NS.workers[i]!, ["serve", "--model", model, "--host", ADDR.workers[i]!, "--port", "30000", "--threads", "1",
    "--max-total-tokens", "4096", "--log-interval", "0", "--no-warmup"], /serving .* at http/);
}

/** Runs the client script in the client's namespace; its JSON answer. */
function client<T>(command: string, args: Record<string, unknown>): Promise<T> {
  const script = path.resolve(process.cwd(), "dist-test/test/router/netns-client.js");
  const child = spawn("ip", ["netns", "exec", NS.client, process.execPath, script, command, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`client ${command}: ${err}`)))));
}

const ROUTER = `http://${ADDR.router}:30000`;
const workerUrl = (i: number): string => `http://${ADDR.workers[i]}:30000`;

describe("router across network namespaces", { skip }, () => {
  const children: ChildProcess[] = [];
  let model = "";
  before(async () => {
    model = await modelPath();
    removeNet();
    makeNet();
    for (let i = 0; i < 3; i++) children.push(await startWorker(i, model));
    children.push(await startIn(NS.router, ["route", ...[0, 1, 2].flatMap((i) => ["--worker", workerUrl(i)]), "--host", ADDR.router, "--port", "30000",
      "--policy", "round-robin", "--breaker-failures", "2", "--breaker-cooldown", "600", "--health-check-interval", "600", "--retry-backoff", "0.01"], /routing at/));
  });
  after(() => {
    for (const c of children) c.kill("SIGKILL");
    removeNet();
  });

  test("a worker killed mid-load loses no request, and its breaker opens", async () => {
    const load = client<{ outcome: string; detail?: string }[]>("load", { router: ROUTER, n: 24 });
    await new Promise((r) => setTimeout(r, 400));
    children[1]!.kill("SIGKILL");
    const results = await load;
    const lost = results.filter((r) => r.outcome === "lost");
    assert.deepEqual(lost, [], "every request was answered or ended with a clean error");
    assert.ok(results.filter((r) => r.outcome === "ok").length >= 16, JSON.stringify(results));
    // New requests try the dead worker until its breaker opens; all are served by the others.
    const after = await client<{ outcome: string }[]>("load", { router: ROUTER, n: 6 });
    assert.ok(after.every((r) => r.outcome === "ok"), JSON.stringify(after));
    const workers = await client<{ body: { workers: { url: string; breaker: string }[] } }>("get", { url: `${ROUTER}/workers` });
    assert.equal(workers.body.workers.find((w) => w.url === workerUrl(1))!.breaker, "open");
  });

  test("a worker added at run time takes requests", async () => {
    children.push(await startWorker(3, model));
    const add = await client<{ status: number }>("post", { url: `${ROUTER}/workers`, body: { url: workerUrl(3) } });
    assert.equal(add.status, 201);
    const results = await client<{ outcome: string }[]>("load", { router: ROUTER, n: 6 });
    assert.ok(results.every((r) => r.outcome === "ok"));
    const info = await client<{ body: { stats: { promptTokensTotal: number } } }>("get", { url: `${workerUrl(3)}/get_server_info` });
    assert.ok(info.body.stats.promptTokensTotal > 0, "the new worker computed prompts");
  });

  test("a client that disconnects stops the worker's request", async () => {
    const generated = async (): Promise<number> => (await Promise.all([0, 2, 3].map((i) =>
      client<{ body: { stats: { generatedTokensTotal: number } } }>("get", { url: `${workerUrl(i)}/get_server_info` })))).reduce((a, x) => a + x.body.stats.generatedTokensTotal, 0);
    const before = await generated();
    const r = await client<{ status: number }>("disconnect", { router: ROUTER });
    assert.equal(r.status, 200);
    const deadline = Date.now() + 10_000;
    let inflight = -1;
    while (Date.now() < deadline) {
      const infos = await Promise.all([0, 2, 3].map((i) => client<{ body: { inflight_requests: number } }>("get", { url: `${workerUrl(i)}/get_server_info` })));
      inflight = infos.reduce((a, x) => a + x.body.inflight_requests, 0);
      if (inflight === 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(inflight, 0);
    // It asked for 1,500 tokens: stopped long before.
    assert.ok((await generated()) - before < 1000, "the worker stopped generating");
  });
});
