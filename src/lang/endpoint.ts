// A radixlm (or SGLang) server as a backend, through its native API: /generate takes the
// prompt as text, so the server's tokenizer does what the local engine's does in-process.
import { CHATML_TEMPLATE } from "../tokenizer/chat-template.js";
import { continuationStart, sumLogprobs } from "./scoring.js";
import { errorText, LangError, type ContinuationScore, type FinishReason, type GenEvent, type GenParams, type GenRequest, type LangBackend, type ModelFacts, type RequestUsage } from "./backend.js";

export interface EndpointOptions {
  /** Sent as `Authorization: Bearer KEY`. */
  readonly apiKey?: string;
  /** Jinja source of the model's chat template, for servers that do not report it (role helpers need it). */
  readonly chatTemplate?: string;
}

interface MetaInfo {
  finish_reason?: { type?: string } | null;
  prompt_tokens?: number;
  cached_tokens?: number;
  completion_tokens?: number;
}

interface GenerateChunk {
  text?: string;
  meta_info?: MetaInfo;
  error?: { message?: string };
}

function samplingParams(p: GenParams): Record<string, unknown> {
  const sp: Record<string, unknown> = { max_new_tokens: p.maxTokens, temperature: p.temperature };
  const put = (key: string, v: unknown): void => {
    if (v !== undefined) sp[key] = v;
  };
  put("top_p", p.topP);
  put("top_k", p.topK);
  put("min_p", p.minP);
  put("frequency_penalty", p.frequencyPenalty);
  put("presence_penalty", p.presencePenalty);
  put("repetition_penalty", p.repetitionPenalty);
  put("seed", p.seed);
  put("stop", p.stop);
  put("stop_token_ids", p.stopTokenIds);
  put("ignore_eos", p.ignoreEos);
  put("regex", p.regex);
  put("json_schema", p.jsonSchema === undefined || typeof p.jsonSchema === "string" ? p.jsonSchema : JSON.stringify(p.jsonSchema));
  return sp;
}

function usageOf(m: MetaInfo | undefined): RequestUsage {
  return { promptTokens: m?.prompt_tokens ?? 0, cachedTokens: m?.cached_tokens ?? 0, completionTokens: m?.completion_tokens ?? 0 };
}

function finishOf(m: MetaInfo | undefined): FinishReason | null {
  const t = m?.finish_reason?.type;
  if (t === undefined) return null;
  return t === "length" || t === "abort" ? t : "stop";
}

