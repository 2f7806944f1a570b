// A seeded HTTP fuzzer over every route: valid bodies, bodies with random field mutations
// (wrong types, edge and huge numbers, long strings, deep nesting, unknown fields, unicode and
// control characters), whole-body corruptions (truncated JSON, non-objects, invalid UTF-8),
// random streaming. A 5xx, an error body that is not the OpenAI envelope, a connection dropped
// without a response, or a request slower than the per-request bound is a failure; so is an
// engine left busy, pool accounting off, or RSS grown beyond a bound after the run.
import { MODEL_NAME } from "../server/harness.js";
import { Rng, Tally, checkIdle, isEnvelope, pool, rssMb, type PartResult } from "./common.js";

export interface FuzzOptions {
  readonly url: string;
  readonly seed: number;
  readonly requests: number;
  readonly concurrency?: number;
  /** Per-request bound (default 30 s). */
  readonly timeoutMs?: number;
  /** RSS growth bound over the run (default 512 MB). */
  readonly rssGrowthMb?: number;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Route {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: (r: Rng) => Json;
}

const words = ["hello", "world", "the", "cat", "<|im_start|>", "你好", "ünï", "🙂", "\n", "{", "\"", "\\"];
const text = (r: Rng): string => Array.from({ length: r.int(1, 12) }, () => r.pick(words)).join(" ");
const sampling = (r: Rng): { [k: string]: Json } => ({
  max_tokens: r.int(1, 8), temperature: r.pick([0, 0.7, 1]), ...(r.chance(0.3) ? { top_p: 0.9 } : {}), ...(r.chance(0.2) ? { seed: r.int(0, 1000) } : {}),
});

export const ROUTES: readonly Route[] = [
  { method: "POST", path: "/v1/chat/completions", body: (r) => ({
    model: MODEL_NAME, messages: [{ role: r.pick(["user", "system"]), content: text(r) }, ...(r.chance(0.3) ? [{ role: "assistant", content: text(r) }, { role: "user", content: text(r) }] : [])],
    ...sampling(r), stream: r.chance(0.4), ...(r.chance(0.2) ? { response_format: { type: "json_object" } } : {}), ...(r.chance(0.2) ? { cache_salt: `s${r.int(0, 5)}` } : {}),
  }) },
  { method: "POST", path: "/v1/completions", body: (r) => ({
    model: MODEL_NAME, prompt: r.chance(0.8) ? text(r) : Array.from({ length: r.int(1, 8) }, () => r.int(0, 200)), ...sampling(r), stream: r.chance(0.4),
    ...(r.chance(0.2) ? { logprobs: r.int(0, 3) } : {}), ...(r.chance(0.1) ? { n: r.int(1, 3) } : {}),
  }) },
  { method: "GET", path: "/v1/models" },
  { method: "GET", path: `/v1/models/${MODEL_NAME}` },
  { method: "POST", path: "/generate", body: (r) => ({
    ...(r.chance(0.8) ? { text: text(r) } : { input_ids: Array.from({ length: r.int(1, 8) }, () => r.int(0, 200)) }),
    sampling_params: { max_new_tokens: r.int(1, 8), temperature: r.pick([0, 0.7]) }, stream: r.chance(0.4), ...(r.chance(0.3) ? { rid: `fz-${r.int(0, 1e9)}` } : {}),
  }) },
  { method: "POST", path: "/tokenize", body: (r) => ({ prompt: r.chance(0.7) ? text(r) : [text(r), text(r)], ...(r.chance(0.3) ? { add_special_tokens: false } : {}) }) },
  { method: "POST", path: "/detokenize", body: (r) => ({ tokens: Array.from({ length: r.int(1, 10) }, () => r.int(0, 200)) }) },
  { method: "GET", path: "/health" },
  { method: "GET", path: "/health_generate" },
  { method: "POST", path: "/flush_cache", body: () => ({}) },
  { method: "GET", path: "/get_model_info" },
  { method: "GET", path: "/get_server_info" },
  { method: "POST", path: "/abort_request", body: (r): Json => (r.chance(0.9) ? { rid: `fz-${r.int(0, 1e9)}` } : { abort_all: false }) },
  { method: "GET", path: "/metrics" },
];

function longString(r: Rng): string {
  const n = r.pick([1_000, 10_000, 100_000, 300_000]);
  return r.pick(["a", "ab ", "你", "🙂", "\u0000", " "]).repeat(Math.ceil(n / 2)).slice(0, n);
}

function deep(r: Rng): Json {
  const depth = r.pick([10, 65, 200, 1000]);
  let v: Json = r.pick<Json>([1, "x", null]);
  const arr = r.chance(0.5);
  for (let i = 0; i < depth; i++) v = arr ? [v] : { a: v };
  return v;
}

/** A hostile value for a field. */
function hostile(r: Rng): Json {
  switch (r.int(0, 13)) {
    case 0: return r.pick<Json>([-1, 0, -0, 1.5, -1e308, 1e308, 2 ** 53 + 1, -(2 ** 31), 2 ** 32, 1e-320]);
    case 1: return r.pick<Json>(["NaN", "Infinity", "-Infinity", "1e999", "0x10", ""]);
    case 2: return r.pick<Json>([null, true, false]);
    case 3: return r.pick<Json>([[], {}, [null], [{}], { "": null }]);
    case 4: return longString(r);
    case 5: return deep(r);
    case 6: return r.pick(["\u0000\u0001\u001f\u007f", "\ud800", "\udfff\ud800", "\u202e\u200b\ufeff", "a\r\nb", "🙂".repeat(50), "<|endoftext|>", "%s%n{{}}"]);
    case 7: return Array.from({ length: r.pick([100, 5_000, 50_000]) }, () => r.int(-5, 1e6));
    case 8: return r.int(-1e9, 1e9);
    case 9: return r.float() * 1e6 - 5e5;
    case 10: return text(r);
    case 11: return { __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } } as unknown as Json;
    case 12: return Array.from({ length: r.pick([20, 200]) }, () => ({ role: "user", content: text(r) }));
    default: return r.pick<Json>([MODEL_NAME, "nope", "json_schema", "auto", "none", "user", "tool"]);
  }
}

