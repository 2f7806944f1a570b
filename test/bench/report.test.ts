import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { tempDir, testModel } from "../helpers/models.js";
import { renderSvg } from "../../src/bench/svg.js";
import type { ServeReport } from "../../src/bench/serve-report.js";
import { cliAsync } from "./cli-async.js";
import { startFake, type FakeServer } from "./fake-server.js";

let server: FakeServer;
let tokPath: string;
const dir = (): string => tempDir();

before(async () => {
  server = await startFake({ ttftMs: 30, itlMs: 5 });
  tokPath = await testModel("bench-tok", { arch: "llama", format: "gguf", dtype: "f32", seed: 1 });
});
after(() => server.close());

const SMALL = ["--groups", "2", "--prompts-per-group", "2", "--system-prompt-len", "20", "--question-len", "5", "--output-len", "4"];

/** The series groups of an SVG document (after checking it is well-formed XML). */
function seriesOf(file: string): { label: string; marks: number }[] {
  const xml = fs.readFileSync(file, "utf8");
  assert.equal(XMLValidator.validate(xml), true, "the SVG is well-formed XML");
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", isArray: (name) => ["g", "polyline", "rect", "text"].includes(name) }).parse(xml);
  assert.equal(doc.svg["@_xmlns"], "http://www.w3.org/2000/svg");
  const groups = (doc.svg.g as Record<string, unknown>[]).filter((g) => g["@_class"] === "series");
  return groups.map((g) => {
    assert.equal(g.title, g["@_data-label"], "each series names its run");
    return { label: g["@_data-label"] as string, marks: ((g.polyline as unknown[]) ?? []).length + ((g.rect as unknown[]) ?? []).length };
  });
}

