// The chart of one or more `bench serve` runs as a standalone SVG: cumulative distributions
// of TTFT, inter-token latency and end-to-end latency (one line per run, the x axis spanning
// the data), and bars of output throughput, request throughput and cache hit rate (one bar per
// run, the hit rate with the workload's ideal marked over it). A caption names the workload and
// its parameters, the model(s), the engine(s) and the date; each run's marks sit in one
// <g class="series"> that carries its label, with a legend under the caption.
import type { ServeReport } from "./serve-report.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const PANEL_W = 300;
const PANEL_H = 200;
const MARGIN = { left: 60, top: 40, gap: 80 };
const CAPTION_LINE = 16;
const LEGEND_H = 24;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

const f = (x: number): string => (Math.round(x * 10) / 10).toString();

/** About four round tick values from 0 to at least `max`. */
export function niceTicks(max: number): number[] {
  return niceRange(0, max);
}

/**
 * About four round tick values covering min..max: from 0 when the data starts near it (below
 * a third of max), else from a round value just under min, so that data bunched far from 0
 * (end-to-end latencies) spreads over the axis instead of crowding its right edge.
 */
export function niceRange(min: number, max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const lo = min > max / 3 ? min : 0;
  const raw = (max - lo) / 4 || max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let v = start; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks.length > 1 ? ticks : [start, start + step];
}

function tickLabel(v: number): string {
  return Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : `${Number(v.toPrecision(3))}`;
}

interface Panel {
  readonly x: number;
  readonly y: number;
  readonly title: string;
}

