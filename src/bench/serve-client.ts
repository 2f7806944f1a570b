// One streamed generation request against a server, in one of three dialects (OpenAI
// completions, OpenAI chat, SGLang's native /generate), timed from the moment it is sent:
// first token, the gap before every later chunk that carries text, and the end.
import { readSse } from "./sse-reader.js";

export type ApiKind = "openai-completions" | "openai-chat" | "native";
export const API_KINDS: readonly ApiKind[] = ["openai-completions", "openai-chat", "native"];

export interface ChatTurn {
  readonly role: "user" | "assistant";
  readonly content: string;
}

export type PromptInput =
  | { readonly kind: "ids"; readonly ids: readonly number[] }
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "chat"; readonly messages: readonly ChatTurn[] };

/** How much a request generates: exactly `maxTokens` (ignoring EOS), or until EOS, at most `maxTokens`. */
export interface OutputLimit {
  readonly maxTokens: number;
  readonly untilEos: boolean;
}

/** A response's speculative decoding counts, where the server reports them. */
export interface RequestSpeculation {
  readonly drafted: number;
  readonly accepted: number;
  /** Verifications: native meta_info's spec_verify_ct; null where the server does not say (OpenAI usage). */
  readonly verifies: number | null;
}

export interface ClientOptions {
  /** The server's root URL, without /v1. */
  readonly root: string;
  readonly api: ApiKind;
  /** The `model` field; left out when null (servers with one model accept that). */
  readonly model: string | null;
  readonly apiKey: string | null;
  /** Merged into every request body (sampling extras a server wants). */
  readonly extraBody: Readonly<Record<string, unknown>>;
}

export interface RequestResult {
  readonly ok: boolean;
  readonly error: string | null;
  /** performance.now() when the request was sent. */
  readonly start: number;
  readonly ttftMs: number;
  readonly e2eMs: number;
  /** Gaps between consecutive chunks that carried output. */
  readonly itlMs: readonly number[];
  readonly outputText: string;
  /** The generated ids, where the server returns them (native /generate). */
  readonly outputIds: readonly number[] | null;
  /** As the server reports them; null where it does not. */
  readonly promptTokens: number | null;
  readonly outputTokens: number | null;
  readonly cachedTokens: number | null;
  /** Chunks that carried output (the fallback count of output tokens). */
  readonly chunks: number;
  /** From usage.completion_tokens_details (accepted and rejected predictions) or native meta_info (spec_*); null where neither says. */
  readonly speculative: RequestSpeculation | null;
}

type Json = Record<string, unknown>;

const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
const obj = (x: unknown): Json | null => (x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Json) : null);

function requestBody(o: ClientOptions, prompt: PromptInput, out: OutputLimit): { path: string; body: Json } {
  const model = o.model !== null ? { model: o.model } : {};
  const n = out.maxTokens;
  if (o.api === "native") {
    const input = prompt.kind === "ids" ? { input_ids: prompt.ids } : prompt.kind === "text" ? { text: prompt.text } : null;
    if (!input) throw new Error("the native API takes token ids or text, not chat messages");
    // Fixed output length: no early end at EOS, no stop strings; or greedy to EOS.
    const sampling_params = out.untilEos ? { max_new_tokens: n, temperature: 0 } : { max_new_tokens: n, min_new_tokens: n, ignore_eos: true, temperature: 0 };
    return { path: "/generate", body: { ...model, ...input, sampling_params, stream: true, ...o.extraBody } };
  }
  const common = {
    ...model, max_tokens: n, ...(out.untilEos ? {} : { min_tokens: n, ignore_eos: true }), temperature: 0,
    stream: true, stream_options: { include_usage: true },
  };
  if (o.api === "openai-chat") {
    if (prompt.kind !== "chat") throw new Error("the chat API takes messages");
    return { path: "/v1/chat/completions", body: { ...common, messages: prompt.messages, ...o.extraBody } };
  }
  const p = prompt.kind === "ids" ? prompt.ids : prompt.kind === "text" ? prompt.text : null;
  if (p === null) throw new Error("the completions API takes token ids or text, not chat messages");
  return { path: "/v1/completions", body: { ...common, prompt: p, ...o.extraBody } };
}

/** What one event says: new output text, and the counts it reports. */
interface Parsed {
  text: string;
  /** Native: the cumulative ids and count so far. */
  ids?: number[];
  completion?: number | null;
  usage?: { prompt: number | null; completion: number | null; cached: number | null };
  speculative?: RequestSpeculation;
  error?: string;
}