test("bench serve writes a table, a JSON with every metric and an SVG with one labelled series", async () => {
  const json = path.join(dir(), "alpha.json");
  const svg = path.join(dir(), "alpha.svg");
  const r = await cliAsync(["bench", "serve", "--base-url", `${server.url}/v1`, "--tokenizer", tokPath, ...SMALL, "--json", json, "--svg", svg, "--label", "alpha & co"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "", "no progress bar when stderr is not a terminal");
  for (const k of ["request throughput", "output token throughput", "TTFT ms", "ITL ms", "TPOT ms", "E2E latency ms", "cache hit rate"]) assert.match(r.stdout, new RegExp(k));
  const j = JSON.parse(fs.readFileSync(json, "utf8")) as Record<string, any>;
  for (const k of ["kind", "version", "label", "base_url", "api", "model", "workload", "workload_options", "prompt_format", "request_rate", "max_concurrency",
    "tokenizer", "started_at", "duration_s", "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "request_throughput", "input_throughput",
    "output_throughput", "total_token_throughput", "ttft_ms", "itl_ms", "tpot_ms", "e2e_ms", "cache_hit_rate", "cache_hit_rates", "ideal_hit_rate", "samples"]) {
    assert.ok(k in j, `JSON lacks ${k}`);
  }
  assert.equal(j.kind, "radixlm-bench-serve");
  assert.equal(j.label, "alpha & co");
  assert.equal(j.base_url, server.url);
  assert.equal(j.model, "fake-model");
  assert.equal(j.request_rate, "inf");
  assert.deepEqual(j.requests, { total: 4, completed: 4, failed: 0, not_sent: 0 });
  assert.equal(j.output_tokens, 16);
  for (const m of ["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"]) {
    // (ITL quantiles may be 0: chunks that arrive in one read have no gap between them)
    for (const q of ["mean", "p50", "p90", "p99"]) assert.ok(Number.isFinite(j[m][q]) && j[m][q] >= 0, `${m}.${q} = ${j[m][q]}`);
    assert.ok(j[m].mean > 0, `${m}.mean = ${j[m].mean}`);
    assert.ok(Array.isArray(j.samples[m]) && j.samples[m].length > 0);
  }
  assert.ok(j.ttft_ms.p50 >= 30);
  for (const k of ["request_throughput", "input_throughput", "output_throughput", "total_token_throughput", "duration_s"]) assert.ok(j[k] > 0, k);
  assert.equal(j.cache_hit_rates.usage, 48 / 100);
  assert.equal(j.cache_hit_rates.metrics, 24 / 100);
  // two groups of two: the second prompt of each group could reuse its 20-token prefix
  assert.equal(j.ideal_hit_rate, 40 / 100);
  assert.deepEqual(seriesOf(svg), [{ label: "alpha & co", marks: 6 }]);
});

test("bench compare prints runs side by side with ratios and charts one series per run", async () => {
  const files = ["one", "two", "three"].map((n) => path.join(dir(), `cmp-${n}.json`));
  const apis = ["openai-completions", "openai-chat", "native"];
  for (let i = 0; i < 3; i++) {
    const r = await cliAsync(["bench", "serve", "--base-url", server.url, "--tokenizer", tokPath, ...SMALL, "--api", apis[i]!, "--json", files[i]!, "--label", `run-${i + 1}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  const svg = path.join(dir(), "cmp.svg");
  const c = await cliAsync(["bench", "compare", ...files, "--svg", svg]);
  assert.equal(c.code, 0, c.stderr);
  const lines = c.stdout.split("\n");
  assert.match(lines[0]!, /^metric\s+run-1\s+run-2\s+run-3$/);
  assert.match(c.stdout, /api\s+openai-completions\s+openai-chat\s+native/);
  const runs = JSON.parse(`[${files.map((f) => fs.readFileSync(f, "utf8")).join(",")}]`) as Record<string, any>[];
  const row = (name: string): string => lines.find((l) => l.startsWith(name))!;
  for (const name of ["request throughput", "output throughput", "TTFT mean", "TTFT p99", "ITL p50", "TPOT p90", "E2E mean", "cache hit rate"]) assert.ok(row(name), `no ${name} row`);
  // the ratio printed is the run's figure over the first run's
  const ratio = (runs[1]!.output_throughput / runs[0]!.output_throughput).toFixed(2);
  assert.match(row("output throughput"), new RegExp(`${runs[1]!.output_throughput.toFixed(1)} \\(${ratio}x\\)`));
  assert.match(row("completed requests"), /4\s+4 \(1\.00x\)\s+4 \(1\.00x\)/);
  assert.deepEqual(seriesOf(svg).map((s) => s.label), ["run-1", "run-2", "run-3"]);
  assert.ok(seriesOf(svg).every((s) => s.marks === 6));
});

test("the SVG escapes labels and marks a hit rate the server does not report as n/a", () => {
  const base = JSON.parse(fs.readFileSync(path.join(dir(), "alpha.json"), "utf8")) as ServeReport;
  const odd: ServeReport = { ...base, label: `<b>"x" & 'y'</b>`, cache_hit_rate: null, samples: { ...base.samples, itl_ms: [] } };
  const file = path.join(dir(), "odd.svg");
  fs.writeFileSync(file, renderSvg([base, odd]));
  assert.deepEqual(seriesOf(file).map((s) => s.label), ["alpha & co", `<b>"x" & 'y'</b>`]);
  // no ITL line for the run without ITL samples: two CDF lines and three bars
  assert.deepEqual(seriesOf(file).map((s) => s.marks), [6, 5]);
  assert.match(fs.readFileSync(file, "utf8"), />n\/a</);
});

test("bad input gets one line and exit code 2", async () => {
  const notReport = path.join(dir(), "not-report.json");
  fs.writeFileSync(notReport, JSON.stringify({ hello: 1 }));
  const cases: [string[], RegExp][] = [
    [["bench", "compare", notReport], /not a `radixlm bench serve --json` result/],
    [["bench", "compare", path.join(dir(), "missing.json")], /cannot read/],
    [["bench", "serve", "--base-url", server.url, "--api", "grpc"], /unknown --api "grpc"/],
    [["bench", "serve", "--base-url", "ftp://x"], /must be http or https/],
    [["bench", "serve", "--base-url", server.url, "--request-rate", "0"], /--request-rate must be > 0/],
    [["bench", "serve", "--base-url", server.url, "--workload", "nope"], /unknown workload "nope"/],
    [["bench", "serve", "--base-url", server.url, ...SMALL], /no --tokenizer given/],
    [["bench", "serve", "--base-url", server.url, "--tokenizer", tokPath, "--extra-body", "[1]"], /--extra-body must be a JSON object/],
  ];
  for (const [args, re] of cases) {
    const r = await cliAsync(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
