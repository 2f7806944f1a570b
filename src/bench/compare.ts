// `radixlm bench compare`: `bench serve` runs side by side, every figure with its ratio to
// the first run's (B / A: above 1 is more throughput, or more latency).
import fs from "node:fs";
import { SUMMARY_METRICS, type ServeReport } from "./serve-report.js";

/** Reads one `bench serve --json` file; throws a one-line error for anything else. */
export function readReport(file: string): ServeReport {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not JSON`);
  }
  const r = v as Partial<ServeReport> | null;
  if (!r || typeof r !== "object" || r.kind !== "radixlm-bench-serve") throw new Error(`${file}: not a \`radixlm bench serve --json\` result`);
  if (r.version !== 1) throw new Error(`${file}: result version ${String(r.version)} is not supported (expected 1)`);
  return r as ServeReport;
}

interface Row {
  readonly name: string;
  readonly value: (r: ServeReport) => number | null;
  readonly digits: number;
  /** Printed as a percentage (and compared by difference rather than ratio). */
  readonly percent?: boolean;
}

const ROWS: readonly Row[] = [
  { name: "completed requests", value: (r) => r.requests.completed, digits: 0 },
  { name: "failed requests", value: (r) => r.requests.failed, digits: 0 },
  { name: "duration s", value: (r) => r.duration_s, digits: 2 },
  { name: "request throughput req/s", value: (r) => r.request_throughput, digits: 2 },
  { name: "input throughput tok/s", value: (r) => r.input_throughput, digits: 1 },
  { name: "output throughput tok/s", value: (r) => r.output_throughput, digits: 1 },
  { name: "total throughput tok/s", value: (r) => r.total_token_throughput, digits: 1 },
  ...SUMMARY_METRICS.flatMap((m) => {
    const name = { ttft_ms: "TTFT", itl_ms: "ITL", tpot_ms: "TPOT", e2e_ms: "E2E" }[m];
    return (["mean", "p50", "p90", "p99"] as const).map((q) => ({ name: `${name} ${q} ms`, value: (r: ServeReport) => r[m][q], digits: 1 }));
  }),
  { name: "cache hit rate", value: (r) => r.cache_hit_rate, digits: 1, percent: true },
  { name: "ideal hit rate", value: (r) => r.ideal_hit_rate, digits: 1, percent: true },
  { name: "spec accept rate", value: (r) => r.speculative?.accept_rate ?? null, digits: 1, percent: true },
  { name: "spec tokens per verify", value: (r) => r.speculative?.accept_length ?? null, digits: 2 },
];

function cell(row: Row, v: number | null, base: number | null, first: boolean): string {
  if (v === null) return "n/a";
  const shown = row.percent ? `${(v * 100).toFixed(row.digits)}%` : v.toFixed(row.digits);
  if (first || base === null) return shown;
  if (row.percent) {
    const d = (v - base) * 100;
    return `${shown} (${d >= 0 ? "+" : ""}${d.toFixed(1)})`;
  }
  if (base === 0) return shown;
  return `${shown} (${(v / base).toFixed(2)}x)`;
}

/** The side-by-side table. */
export function formatCompare(runs: readonly ServeReport[]): string {
  if (runs.length === 0) throw new Error("nothing to compare");
  const header = ["metric", ...runs.map((r) => r.label)];
  const table: string[][] = [
    header,
    ["workload", ...runs.map((r) => r.workload)],
    ["api", ...runs.map((r) => r.api)],
  ];
  const base = runs[0]!;
  for (const row of ROWS) table.push([row.name, ...runs.map((r, i) => cell(row, row.value(r), row.value(base), i === 0))]);
  const widths = header.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  const lines = table.map((line) => line.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join("  "));
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  lines.push("", `ratios are against ${base.label}; hit rates show the difference in points`);
  return lines.join("\n");
}