function parseOpenAI(e: Json, chat: boolean): Parsed {
  if (e.error !== undefined) return { text: "", error: errorText(e.error) };
  let text = "";
  const choices = Array.isArray(e.choices) ? e.choices : [];
  for (const c of choices) {
    const co = obj(c);
    if (!co) continue;
    if (chat) {
      const d = obj(co.delta);
      // Reasoning models stream their thinking first; it is output all the same.
      for (const k of ["content", "reasoning_content", "reasoning"]) if (typeof d?.[k] === "string") text += d[k] as string;
    } else if (typeof co.text === "string") text += co.text;
  }
  const out: Parsed = { text };
  const u = obj(e.usage);
  if (u) {
    const details = obj(u.prompt_tokens_details);
    out.usage = { prompt: num(u.prompt_tokens), completion: num(u.completion_tokens), cached: num(details?.cached_tokens) };
    // OpenAI's predicted outputs; radixlm counts its speculative drafts there.
    const c = obj(u.completion_tokens_details);
    const accepted = num(c?.accepted_prediction_tokens), rejected = num(c?.rejected_prediction_tokens);
    if (accepted !== null && rejected !== null) out.speculative = { drafted: accepted + rejected, accepted, verifies: null };
  }
  // llama.cpp's server: timings.cache_n prompt tokens reused, timings.prompt_n evaluated.
  const t = obj(e.timings);
  if (t && num(t.cache_n) !== null && num(t.prompt_n) !== null) {
    const cached = num(t.cache_n)!;
    out.usage = {
      prompt: out.usage?.prompt ?? cached + num(t.prompt_n)!,
      completion: out.usage?.completion ?? num(t.predicted_n),
      cached: out.usage?.cached ?? cached,
    };
  }
  return out;
}

function errorText(err: unknown): string {
  const o = obj(err);
  if (o && typeof o.message === "string") return o.message;
  return typeof err === "string" ? err : JSON.stringify(err);
}

/** Sends one request and reads its stream to the end; never throws. */
export async function sendRequest(o: ClientOptions, prompt: PromptInput, output: OutputLimit, signal: AbortSignal): Promise<RequestResult> {
  const start = performance.now();
  let first = 0;
  let last = 0;
  const itl: number[] = [];
  let text = "";
  let chunks = 0;
  let ids: number[] | null = null;
  let nativeCount = 0;
  let usage: Parsed["usage"] | undefined;
  let speculative: RequestSpeculation | null = null;
  const result = (error: string | null): RequestResult => {
    const end = performance.now();
    return {
      ok: error === null, error, start,
      ttftMs: first ? first - start : 0,
      e2eMs: end - start,
      itlMs: itl, outputText: text, outputIds: ids,
      promptTokens: usage?.prompt ?? null,
      outputTokens: usage?.completion ?? (o.api === "native" && nativeCount > 0 ? nativeCount : null),
      cachedTokens: usage?.cached ?? null,
      chunks, speculative,
    };
  };
  try {
    const { path, body } = requestBody(o, prompt, output);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
    if (o.apiKey !== null) headers.authorization = `Bearer ${o.apiKey}`;
    const r = await fetch(o.root + path, { method: "POST", headers, body: JSON.stringify(body), signal });
    if (!r.ok || !r.body) {
      const detail = await r.text().catch(() => "");
      let msg = detail.slice(0, 300);
      try {
        msg = errorText(obj(JSON.parse(detail))?.error ?? detail);
      } catch {
        // not JSON: keep the text
      }
      return result(`HTTP ${r.status}: ${msg.split("\n")[0]}`);
    }
    for await (const ev of readSse(r.body)) {
      if (ev.data === "[DONE]") break;
      let e: Json | null;
      try {
        e = obj(JSON.parse(ev.data));
      } catch {
        return result(`bad event: ${ev.data.slice(0, 100)}`);
      }
      if (!e) continue;
      let p: Parsed;
      if (o.api === "native") {
        if (e.error !== undefined) return result(errorText(e.error));
        const meta = obj(e.meta_info);
        const count = num(meta?.completion_tokens);
        const full = typeof e.text === "string" ? e.text : "";
        // SGLang streams the cumulative text (or, with incremental output, just the new part).
        const cumulative = full.startsWith(text);
        p = { text: cumulative ? full.slice(text.length) : full, completion: count };
        text = cumulative ? full : text + full;
        if (Array.isArray(e.output_ids)) {
          const got = e.output_ids.filter((x): x is number => typeof x === "number");
          ids = count !== null && got.length === count ? got : [...(ids ?? []), ...got];
        }
        if (meta) p.usage = { prompt: num(meta.prompt_tokens), completion: count, cached: num(meta.cached_tokens) };
        // SGLang's speculative meta_info, at the finish.
        const drafted = num(meta?.spec_draft_tokens), accepted = num(meta?.spec_accepted_tokens);
        if (drafted !== null && accepted !== null) p.speculative = { drafted, accepted, verifies: num(meta?.spec_verify_ct) };
        const grew = count !== null ? count > nativeCount : p.text !== "";
        if (count !== null) nativeCount = Math.max(nativeCount, count);
        if (grew) mark(ev.at);
      } else {
        p = parseOpenAI(e, o.api === "openai-chat");
        if (p.error !== undefined) return result(p.error);
        if (p.text !== "") {
          text += p.text;
          mark(ev.at);
        }
      }
      if (p.usage) usage = p.usage;
      if (p.speculative) speculative = p.speculative;
    }
    if (first === 0) return result("no output before the stream ended");
    return result(null);
  } catch (err) {
    const e = err as Error;
    if (signal.aborted) return result(signal.reason instanceof Error && signal.reason.name === "TimeoutError" ? "timed out" : "aborted");
    return result(e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message);
  }

  function mark(at: number): void {
    chunks++;
    if (first === 0) first = at;
    else itl.push(at - last);
    last = at;
  }
}