/** Every path to a value in `v` (the root is []). */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (at.length > 6) return out;
  if (Array.isArray(v)) v.slice(0, 4).forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(root: Json, p: (string | number)[], value: Json | undefined): Json {
  if (p.length === 0) return value ?? null;
  let o = root as { [k: string]: Json };
  for (const k of p.slice(0, -1)) o = o[k as string] as { [k: string]: Json };
  const last = p[p.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(o)) o.splice(last as number, 1);
    else delete o[last as string];
  } else o[last as string] = value;
  return root;
}

const FIELDS = ["model", "messages", "prompt", "max_tokens", "n", "stream", "stop", "logit_bias", "logprobs", "top_logprobs", "response_format", "tools",
  "tool_choice", "cache_salt", "rid", "sampling_params", "input_ids", "text", "tokens", "regex", "json_schema", "ebnf", "min_tokens", "seed", "echo", "best_of",
  "stream_options", "return_logprob", "top_logprobs_num", "logprob_start_len", "abort_all", "add_special_tokens", "chat_template_kwargs", "unknown_field"];

export interface FuzzCase {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: string | Uint8Array;
  readonly headers: Record<string, string>;
  readonly what: string;
}

/** Case `i` of `seed`: the same bytes on every run. */
export function fuzzCase(seed: number, i: number): FuzzCase {
  const r = new Rng((seed * 1_000_003 + i * 7919) >>> 0);
  const route = r.pick(ROUTES);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (route.method === "GET" || !route.body) {
    // GET routes: sometimes a query string or a (ignored) body-less POST to a GET route.
    if (r.chance(0.1)) return { method: "POST", path: route.path, body: "{}", headers, what: "POST to a GET route" };
    return { method: "GET", path: route.path + (r.chance(0.2) ? `?x=${encodeURIComponent(text(r))}` : ""), headers, what: "valid" };
  }
  let body = route.body(r);
  const what: string[] = [];
  const mode = r.float();
  if (mode < 0.2) {
    what.push("valid");
  } else if (mode < 0.85) {
    for (let k = r.int(1, 3); k > 0; k--) {
      const op = r.int(0, 3);
      const ps = paths(body);
      if (op === 0) {
        const p = r.pick(ps);
        body = setAt(body, p, hostile(r));
        what.push(`set ${p.join(".") || "<root>"}`);
      } else if (op === 1 && body && typeof body === "object" && !Array.isArray(body)) {
        const f = r.pick(FIELDS);
        (body as { [k: string]: Json })[f] = hostile(r);
        what.push(`add ${f}`);
      } else if (op === 2) {
        const p = r.pick(ps);
        if (p.length > 0) {
          body = setAt(body, p, undefined);
          what.push(`delete ${p.join(".")}`);
        }
      } else {
        body = r.pick<Json>([[body], "text", 5, null, true, deep(r)]);
        what.push("body replaced");
      }
    }
  } else {
    const s = JSON.stringify(body);
    const k = r.int(0, 5);
    if (k === 5) {
      const d = r.pick([5_000, 100_000]);
      const [o, cl] = r.chance(0.5) ? ["[", "]"] : ['{"a":', "}"];
      return { method: "POST", path: route.path, body: `{"messages":${o.repeat(d)}1${cl.repeat(d)}}`, headers, what: `nesting ${d} deep` };
    }
    if (k === 0) return { method: "POST", path: route.path, body: s.slice(0, r.int(0, s.length - 1)), headers, what: "truncated JSON" };
    if (k === 1) return { method: "POST", path: route.path, body: new Uint8Array(Buffer.concat([Buffer.from(s.slice(0, -2)), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from(s.slice(-2))])), headers, what: "invalid UTF-8" };
    if (k === 2) return { method: "POST", path: route.path, body: s, headers: { "content-type": r.pick(["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", ""]) }, what: "content-type" };
    if (k === 3) return { method: "POST", path: route.path, body: "", headers, what: "empty body" };
    return { method: "POST", path: route.path, body: `${s}${r.pick(["}", ",", " garbage", "\u0000", "{}"])}`, headers, what: "trailing garbage" };
  }
  return { method: "POST", path: route.path, body: JSON.stringify(body), headers, what: what.join(", ") };
}

