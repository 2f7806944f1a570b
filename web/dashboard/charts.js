// The numbers as time series, with uPlot (served from its npm package, never a CDN): one
// chart per concern, fed by the stats stream's samples (stats-feed.ts), last ten minutes.
import uPlot from "./vendor/uplot/uPlot.esm.js";

const KEEP = 600;
const COLOURS = ["#2f6fdf", "#e07b24", "#2aa876", "#a24fd6", "#c23b4a"];

const CHARTS = [
  {
    id: "throughput", title: "Throughput (tokens/s)",
    series: [["prompt", (s) => s.prompt_tps], ["cached", (s) => s.cached_tps], ["generated", (s) => s.generated_tps]],
  },
  {
    id: "hit-rate", title: "Cache hit rate (%) and cache size (% of the pool)",
    series: [
      ["hit rate", (s) => (s.hit_rate === null ? null : 100 * s.hit_rate)],
      ["since start", (s) => 100 * s.hit_rate_total],
      ["cached / pool", (s) => (100 * (s.kv.evictable + s.kv.protected)) / Math.max(1, s.kv.capacity)],
    ],
  },
  {
    id: "latency", title: "Latency (ms, last minute)",
    series: [["TTFT p50", (s) => s.ttft?.p50 ?? null], ["TTFT p99", (s) => s.ttft?.p99 ?? null], ["ITL p50", (s) => s.itl?.p50 ?? null], ["ITL p99", (s) => s.itl?.p99 ?? null]],
  },
  {
    id: "requests", title: "Requests",
    series: [["running", (s) => s.running], ["queued", (s) => s.queued]],
  },
  {
    id: "pool", title: "KV pool (tokens)",
    series: [["free", (s) => s.kv.free], ["evictable", (s) => s.kv.evictable], ["protected", (s) => s.kv.protected], ["owned", (s) => s.kv.owned]],
  },
];

export class Charts {
  constructor(host) {
    this.host = host;
    this.samples = [];
    this.plots = new Map();
    for (const c of CHARTS) {
      const box = document.createElement("div");
      box.className = "chart";
      box.id = `chart-${c.id}`;
      host.appendChild(box);
      const plot = new uPlot({
        title: c.title, width: 400, height: 170,
        scales: { x: { time: true } },
        axes: [{}, { size: 52 }],
        series: [{}, ...c.series.map(([label], i) => ({ label, stroke: COLOURS[i], width: 1.5, spanGaps: false }))],
      }, this.dataOf(c), box);
      this.plots.set(c.id, { chart: c, plot, box });
    }
    new ResizeObserver(() => this.resize()).observe(host);
  }

  dataOf(c) {
    return [this.samples.map((s) => s.t / 1000), ...c.series.map(([, f]) => this.samples.map(f))];
  }

  resize() {
    for (const { plot, box } of this.plots.values()) plot.setSize({ width: Math.max(240, box.clientWidth), height: 170 });
  }

  /** Replaces the history (a new stream's first event). */
  reset(samples) {
    this.samples = samples.slice(-KEEP);
    this.update();
  }

  add(sample) {
    this.samples.push(sample);
    if (this.samples.length > KEEP) this.samples.shift();
    this.update();
  }

  update() {
    for (const { chart, plot, box } of this.plots.values()) {
      const data = this.dataOf(chart);
      plot.setData(data);
      // What the tests (and a curious reader) can check: how many points, the last values.
      box.dataset.points = String(this.samples.length);
      box.dataset.last = JSON.stringify(data.slice(1).map((s) => s[s.length - 1] ?? null));
    }
  }

  latest() {
    return this.samples[this.samples.length - 1] ?? null;
  }
}
