// Stall checks: bystander streaming requests measure time to first token and the largest gap
// between tokens while something heavy happens beside them: (a) a grammar that takes long to
// compile (a json_schema with 1,500 string properties through /v1/completions), (b) a 30 MB
// body. The bystanders start at staggered offsets from the heavy request, so that one of them
// overlaps its worst moment (the compile, or the body's parse). Over 1 s TTFT is a failure, and
// so is a gap over 2 s.
import { MODEL_NAME } from "../server/harness.js";
import { Tally, type PartResult } from "./common.js";

export interface StallOptions {
  readonly url: string;
  readonly ttftLimitMs?: number;
  readonly gapLimitMs?: number;
}

interface Timing {
  readonly ttft: number;
  readonly maxGap: number;
  readonly status: number;
}

async function bystander(url: string, i: number): Promise<Timing> {
  const t0 = performance.now();
  const res = await fetch(`${url}/generate`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: `bystander ${i}: once upon a time`, sampling_params: { max_new_tokens: 32, temperature: 0, ignore_eos: true }, stream: true }),
  });
  let ttft = NaN;
  let last = 0;
  let maxGap = 0;
  const reader = res.body!.getReader();
  while (true) {
    const { done } = await reader.read();
    const now = performance.now();
    if (done) break;
    if (Number.isNaN(ttft)) ttft = now - t0;
    else maxGap = Math.max(maxGap, now - last);
    last = now;
  }
  return { ttft, maxGap, status: res.status };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function scenario(url: string, name: string, heavy: () => Promise<Response>, tally: Tally, notes: string[], ttftLimit: number, gapLimit: number): Promise<void> {
  const t0 = performance.now();
  const heavyDone = heavy().then(async (r) => ({ status: r.status, ms: performance.now() - t0, text: (await r.text()).slice(0, 200) }),
    (e: Error) => ({ status: 0, ms: performance.now() - t0, text: e.message }));
  const offsets = [0, 50, 150, 300, 600, 1000, 2000];
  const timings = await Promise.all(offsets.map(async (off, i) => {
    await sleep(off);
    return bystander(url, i);
  }));
  const h = await heavyDone;
  const worstTtft = Math.max(...timings.map((t) => t.ttft));
  const worstGap = Math.max(...timings.map((t) => t.maxGap));
  tally.count(`${name}: heavy ${h.status}`);
  notes.push(`${name}: heavy answered ${h.status} in ${h.ms.toFixed(0)} ms; bystanders worst TTFT ${worstTtft.toFixed(0)} ms, worst inter-token gap ${worstGap.toFixed(0)} ms`);
  for (const [i, t] of timings.entries()) {
    tally.count(`${name}: bystander ${t.status}`);
    if (t.status !== 200) tally.fail(`${name}: bystander ${i} answered ${t.status}`);
    if (!(t.ttft <= ttftLimit)) tally.fail(`${name}: bystander ${i} (at +${offsets[i]} ms) TTFT ${t.ttft.toFixed(0)} ms > ${ttftLimit} ms`);
    if (t.maxGap > gapLimit) tally.fail(`${name}: bystander ${i} (at +${offsets[i]} ms) inter-token gap ${t.maxGap.toFixed(0)} ms > ${gapLimit} ms`);
  }
  if (h.status >= 500 || h.status === 0) tally.fail(`${name}: the heavy request answered ${h.status}: ${h.text}`);
}

export async function stalls(opts: StallOptions): Promise<PartResult> {
  const tally = new Tally();
  const notes: string[] = [];
  const ttft = opts.ttftLimitMs ?? 1000;
  const gap = opts.gapLimitMs ?? 2000;
  // Warm-up: the first request pays for lazy initialisation; not what is measured.
  await bystander(opts.url, -1);
  const properties = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`field_${i}`, { type: "string" }]));
  const schema = { type: "object", properties, required: Object.keys(properties), additionalProperties: false };
  await scenario(opts.url, "grammar compile", () => fetch(`${opts.url}/v1/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL_NAME, prompt: "{", max_tokens: 4, response_format: { type: "json_schema", json_schema: { name: "big", schema } } }),
  }), tally, notes, ttft, gap);
  const big = JSON.stringify({ model: MODEL_NAME, prompt: "x ".repeat(15 * 1024 * 1024 - 40), max_tokens: 1 });
  await scenario(opts.url, "30 MB body", () => fetch(`${opts.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: big }),
    tally, notes, ttft, gap);
  return { part: "stalls", tally, notes };
}