export async function fuzz(opts: FuzzOptions): Promise<PartResult> {
  const tally = new Tally();
  const notes: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const rss0 = rssMb();
  let slowest = 0;
  const codes = new Map<number, number>();
  await pool(opts.requests, opts.concurrency ?? 16, async (i) => {
    const c = fuzzCase(opts.seed, i);
    const label = `fuzz seed ${opts.seed} #${i} ${c.method} ${c.path} (${c.what})`;
    const t0 = performance.now();
    try {
      const res = await fetch(`${opts.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body as unknown as string | undefined, signal: AbortSignal.timeout(timeoutMs) });
      const textBody = await res.text();
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      tally.count(`${Math.floor(res.status / 100)}xx`);
      codes.set(res.status, (codes.get(res.status) ?? 0) + 1);
      if (res.status >= 500) tally.fail(`${label}: ${res.status} ${textBody.slice(0, 300)}`);
      else if (res.status >= 400) {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(textBody);
        } catch {
          // not JSON
        }
        if (!isEnvelope(parsed)) tally.fail(`${label}: ${res.status} without the error envelope: ${textBody.slice(0, 300)}`);
      } else if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
        // An error inside a stream must be an envelope too.
        for (const block of textBody.split("\n\n")) {
          if (!block.startsWith("data: ") || block === "data: [DONE]") continue;
          let ev: { error?: unknown } | null = null;
          try {
            ev = JSON.parse(block.slice(6));
          } catch {
            tally.fail(`${label}: an SSE event that is not JSON: ${block.slice(0, 200)}`);
          }
          if (ev && "error" in ev && !isEnvelope(ev)) tally.fail(`${label}: an SSE error that is not the envelope: ${block.slice(0, 200)}`);
        }
      }
      if (ms > timeoutMs) tally.fail(`${label}: ${ms.toFixed(0)} ms`);
    } catch (err) {
      const e = err as Error & { cause?: Error };
      tally.fail(`${label}: no response: ${e.name}: ${e.message}${e.cause ? ` (${e.cause.message})` : ""}`);
    }
  });
  await checkIdle(opts.url, tally, "fuzz");
  const grown = rssMb() - rss0;
  notes.push(`statuses ${[...codes].sort(([a], [b]) => a - b).map(([k, v]) => `${k}:${v}`).join(" ")}`);
  notes.push(`slowest ${slowest.toFixed(0)} ms, RSS ${rss0.toFixed(0)} -> ${rssMb().toFixed(0)} MB`);
  if (grown > (opts.rssGrowthMb ?? 512)) tally.fail(`fuzz: RSS grew by ${grown.toFixed(0)} MB`);
  return { part: "fuzz", tally, notes };
}
