// The chart of one or more `bench serve` runs as a standalone SVG: cumulative distributions
// of TTFT, inter-token latency and end-to-end latency (one line per run), and bars of output
// throughput, request throughput and cache hit rate (one bar per run). Each run's marks sit in
// one <g class="series"> that carries its label, with a legend on top.
import type { ServeReport } from "./serve-report.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const PANEL_W = 300;
const PANEL_H = 200;
const MARGIN = { left: 60, top: 40, gap: 80 };
const LEGEND_H = 24;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

const f = (x: number): string => (Math.round(x * 10) / 10).toString();

/** About four round tick values from 0 to at least `max`. */
export function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  return Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : `${Number(v.toPrecision(3))}`;
}

interface Panel {
  readonly x: number;
  readonly y: number;
  readonly title: string;
}

function panelAt(col: number, row: number, title: string): Panel {
  return { x: MARGIN.left + col * (PANEL_W + MARGIN.gap), y: LEGEND_H + MARGIN.top + row * (PANEL_H + MARGIN.gap), title };
}

/** Frame, title and ticks of a panel whose x runs 0..xMax (null: categorical) and y 0..yMax. */
function axes(p: Panel, xTicks: number[] | null, yTicks: number[], xLabel: string, yFmt: (v: number) => string): string {
  const out: string[] = [`<g class="axes">`, `<rect x="${p.x}" y="${p.y}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#888"/>`];
  out.push(`<text x="${p.x + PANEL_W / 2}" y="${p.y - 10}" text-anchor="middle" font-weight="bold">${escapeXml(p.title)}</text>`);
  const yMax = yTicks[yTicks.length - 1]!;
  for (const t of yTicks) {
    const y = p.y + PANEL_H - (t / yMax) * PANEL_H;
    out.push(`<line x1="${p.x - 4}" y1="${f(y)}" x2="${p.x}" y2="${f(y)}" stroke="#888"/>`);
    out.push(`<text x="${p.x - 6}" y="${f(y + 4)}" text-anchor="end">${escapeXml(yFmt(t))}</text>`);
  }
  if (xTicks) {
    const xMax = xTicks[xTicks.length - 1]!;
    for (const t of xTicks) {
      const x = p.x + (t / xMax) * PANEL_W;
      out.push(`<line x1="${f(x)}" y1="${p.y + PANEL_H}" x2="${f(x)}" y2="${p.y + PANEL_H + 4}" stroke="#888"/>`);
      out.push(`<text x="${f(x)}" y="${p.y + PANEL_H + 16}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
    }
  }
  out.push(`<text x="${p.x + PANEL_W / 2}" y="${p.y + PANEL_H + 34}" text-anchor="middle">${escapeXml(xLabel)}</text>`, `</g>`);
  return out.join("\n");
}

/** The CDF of `values` as polyline points (at most ~400 steps). */
function cdfPoints(values: readonly number[], p: Panel, xMax: number): string {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const stride = Math.max(1, Math.ceil(n / 400));
  const pts: string[] = [`${f(p.x)},${f(p.y + PANEL_H)}`];
  const at = (v: number, q: number): string => `${f(p.x + (Math.min(v, xMax) / xMax) * PANEL_W)},${f(p.y + PANEL_H - q * PANEL_H)}`;
  let prevQ = 0;
  for (let i = stride - 1; i < n + stride - 1; i += stride) {
    const k = Math.min(i, n - 1);
    const q = (k + 1) / n;
    pts.push(at(s[k]!, prevQ), at(s[k]!, q));
    prevQ = q;
  }
  return pts.join(" ");
}

const CDFS = [
  { key: "ttft_ms", title: "Time to first token (CDF)", xLabel: "ms" },
  { key: "itl_ms", title: "Inter-token latency (CDF)", xLabel: "ms" },
  { key: "e2e_ms", title: "End-to-end latency (CDF)", xLabel: "ms" },
] as const;

/** Bar panels; a null value (the server does not report it) is drawn as "n/a". */
const BARS: readonly { title: string; yLabel: string; read: (r: ServeReport) => number | null; fmt: (v: number) => string }[] = [
  { title: "Output throughput", yLabel: "tokens/s", read: (r: ServeReport) => r.output_throughput, fmt: tickLabel },
  { title: "Request throughput", yLabel: "requests/s", read: (r: ServeReport) => r.request_throughput, fmt: tickLabel },
  { title: "Cache hit rate", yLabel: "% of prompt tokens", read: (r: ServeReport) => (r.cache_hit_rate === null ? null : r.cache_hit_rate * 100), fmt: tickLabel },
];

/** The SVG document for these runs (at least one). */
export function renderSvg(runs: readonly ServeReport[]): string {
  if (runs.length === 0) throw new Error("no runs to chart");
  const width = MARGIN.left + 3 * PANEL_W + 2 * MARGIN.gap + 30;
  const height = LEGEND_H + MARGIN.top + 2 * PANEL_H + MARGIN.gap + 60;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>radixlm bench serve: ${escapeXml(runs.map((r) => r.label).join(" vs "))}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  // Legend: one swatch and label per run.
  out.push(`<g class="legend">`);
  let lx = MARGIN.left;
  runs.forEach((r, i) => {
    out.push(`<rect x="${lx}" y="8" width="14" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 18}" y="17">${escapeXml(r.label)}</text>`);
    lx += 30 + 7 * r.label.length;
  });
  out.push(`</g>`);

  const cdfPanels = CDFS.map((c, col) => {
    const p = panelAt(col, 0, c.title);
    const max = Math.max(0, ...runs.flatMap((r) => r.samples[c.key]));
    const xt = niceTicks(max);
    out.push(axes(p, xt, [0, 0.25, 0.5, 0.75, 1], c.xLabel, (v) => v.toFixed(2)));
    return { p, key: c.key, xMax: xt[xt.length - 1]! };
  });
  const barPanels = BARS.map((b, col) => {
    const p = panelAt(col, 1, b.title);
    const yt = niceTicks(Math.max(0, ...runs.map((r) => b.read(r) ?? 0)));
    out.push(axes(p, null, yt, b.yLabel, b.fmt));
    return { p, b, yMax: yt[yt.length - 1]! };
  });

  const slot = PANEL_W / runs.length;
  runs.forEach((r, i) => {
    const color = COLORS[i % COLORS.length];
    out.push(`<g class="series" data-label="${escapeXml(r.label)}">`, `<title>${escapeXml(r.label)}</title>`);
    for (const c of cdfPanels) {
      const values = r.samples[c.key];
      if (values.length === 0) continue;
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${cdfPoints(values, c.p, c.xMax)}"/>`);
    }
    for (const { p, b, yMax } of barPanels) {
      const v = b.read(r);
      const h = v !== null && yMax > 0 ? (v / yMax) * PANEL_H : 0;
      const x = p.x + i * slot + slot * 0.15;
      const shown = v === null ? "n/a" : `${v.toFixed(2)} ${b.yLabel}`;
      out.push(`<rect x="${f(x)}" y="${f(p.y + PANEL_H - h)}" width="${f(slot * 0.7)}" height="${f(h)}" fill="${color}"><title>${escapeXml(`${r.label}: ${shown}`)}</title></rect>`);
      out.push(`<text x="${f(x + slot * 0.35)}" y="${f(p.y + PANEL_H - h - 4)}" text-anchor="middle">${escapeXml(v === null ? "n/a" : b.fmt(v))}</text>`);
    }
    out.push(`</g>`);
  });
  out.push(`</svg>`, ``);
  return out.join("\n");
}
