// The chart explains itself: a caption with the workload and its parameters, the model, the
// engines and the date; the ideal hit rate marked next to the measured one; latency axes that
// span the data; several engines' runs side by side in one SVG.
import { test } from "node:test";
import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { buildReport, type RequestRecord, type ServeReport } from "../../src/bench/serve-report.js";
import { niceRange, renderSvg } from "../../src/bench/svg.js";

type Node = Record<string, unknown>;

function run(label: string, engine: string | null, e2eMs: readonly number[], hit: number, ideal: number): ServeReport {
  const records: RequestRecord[] = e2eMs.map((e2e) => ({
    ok: true, error: null, ttftMs: e2e / 4, e2eMs: e2e, itlMs: [5, 6, 7], promptTokens: 100, outputTokens: 4, cachedTokens: Math.round(100 * hit),
  }));
  return buildReport({
    info: {
      label, base_url: "http://127.0.0.1:8080", api: "openai-completions", model: "Qwen/Qwen2.5-0.5B-Instruct",
      workload: "generated-shared-prefix",
      workload_options: { groups: 2, promptsPerGroup: 3, systemPromptLen: 100, questionLen: 16, outputLen: 4, conversations: 4, turns: 3, seed: 5 },
      prompt_format: "ids", request_rate: 4, max_concurrency: null, tokenizer: null, started_at: "2026-12-04T21:07:33.000Z", server_engine: engine,
    },
    records, total: records.length, durationS: 2, metrics: null, idealHitRate: ideal,
  });
}

function parse(svg: string): Node {
  assert.equal(XMLValidator.validate(svg), true, "well-formed XML");
  return new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", isArray: (name) => ["g", "text", "line", "rect", "polyline"].includes(name) }).parse(svg).svg as Node;
}

const texts = (g: Node): string[] => ((g.text as (Node | string)[] | undefined) ?? []).map((t) => (typeof t === "string" ? t : String(t["#text"])));
const groups = (svg: Node, cls: string): Node[] => (svg.g as Node[]).filter((g) => g["@_class"] === cls);

test("the caption names the runs, the workload and its parameters, the model, the engines and the date", () => {
  const runs = [run("radixlm", "radixlm", [400, 410, 470], 0.6, 0.55), run("llama.cpp", "llama.cpp", [420, 450, 480], 0.5, 0.55), run("vLLM", "vLLM", [430, 440, 460], 0.55, 0.55)];
  const svg = parse(renderSvg(runs));
  assert.deepEqual(texts(groups(svg, "caption")[0]!), [
    "radixlm bench serve: radixlm vs llama.cpp vs vLLM",
    "workload: generated-shared-prefix (groups 2, prompts/group 3, shared prefix 100 tok, question 16 tok, output 4 tok, seed 5), ids prompts, arrivals 4/s, concurrency unbounded",
    "model: Qwen/Qwen2.5-0.5B-Instruct; engines: radixlm, llama.cpp, vLLM; api: openai-completions; run 2026-12-04 21:07 UTC",
  ]);
  assert.deepEqual(texts(groups(svg, "legend")[0]!), ["radixlm (radixlm)", "llama.cpp (llama.cpp)", "vLLM (vLLM)", "ideal hit rate (an unbounded cache, empty at the start)"]);
  assert.deepEqual(groups(svg, "series").map((g) => g["@_data-label"]), ["radixlm", "llama.cpp", "vLLM"]);
});

test("each run's bar of hit rate carries its ideal, as a dashed line and a label", () => {
  const runs = [run("a", "radixlm", [100, 200], 0.6, 0.5), run("b", "radixlm", [100, 200], 0.2, 0.5)];
  const svg = parse(renderSvg(runs));
  for (const [i, g] of groups(svg, "series").entries()) {
    const ideal = (g.line as Node[]).filter((l) => l["@_class"] === "ideal");
    assert.equal(ideal.length, 1, "one ideal mark per run");
    assert.equal(ideal[0]!["@_data-value"], "50.00");
    assert.ok(texts(g).includes("ideal 50"), `${JSON.stringify(texts(g))}`);
    assert.ok(texts(g).includes(i === 0 ? "60" : "20"), "the measured figure too");
  }
  // A run whose measured and ideal figures are both labelled, on an axis of 0..100%.
  const hitAxes = groups(svg, "axes")[5]!;
  assert.equal(texts(hitAxes)[0], "Cache hit rate (measured, and ideal)");
  assert.deepEqual(texts(hitAxes).slice(1, 6), ["0", "25", "50", "75", "100"]);
});

test("latency axes span the data: end-to-end times bunched far from 0 are not squeezed to the right edge", () => {
  const svg = parse(renderSvg([run("a", null, [400, 410, 430, 470, 480], 0.5, 0.5)]));
  const e2e = groups(svg, "axes")[2]!;
  assert.equal(texts(e2e)[0], "End-to-end latency (CDF)");
  const xTicks = texts(e2e).slice(6, -1);
  assert.deepEqual(xTicks, ["400", "420", "440", "460", "480"]);
  assert.equal(texts(e2e).at(-1), "ms (y: share of requests)");
  // Data near 0 keeps its 0.
  assert.deepEqual(niceRange(10, 95), [0, 25, 50, 75, 100]);
  assert.deepEqual(niceRange(1000, 1180), [1000, 1050, 1100, 1150, 1200]);
  // The caption says when the engine is not known.
  assert.match(texts(groups(svg, "caption")[0]!)[2]!, /engine: engine not reported/);
});
