// A soak: M valid requests (chat, completions, generate; streamed or not; some under a
// cache_salt from a pool of distinct salts) at several concurrencies, with random client
// disconnects mid-stream and random /abort_request calls by exact rid. Every request that is not
// cut off by the client answers 2xx; at the end the engine is idle, pool accounting is exact,
// /flush_cache leaves at most one cache namespace, and RSS is flat (the median of the last third
// of the samples within a margin of the first third's).
import { MODEL_NAME, get, post } from "../server/harness.js";
import { Rng, Tally, checkIdle, median, pool, rssMb, type PartResult } from "./common.js";

export interface SoakOptions {
  readonly url: string;
  readonly seed: number;
  readonly requests: number;
  readonly salts: number;
  readonly concurrencies?: readonly number[];
  readonly timeoutMs?: number;
  /** Allowed growth of the last third's RSS median over the first third's (default 256 MB). */
  readonly rssMarginMb?: number;
}

const words = ["alpha", "beta", "gamma", "delta", "the", "cat", "sat", "on", "a", "mat", "你好", "🙂"];

export async function soak(opts: SoakOptions): Promise<PartResult> {
  const tally = new Tally();
  const notes: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const levels = opts.concurrencies ?? [4, 16, 64];
  const samples: number[] = [];
  const sampleEvery = Math.max(20, Math.floor(opts.requests / 30));
  let done = 0;
  let offset = 0;
  for (const [li, conc] of levels.entries()) {
    const n = Math.floor(opts.requests / levels.length) + (li < opts.requests % levels.length ? 1 : 0);
    const base = offset;
    offset += n;
    await pool(n, conc, async (j) => {
      const i = base + j;
      const r = new Rng((opts.seed * 2_654_435_761 + i * 40_503) >>> 0);
      const kind = r.pick(["chat", "completion", "generate"] as const);
      const stream = r.chance(0.6);
      const salt = opts.salts > 0 && r.chance(0.5) ? `salt-${r.int(0, opts.salts - 1)}` : null;
      // A shared prefix, so that the cache has something to hit.
      const prompt = `You are a helpful assistant. ${Array.from({ length: r.int(1, 30) }, () => r.pick(words)).join(" ")}`;
      const maxTokens = r.int(1, 24);
      const rid = `soak-${opts.seed}-${i}`;
      let path: string;
      let body: Record<string, unknown>;
      if (kind === "chat") {
        path = "/v1/chat/completions";
        body = { model: MODEL_NAME, messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, temperature: r.pick([0, 0.8]), stream };
        if (salt) body.cache_salt = salt;
      } else if (kind === "completion") {
        path = "/v1/completions";
        body = { model: MODEL_NAME, prompt, max_tokens: maxTokens, temperature: r.pick([0, 0.8]), stream };
        if (salt) body.cache_salt = salt;
      } else {
        path = "/generate";
        body = { text: prompt, rid, sampling_params: { max_new_tokens: maxTokens, temperature: r.pick([0, 0.8]) }, stream };
        if (salt) body.cache_salt = salt;
      }
      const action = r.float();
      const disconnect = stream && action < 0.15;
      const abortByRid = kind === "generate" && action >= 0.15 && action < 0.3;
      const label = `soak seed ${opts.seed} #${i} ${kind}${stream ? " stream" : ""}${salt ? ` ${salt}` : ""}${disconnect ? " disconnect" : ""}${abortByRid ? " abort_request" : ""}`;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error("timeout")), timeoutMs);
      let abortCall: Promise<unknown> | null = null;
      if (abortByRid) {
        const delay = r.int(0, 30);
        abortCall = new Promise((res) => setTimeout(res, delay)).then(() => post(`${opts.url}/abort_request`, { rid })).then((a) => {
          if (a.status !== 200) tally.fail(`${label}: /abort_request answered ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
        });
      }
      try {
        const res = await fetch(`${opts.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: ac.signal });
        if (disconnect && res.body) {
          const reader = res.body.getReader();
          const chunks = r.int(0, 3);
          for (let k = 0; k < chunks; k++) if ((await reader.read()).done) break;
          await reader.cancel();
          ac.abort(new Error("client disconnect"));
          tally.count("disconnected");
        } else {
          const text = await res.text();
          if (res.status >= 200 && res.status < 300) tally.count(abortByRid ? (/"abort"/.test(text) ? "2xx aborted by rid" : "2xx (abort_request too late)") : "2xx");
          else tally.fail(`${label}: ${res.status} ${text.slice(0, 300)}`);
          if (stream && res.ok && !text.includes("data: [DONE]") && kind !== "generate") tally.fail(`${label}: stream without [DONE]`);
        }
      } catch (err) {
        if (ac.signal.aborted && (ac.signal.reason as Error)?.message === "client disconnect") tally.count("disconnected");
        else tally.fail(`${label}: ${(err as Error).message}${(err as Error & { cause?: Error }).cause ? ` (${(err as Error & { cause: Error }).cause.message})` : ""}`);
      } finally {
        clearTimeout(timer);
        await abortCall;
      }
      if (++done % sampleEvery === 0) samples.push(rssMb());
    });
  }
  const idle = await checkIdle(opts.url, tally, "soak");
  const nsBefore = idle.cacheNamespaces;
  const f = await post(`${opts.url}/flush_cache`, {});
  if (f.status !== 200) tally.fail(`soak: /flush_cache answered ${f.status} ${JSON.stringify(f.body).slice(0, 200)}`);
  const after = (await get(`${opts.url}/get_server_info`)).body?.stats ?? {};
  if (!(after.cacheNamespaces <= 1)) tally.fail(`soak: ${after.cacheNamespaces} cache namespaces after /flush_cache`);
  await checkIdle(opts.url, tally, "soak after flush", 1000);
  const third = Math.floor(samples.length / 3);
  if (third >= 1) {
    const first = median(samples.slice(0, third));
    const last = median(samples.slice(-third));
    notes.push(`RSS median first third ${first.toFixed(0)} MB, last third ${last.toFixed(0)} MB (${samples.length} samples)`);
    if (last - first > (opts.rssMarginMb ?? 256)) tally.fail(`soak: RSS grew from ${first.toFixed(0)} to ${last.toFixed(0)} MB`);
  }
  notes.push(`cache namespaces ${nsBefore} before flush, ${after.cacheNamespaces} after`);
  return { part: "soak", tally, notes };
}