function panelAt(col: number, row: number, title: string, top: number): Panel {
  return { x: MARGIN.left + col * (PANEL_W + MARGIN.gap), y: top + LEGEND_H + MARGIN.top + row * (PANEL_H + MARGIN.gap), title };
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
    const xMin = xTicks[0]!;
    const xMax = xTicks[xTicks.length - 1]!;
    for (const t of xTicks) {
      const x = p.x + ((t - xMin) / (xMax - xMin)) * PANEL_W;
      out.push(`<line x1="${f(x)}" y1="${p.y + PANEL_H}" x2="${f(x)}" y2="${p.y + PANEL_H + 4}" stroke="#888"/>`);
      out.push(`<text x="${f(x)}" y="${p.y + PANEL_H + 16}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
    }
  }
  out.push(`<text x="${p.x + PANEL_W / 2}" y="${p.y + PANEL_H + 34}" text-anchor="middle">${escapeXml(xLabel)}</text>`, `</g>`);
  return out.join("\n");
}

/** The CDF of `values` as polyline points (at most ~400 steps) on an x axis xMin..xMax. */
function cdfPoints(values: readonly number[], p: Panel, xMin: number, xMax: number): string {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const stride = Math.max(1, Math.ceil(n / 400));
  const xOf = (v: number): number => p.x + ((Math.min(Math.max(v, xMin), xMax) - xMin) / (xMax - xMin)) * PANEL_W;
  const pts: string[] = [`${f(xOf(s[0] ?? xMin))},${f(p.y + PANEL_H)}`];
  const at = (v: number, q: number): string => `${f(xOf(v))},${f(p.y + PANEL_H - q * PANEL_H)}`;
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
  { key: "ttft_ms", title: "Time to first token (CDF)", xLabel: "ms (y: share of requests)" },
  { key: "itl_ms", title: "Inter-token latency (CDF)", xLabel: "ms (y: share of token gaps)" },
  { key: "e2e_ms", title: "End-to-end latency (CDF)", xLabel: "ms (y: share of requests)" },
] as const;

/** Bar panels; a null value (the server does not report it) is drawn as "n/a". */
const BARS: readonly { title: string; yLabel: string; read: (r: ServeReport) => number | null; fmt: (v: number) => string; ideal?: (r: ServeReport) => number; ticks?: number[] }[] = [
  { title: "Output throughput", yLabel: "tokens/s", read: (r: ServeReport) => r.output_throughput, fmt: tickLabel },
  { title: "Request throughput", yLabel: "requests/s", read: (r: ServeReport) => r.request_throughput, fmt: tickLabel },
  {
    title: "Cache hit rate (measured, and ideal)", yLabel: "% of prompt tokens", read: (r: ServeReport) => (r.cache_hit_rate === null ? null : r.cache_hit_rate * 100), fmt: tickLabel,
    ideal: (r: ServeReport) => r.ideal_hit_rate * 100, ticks: [0, 25, 50, 75, 100],
  },
];

/** Each workload's own parameters, by option name, with the words a caption shows. */
const PARAMS: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  "generated-shared-prefix": [["groups", "groups"], ["promptsPerGroup", "prompts/group"], ["systemPromptLen", "shared prefix"], ["questionLen", "question"], ["outputLen", "output"]],
  "few-shot": [["groups", "groups"], ["promptsPerGroup", "prompts/group"], ["systemPromptLen", "examples"], ["questionLen", "question"], ["outputLen", "output"]],
  random: [["groups", "groups"], ["promptsPerGroup", "prompts/group"], ["questionLen", "prompt"], ["outputLen", "output"]],
  "multi-turn": [["conversations", "conversations"], ["turns", "turns"], ["systemPromptLen", "system prompt"], ["questionLen", "turn"], ["outputLen", "output"]],
  "agent-loop": [["conversations", "runs"], ["turns", "steps"], ["systemPromptLen", "system prompt"], ["questionLen", "tool result"], ["outputLen", "output"]],
  edit: [["groups", "groups"], ["promptsPerGroup", "prompts/group"]],
};
const TOKEN_PARAMS = new Set(["systemPromptLen", "questionLen", "outputLen"]);

/** `generated-shared-prefix (groups 8, prompts/group 8, shared prefix 1024 tok, ...), rate inf/s, concurrency unbounded`. */
export function workloadCaption(r: ServeReport): string {
  const o = r.workload_options;
  const params = (PARAMS[r.workload] ?? Object.keys(o).map((k) => [k, k] as const))
    .filter(([k]) => typeof o[k] === "number")
    .map(([k, name]) => `${name} ${o[k]}${TOKEN_PARAMS.has(k) ? " tok" : ""}`);
  if (typeof o.seed === "number") params.push(`seed ${o.seed}`);
  const rate = r.request_rate === "inf" ? "all at once" : `${r.request_rate}/s`;
  return `${r.workload} (${params.join(", ")}), ${r.prompt_format} prompts, arrivals ${rate}, concurrency ${r.max_concurrency ?? "unbounded"}`;
}

const distinct = (xs: readonly string[]): string[] => [...new Set(xs)];

/**
 * The caption: what was compared; the workload with its parameters (one line per run where
 * the runs' differ); the model(s), engine(s), API(s) and date(s).
 */
export function captionLines(runs: readonly ServeReport[]): string[] {
  const when = distinct(runs.map((r) => (r.started_at ? `${r.started_at.slice(0, 16).replace("T", " ")} UTC` : "unknown date")));
  const engines = distinct(runs.map((r) => r.server_engine ?? "engine not reported"));
  const workloads = distinct(runs.map(workloadCaption));
  return [
    `radixlm bench serve: ${runs.map((r) => r.label).join(" vs ")}`,
    ...(workloads.length === 1 ? [`workload: ${workloads[0]}`] : runs.map((r) => `workload of ${r.label}: ${workloadCaption(r)}`)),
    `model: ${distinct(runs.map((r) => r.model ?? "unnamed")).join(", ")}; engine${engines.length > 1 ? "s" : ""}: ${engines.join(", ")}; ` +
      `api: ${distinct(runs.map((r) => r.api)).join(", ")}; run${when.length > 1 ? "s" : ""} ${when.join(", ")}`,
  ];
}

/** The SVG document for these runs (at least one). */
export function renderSvg(runs: readonly ServeReport[]): string {
  if (runs.length === 0) throw new Error("no runs to chart");
  const width = MARGIN.left + 3 * PANEL_W + 2 * MARGIN.gap + 30;
  const caption = captionLines(runs);
  const captionH = caption.length * CAPTION_LINE + 8;
  const height = captionH + LEGEND_H + MARGIN.top + 2 * PANEL_H + MARGIN.gap + 60;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>radixlm bench serve: ${escapeXml(runs.map((r) => r.label).join(" vs "))}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  // Caption: what ran, where and when.
  out.push(`<g class="caption">`);
  caption.forEach((line, i) => {
    out.push(`<text x="${MARGIN.left / 2}" y="${16 + i * CAPTION_LINE}"${i === 0 ? ` font-weight="bold" font-size="13"` : ""}>${escapeXml(line)}</text>`);
  });
  out.push(`</g>`);
  // Legend: one swatch and label per run (with its engine, where the runs' engines differ).
  out.push(`<g class="legend">`);
  const manyEngines = distinct(runs.map((r) => r.server_engine ?? "")).length > 1;
  let lx = MARGIN.left;
  runs.forEach((r, i) => {
    const text = manyEngines && r.server_engine ? `${r.label} (${r.server_engine})` : r.label;
    out.push(`<rect x="${lx}" y="${captionH + 8}" width="14" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 18}" y="${captionH + 17}">${escapeXml(text)}</text>`);
    lx += 30 + 7 * text.length;
  });
  out.push(`<line x1="${lx}" y1="${captionH + 13}" x2="${lx + 16}" y2="${captionH + 13}" stroke="#000" stroke-dasharray="3,2"/>`);
  out.push(`<text x="${lx + 20}" y="${captionH + 17}">ideal hit rate (an unbounded cache, empty at the start)</text>`);
  out.push(`</g>`);

  const cdfPanels = CDFS.map((c, col) => {
    const p = panelAt(col, 0, c.title, captionH);
    const values = runs.flatMap((r) => r.samples[c.key]);
    const xt = niceRange(values.reduce((a, v) => Math.min(a, v), Infinity), values.reduce((a, v) => Math.max(a, v), 0));
    out.push(axes(p, xt, [0, 0.25, 0.5, 0.75, 1], c.xLabel, (v) => v.toFixed(2)));
    return { p, key: c.key, xMin: xt[0]!, xMax: xt[xt.length - 1]! };
  });
  const barPanels = BARS.map((b, col) => {
    const p = panelAt(col, 1, b.title, captionH);
    // A tenth of headroom, so that the figure over the highest bar stays inside the panel.
    const yt = b.ticks ?? niceTicks(1.1 * Math.max(0, ...runs.map((r) => Math.max(b.read(r) ?? 0, b.ideal?.(r) ?? 0))));
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
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${cdfPoints(values, c.p, c.xMin, c.xMax)}"/>`);
    }
    for (const { p, b, yMax } of barPanels) {
      const v = b.read(r);
      const h = v !== null && yMax > 0 ? (v / yMax) * PANEL_H : 0;
      const x = p.x + i * slot + slot * 0.15;
      const shown = v === null ? "n/a" : `${v.toFixed(2)} ${b.yLabel}`;
      out.push(`<rect x="${f(x)}" y="${f(p.y + PANEL_H - h)}" width="${f(slot * 0.7)}" height="${f(h)}" fill="${color}"><title>${escapeXml(`${r.label}: ${shown}`)}</title></rect>`);
      const barTop = p.y + PANEL_H - h;
      const ideal = b.ideal?.(r);
      // The ideal as a dashed line across the bar, labelled at its right end (under the line
      // when the bar's own figure would sit on the label).
      const iy = ideal === undefined ? null : p.y + PANEL_H - (yMax > 0 ? (ideal / yMax) * PANEL_H : 0);
      let valueY = iy !== null && iy < barTop && barTop - iy < 14 ? iy - 4 : barTop - 4;
      // No room above a bar that reaches the top: the figure goes inside it.
      const inside = valueY < p.y + 4;
      if (inside) valueY = barTop + 12;
      out.push(`<text x="${f(x + slot * 0.35)}" y="${f(valueY)}" text-anchor="middle"${inside ? ` fill="white"` : ""}>${escapeXml(v === null ? "n/a" : b.fmt(v))}</text>`);
      if (ideal === undefined || iy === null) continue;
      out.push(`<line class="ideal" data-value="${ideal.toFixed(2)}" x1="${f(x - 3)}" y1="${f(iy)}" x2="${f(x + slot * 0.7 + 3)}" y2="${f(iy)}" stroke="#000" stroke-width="1.5" stroke-dasharray="3,2"><title>${escapeXml(`${r.label}: ideal ${ideal.toFixed(2)} ${b.yLabel}`)}</title></line>`);
      const labelY = Math.abs(iy - valueY) < 14 || iy - 4 < p.y + 10 ? iy + 12 : iy - 4;
      out.push(`<text class="ideal-label" x="${f(x + slot * 0.7)}" y="${f(labelY)}" text-anchor="end" font-size="10">${escapeXml(`ideal ${b.fmt(ideal)}`)}</text>`);
    }
    out.push(`</g>`);
  });
  out.push(`</svg>`, ``);
  return out.join("\n");
}