/** The `data:` payloads of a server-sent event stream, as they arrive. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data !== "") yield data;
    }
  }
}

class EndpointBackend implements LangBackend {
  readonly name: string;
  private facts: Promise<ModelFacts> | null = null;

  constructor(private readonly url: string, private readonly opts: EndpointOptions) {
    this.name = `radixlm server at ${url}`;
  }

  private async request(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let r: Response;
    try {
      r = await fetch(`${this.url}${path}`, body === undefined ? { headers, signal } : { method: "POST", headers, body: JSON.stringify(body), signal });
    } catch (err) {
      if (signal?.aborted) throw new LangError(`the request to ${this.name} was aborted`, { cause: err });
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
      throw new LangError(`cannot reach the ${this.name} (${errorText(err)}${cause})`, { cause: err });
    }
    if (!r.ok) {
      const text = await r.text().catch(() => "");
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { message?: string } };
        message = parsed.error?.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new LangError(`the ${this.name} answered ${path} with ${r.status}: ${message}`);
    }
    return r;
  }

  private async json<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const r = await this.request(path, body, signal);
    try {
      return (await r.json()) as T;
    } catch (err) {
      throw new LangError(`the ${this.name} sent a bad ${path} answer: ${errorText(err)}`, { cause: err });
    }
  }

  modelFacts(signal?: AbortSignal): Promise<ModelFacts> {
    this.facts ??= this.fetchFacts(signal);
    // A failed look-up is tried again by the next caller.
    this.facts.catch(() => (this.facts = null));
    return this.facts;
  }

  private async fetchFacts(signal?: AbortSignal): Promise<ModelFacts> {
    const info = await this.json<{ has_chat_template?: boolean; chat_template?: string | null; bos_token_id?: number | null; eos_token_ids?: number[] }>(
      "/get_model_info", undefined, signal);
    const tokenText = async (id: number | null | undefined): Promise<string | undefined> =>
      id === null || id === undefined ? undefined : (await this.json<{ text: string }>("/detokenize", { tokens: [id] }, signal)).text;
    const ids = async (addSpecial: boolean): Promise<number[]> =>
      (await this.json<{ tokens: number[] }>("/tokenize", { text: "a", add_special_tokens: addSpecial }, signal)).tokens;
    const [bosToken, eosToken, withSpecial, plain] = await Promise.all([
      tokenText(info.bos_token_id), tokenText(info.eos_token_ids?.[0]), ids(true), ids(false),
    ]);
    const addsBos = info.bos_token_id != null && withSpecial.length > plain.length && withSpecial[0] === info.bos_token_id;
    // A model without a template of its own is served with ChatML, as the server does.
    const chatTemplate = this.opts.chatTemplate ?? info.chat_template ?? (info.has_chat_template === false ? CHATML_TEMPLATE : null);
    return {
      chatTemplate, addsBos, bosToken, eosToken,
      chatTemplateMissing: chatTemplate === null
        ? `the ${this.name} does not report its chat template; pass it as endpoint(url, { chatTemplate })` : undefined,
    };
  }

  async *generate(req: GenRequest, signal: AbortSignal): AsyncIterable<GenEvent> {
    if (req.params.regex !== undefined && req.params.jsonSchema !== undefined) throw new LangError("give regex or jsonSchema, not both");
    const body = { text: req.text, sampling_params: samplingParams(req.params), stream: true, rid: req.requestId };
    const r = await this.request("/generate", body, signal);
    if (!r.body) throw new LangError(`the ${this.name} sent an empty /generate answer`);
    let sent = 0;
    try {
      for await (const data of sseData(r.body)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data) as GenerateChunk;
        if (chunk.error) throw new LangError(`the ${this.name} failed the gen: ${chunk.error.message ?? "unknown error"}`);
        const text = chunk.text ?? "";
        // Each chunk carries the whole text so far (SGLang's native streaming).
        if (text.length > sent) {
          yield { type: "text", text: text.slice(sent) };
          sent = text.length;
        }
        const reason = finishOf(chunk.meta_info);
        if (reason) {
          yield { type: "finish", reason, usage: usageOf(chunk.meta_info) };
          return;
        }
      }
    } catch (err) {
      if (err instanceof LangError) throw err;
      if (signal.aborted) throw new LangError(`the request to ${this.name} was aborted`, { cause: err });
      throw new LangError(`the ${this.name} broke off the gen: ${errorText(err)}`, { cause: err });
    }
    throw new LangError(`the ${this.name} closed the stream before the gen finished`);
  }

  async cachePrefix(text: string, requestId: string, signal: AbortSignal): Promise<RequestUsage> {
    const body = { text, sampling_params: { max_new_tokens: 1, temperature: 0 }, rid: requestId };
    const out = await this.json<GenerateChunk>("/generate", body, signal);
    return usageOf(out.meta_info);
  }

  async scoreContinuations(prefix: string, options: readonly string[], requestId: string, signal: AbortSignal): Promise<ContinuationScore[]> {
    // The server's tokenizer, so that the positions are those of the ids it scores.
    const { tokens } = await this.json<{ tokens: number[][] }>("/tokenize", { text: [prefix, ...options.map((o) => prefix + o)], add_special_tokens: true }, signal);
    const prefixIds = tokens[0]!;
    return Promise.all(options.map(async (_option, i) => {
      const ids = tokens[i + 1]!;
      const start = continuationStart(prefixIds, ids);
      const body = { input_ids: ids, sampling_params: { max_new_tokens: 1, temperature: 0 }, return_logprob: true, logprob_start_len: start, rid: `${requestId}-${i}` };
      const out = await this.json<GenerateChunk & { meta_info?: { input_token_logprobs?: [number | null, number, string | null][] } }>("/generate", body, signal);
      const rows = out.meta_info?.input_token_logprobs;
      if (!rows) throw new LangError(`the ${this.name} gave no input_token_logprobs (it does not score prompts)`);
      return { logprob: sumLogprobs(rows.map((r) => r[0])), tokens: rows.length, usage: usageOf(out.meta_info) };
    }));
  }
}

/** A backend over a radixlm server's native API (`url` without a trailing path, e.g. http://127.0.0.1:30000). */
export function endpoint(url: string, options: EndpointOptions = {}): LangBackend {
  return new EndpointBackend(url.replace(/\/+$/, ""), options);
}
