// SGLang's native endpoints: /generate (text or input_ids, sampling_params, streaming),
// /tokenize, /detokenize, /health, /health_generate, /flush_cache, /get_model_info,
// /get_server_info, /abort_request, and /metrics.
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { SamplingParams } from "../sampling/params.js";
import type { EngineEvent, FinishReason, SpeculativeCounts, TokenLogprob } from "../engine/stream.js";
import { ApiError, badRequest, toApiError, unavailable } from "./errors.js";
import { arrivalOf, Generation, newId } from "./generation.js";
import { defined } from "./openai-format.js";
import { chatSchema, MAX_PROMPTS, MAX_RID_LENGTH, type ChatBody } from "./schema.js";
import type { Serving } from "./serving.js";
import { onClientGone, SseStream } from "./sse.js";
import { nativeSpec } from "./structured.js";
import { generateChoices } from "./choices.js";
import type { Metrics } from "./metrics.js";
import { generationDefaultsJson } from "../model/generation-defaults.js";

type Schema = Record<string, unknown>;
const opt = (type: string, description: string, extra: Schema = {}): Schema => ({ type: [type, "null"], description, ...extra });
const ids = { type: "array", items: { type: "integer" } };

const generateSchema: Schema = {
  type: "object",
  description: "a JSON object",
  properties: {
    text: { anyOf: [{ type: "string" }, { type: "array", minItems: 1, maxItems: MAX_PROMPTS, items: { type: "string" } }, { type: "null" }], description: "a string or a list of strings" },
    input_ids: { anyOf: [{ ...ids, minItems: 1 }, { type: "array", minItems: 1, maxItems: MAX_PROMPTS, items: { ...ids, minItems: 1 } }, { type: "null" }], description: "a list of token ids or a list of them" },
    sampling_params: opt("object", "an object", {
      properties: {
        max_new_tokens: opt("integer", "an integer >= 0", { minimum: 0 }),
        min_new_tokens: opt("integer", "an integer >= 0", { minimum: 0 }),
        temperature: opt("number", "a number >= 0", { minimum: 0 }),
        top_p: opt("number", "a number in (0, 1]"),
        top_k: opt("integer", "an integer >= -1"),
        min_p: opt("number", "a number in [0, 1]"),
        frequency_penalty: opt("number", "a number in [-2, 2]"),
        presence_penalty: opt("number", "a number in [-2, 2]"),
        repetition_penalty: opt("number", "a number > 0"),
        stop: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }, { type: "null" }], description: "a string or a list of strings" },
        stop_token_ids: opt("array", "a list of token ids", { items: { type: "integer" } }),
        ignore_eos: opt("boolean", "a boolean"),
        n: opt("integer", "an integer in [1, 128]", { minimum: 1, maximum: 128 }),
        seed: opt("integer", "an integer"),
        sampling_seed: opt("integer", "an integer"),
        logit_bias: opt("object", "an object mapping token ids to numbers"),
        json_schema: { anyOf: [{ type: "string" }, { type: "object" }, { type: "null" }], description: "a JSON schema (an object or its JSON text)" },
        regex: opt("string", "a regular expression"),
        ebnf: opt("string", "an EBNF grammar"),
        choices: opt("array", "a non-empty list of strings", { items: { type: "string" }, minItems: 1 }),
      },
    }),
    stream: opt("boolean", "a boolean"),
    return_logprob: opt("boolean", "a boolean"),
    top_logprobs_num: opt("integer", "an integer in [0, 20]", { minimum: 0, maximum: 20 }),
    logprob_start_len: opt("integer", "an integer >= -1", { minimum: -1 }),
    rid: opt("string", `a string of at most ${MAX_RID_LENGTH} characters`, { maxLength: MAX_RID_LENGTH }),
    cache_salt: opt("string", "a string"),
  },
};

interface GenerateBody {
  text?: string | string[] | null;
  input_ids?: number[] | number[][] | null;
  sampling_params?: Record<string, unknown> | null;
  stream?: boolean | null;
  return_logprob?: boolean | null;
  top_logprobs_num?: number | null;
  logprob_start_len?: number | null;
  rid?: string | null;
  cache_salt?: string | null;
}

const tokenizeSchema: Schema = {
  type: "object",
  description: "a JSON object",
  properties: {
    prompt: { anyOf: [{ type: "string" }, { type: "array", maxItems: MAX_PROMPTS, items: { type: "string" } }], description: `a string or a list of at most ${MAX_PROMPTS} strings` },
    text: { anyOf: [{ type: "string" }, { type: "array", maxItems: MAX_PROMPTS, items: { type: "string" } }], description: `a string or a list of at most ${MAX_PROMPTS} strings` },
    messages: chatSchema.properties.messages,
    tools: chatSchema.properties.tools,
    add_special_tokens: opt("boolean", "a boolean"),
  },
};

// Decoded on the event loop: 256 Ki ids take about 30 ms (1 Mi, 114 ms).
const MAX_DETOKENIZE_TOKENS = 262_144;

const detokenizeSchema: Schema = {
  type: "object",
  required: ["tokens"],
  description: "a JSON object",
  properties: { tokens: { ...ids, maxItems: MAX_DETOKENIZE_TOKENS, description: `a list of at most ${MAX_DETOKENIZE_TOKENS} token ids` } },
};

function samplingParams(sp: Record<string, unknown>, defaultTemperature: number): Partial<SamplingParams> {
  const v = <T>(k: string): T | undefined => (sp[k] === null ? undefined : (sp[k] as T | undefined));
  const stop = v<string | string[]>("stop");
  return defined({
    temperature: v<number>("temperature") ?? defaultTemperature,
    topP: v<number>("top_p"),
    topK: v<number>("top_k"),
    minP: v<number>("min_p"),
    frequencyPenalty: v<number>("frequency_penalty"),
    presencePenalty: v<number>("presence_penalty"),
    repetitionPenalty: v<number>("repetition_penalty"),
    stop: typeof stop === "string" ? [stop] : stop,
    stopTokenIds: v<number[]>("stop_token_ids"),
    ignoreEos: v<boolean>("ignore_eos"),
    minNewTokens: v<number>("min_new_tokens"),
    seed: v<number>("seed") ?? v<number>("sampling_seed"),
    logitBias: v<Record<string, number>>("logit_bias"),
  });
}

/** What one choice of /generate shows: its whole output, or (streaming) its output so far. */
interface ChoiceView {
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly logprobs: readonly TokenLogprob[];
  readonly finishReason: FinishReason | null;
  readonly error?: Error;
  /** At the finish: its speculative decoding's counts. */
  readonly speculative?: SpeculativeCounts;
}

/** One choice of /generate as SGLang shows it. */
function output(s: Serving, gen: Generation, c: ChoiceView, i: number, prompts: readonly number[][], withLogprobs: boolean, logprobStart: number): Record<string, unknown> {
  const prompt = Math.floor(i / (gen.count / prompts.length));
  const meta: Record<string, unknown> = {
    id: gen.count === 1 ? gen.spec.id : `${gen.spec.id}-${i}`,
    finish_reason: finishReason(c),
    prompt_tokens: prompts[prompt]!.length,
    completion_tokens: c.tokenIds.length,
    cached_tokens: gen.promptUsage(prompt).cachedTokens,
    e2e_latency: (performance.now() - gen.spec.arrival) / 1000,
  };
  // As SGLang's speculative meta_info: verify steps, and the draft tokens verified and accepted.
  if (c.speculative) {
    meta.spec_verify_ct = c.speculative.verifySteps;
    meta.spec_draft_tokens = c.speculative.draftTokens;
    meta.spec_accepted_tokens = c.speculative.acceptedTokens;
  }
  if (withLogprobs) {
    meta.output_token_logprobs = c.logprobs.map((t) => [t.logprob, t.token, s.tokenString(t.token)]);
    meta.output_top_logprobs = c.logprobs.map((t) => (t.topLogprobs ?? []).map((a) => [a.logprob, a.token, s.tokenString(a.token)]));
    const p = gen.promptLogprobs[prompt];
    if (logprobStart >= 0 && p) {
      const ids = prompts[prompt]!;
      const rows: [number | null, number, string][] = [];
      if (logprobStart === 0) rows.push([null, ids[0]!, s.tokenString(ids[0]!)]);
      p.logprobs.forEach((lp, k) => rows.push([lp, p.tokenIds[k]!, s.tokenString(p.tokenIds[k]!)]));
      meta.input_token_logprobs = rows;
    }
  }
  return { text: c.text, output_ids: c.tokenIds, meta_info: meta };
}

/** SGLang's finish_reason object; a failed choice says why, with the status a whole response would have had. */
function finishReason(c: ChoiceView): Record<string, unknown> | null {
  if (c.finishReason === null) return null;
  if (c.finishReason === "length") return { type: "length", length: c.tokenIds.length };
  if (c.finishReason === "error") {
    const e = toApiError(c.error);
    return { type: "error", message: e.message, status_code: e.status };
  }
  return { type: c.finishReason };
}

/** Engine parameter names as /generate spells them. */
const NATIVE_NAMES = { request_id: "rid" } as const;

async function generate(s: Serving, b: GenerateBody, reply: FastifyReply): Promise<unknown> {
  const arrival = arrivalOf(reply);
  if ((b.text == null) === (b.input_ids == null)) throw badRequest("text", "Give exactly one of 'text' and 'input_ids'.");
  let prompts: number[][];
  if (b.text != null) prompts = await s.promptIds(typeof b.text === "string" ? [b.text] : b.text, { prompt: "text" });
  else prompts = typeof b.input_ids![0] === "number" ? [b.input_ids as number[]] : (b.input_ids as number[][]);
  const names = { ...NATIVE_NAMES, prompt: b.text != null ? "text" : "input_ids" };
  const sp = b.sampling_params ?? {};
  const withLogprobs = b.return_logprob === true;
  const params = { ...samplingParams(sp, s.defaultTemperature), ...(typeof sp.max_new_tokens === "number" ? { maxNewTokens: sp.max_new_tokens } : {}),
    ...(withLogprobs ? { logprobs: true, topLogprobs: b.top_logprobs_num ?? 0 } : {}) };
  const n = typeof sp.n === "number" ? sp.n : 1;
  // SGLang's logprob_start_len: input token logprobs from that position (-1: none). The
  // first token has no logprob (null), so the engine starts at 1 at the earliest.
  const logprobStart = withLogprobs && b.logprob_start_len != null && b.logprob_start_len >= 0 ? b.logprob_start_len : -1;
  const promptLogprobsStart = logprobStart >= 0 ? Math.max(1, logprobStart) : undefined;
  const constraint = nativeSpec(sp);
  const id = b.rid ?? newId("");
  const cacheSalt = b.cache_salt ?? undefined;
  if (constraint?.spec.kind === "choices") {
    const outs = await generateChoices(s, { id, prompts, choices: constraint.spec.choices, cacheSalt, arrival, names: { ...names, grammar: constraint.param } }, reply);
    const body = prompts.length === 1 ? outs[0] : outs;
    if (!b.stream) return body;
    const sse = new SseStream(reply);
    for (const [i, o] of outs.entries()) await sse.send(prompts.length === 1 ? o : { ...o, index: i });
    sse.done();
    return undefined;
  }
  const grammar = constraint?.spec;
  const inputs = prompts.map((ids) => ({ inputIds: ids, params, n, cacheSalt, promptLogprobsStart, grammar, defaultMaxNewTokens: 128 }));
  const gen = new Generation(s, { id, inputs, arrival }, constraint ? { ...names, grammar: constraint.param } : names);
  onClientGone(reply, () => gen.abort());
  const single = gen.count === 1;
  if (!b.stream) {
    await gen.run();
    const failure = gen.failure();
    if (failure) throw failure;
    const outs = gen.outputs.map((c, i) => output(s, gen, c!, i, prompts, withLogprobs, logprobStart));
    return single ? outs[0] : outs;
  }
  await gen.firstEvent();
  const sse = new SseStream(reply);
  // SGLang streams each choice's output so far: its text and ids grow chunk by chunk.
  const sofar = gen.outputs.map(() => ({ text: "", tokenIds: [] as number[], logprobs: [] as TokenLogprob[] }));
  try {
    for await (const { choice, event } of gen.events()) {
      if (sse.closed) break;
      if (!shouldSend(event)) continue;
      const c = sofar[choice]!;
      let view: ChoiceView;
      if (event.type === "token") {
        c.text += event.text;
        c.tokenIds.push(event.tokenId);
        if (event.logprob) c.logprobs.push(event.logprob);
        view = { ...c, finishReason: null };
      } else {
        view = event.output;
      }
      const out = output(s, gen, view, choice, prompts, withLogprobs, logprobStart);
      await sse.send(single ? out : { ...out, index: choice });
    }
    sse.done();
  } catch (err) {
    await sse.send(toApiError(err).body());
    sse.done();
  }
  return undefined;
}

function shouldSend(e: EngineEvent): boolean {
  return e.type === "finish" || e.text !== "" || e.logprob !== undefined;
}

export interface NativeApiDeps {
  readonly serving: () => Serving;
  readonly metrics: Metrics;
  readonly state: () => string;
  readonly serverInfo: () => Record<string, unknown>;
}

export function registerNativeApi(app: FastifyInstance, deps: NativeApiDeps): void {
  const { serving, metrics } = deps;

  app.get("/health", async () => {
    serving();
    return { status: "ok" };
  });

  app.get("/health_generate", async () => {
    const s = serving();
    const done = await s.engine.probe({ requestId: newId("health-"), signal: AbortSignal.timeout(20_000) });
    if (!done) throw unavailable("The health generation did not finish in time.");
    return { status: "ok" };
  });

  app.get("/metrics", async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  app.post("/generate", { schema: { body: generateSchema } }, async (req, reply) => generate(serving(), req.body as GenerateBody, reply));

  // The answer is written from each prompt's ids as JSON bytes, made (for a long text) on the
  // tokenizer thread: millions of ids cost JSON.stringify half a second, and writing them as a
  // string as much again in encoding.
  app.post("/tokenize", { schema: { body: tokenizeSchema } }, async (req, reply) => {
    const s = serving();
    const b = req.body as { prompt?: string | string[]; text?: string | string[]; messages?: ChatBody["messages"]; tools?: ChatBody["tools"]; add_special_tokens?: boolean | null };
    const addSpecial = b.add_special_tokens ?? true;
    let texts: string | string[];
    if (b.messages) texts = s.renderChat(b.messages, b.tools ?? undefined);
    else {
      const input = b.prompt ?? b.text;
      if (input === undefined) throw badRequest("prompt", "Give 'prompt' (or 'text', or 'messages').", "missing_required_parameter");
      texts = input;
    }
    // a rendered conversation has its BOS from the template
    const options = { addSpecial: b.messages ? false : addSpecial, parseSpecial: true };
    const each = await Promise.all((typeof texts === "string" ? [texts] : texts).map((t) => s.tokenizeJson(t, options)));
    const count = each.reduce((a, e) => a + e.count, 0);
    const parts = typeof texts === "string" ? [each[0]!.json] : [Buffer.from("["), ...each.flatMap((e, i) => (i === 0 ? [e.json] : [Buffer.from(","), e.json])), Buffer.from("]")];
    const body = [Buffer.from('{"tokens":'), ...parts, Buffer.from(`,"count":${count},"max_model_len":${s.contextLength}}`)];
    reply.type("application/json; charset=utf-8").header("content-length", body.reduce((n, p) => n + p.byteLength, 0));
    return reply.send(Readable.from(body));
  });

  app.post("/detokenize", { schema: { body: detokenizeSchema } }, async (req) => {
    const s = serving();
    const tokens = (req.body as { tokens: number[] }).tokens;
    s.checkIds(tokens, "tokens");
    const text = s.model.tokenizer.decode(tokens);
    return { text, prompt: text };
  });

  const flush = async (): Promise<unknown> => {
    if (!serving().engine.flushCache({ disk: true })) throw new ApiError(400, "Cannot flush the cache while requests are running.", "invalid_request_error", null, "busy");
    return { flushed: true };
  };
  app.post("/flush_cache", flush);
  app.get("/flush_cache", flush);

  app.get("/get_model_info", async () => {
    const s = serving();
    const c = s.model.config;
    return {
      model_path: s.model.path, tokenizer_path: s.model.path, served_model_name: s.name, is_generation: true,
      format: s.model.format, architecture: c.arch, context_length: s.contextLength, max_position_embeddings: c.maxPositionEmbeddings,
      vocab_size: c.vocabSize, hidden_size: c.hiddenSize, num_layers: c.numLayers, num_heads: c.numHeads, num_kv_heads: c.numKvHeads,
      bos_token_id: c.bosTokenId, eos_token_ids: c.eosTokenIds, has_chat_template: s.model.chatTemplate !== null,
      // The template clients (radixlm/lang's endpoint) render role turns with.
      chat_template: s.engine.chat.template.source,
      // What a request gets for a sampling field it leaves out: the model's own defaults
      // (empty with --generation-config none), temperature 1 when they set none.
      model_generation_defaults: generationDefaultsJson(s.model.generationDefaults),
      default_sampling_params: { temperature: s.defaultTemperature, ...generationDefaultsJson(s.engine.generationDefaults) },
    };
  });

  app.get("/get_server_info", async () => {
    const s = serving();
    return { ...deps.serverInfo(), state: deps.state(), served_model_name: s.name, context_length: s.contextLength,
      inflight_requests: s.engine.inflight, stats: s.engine.stats(), gen_throughput: metrics.genThroughput(),
      ...(s.engine.diskStats() ? { disk_tier: s.engine.diskStats() } : {}) };
  });

  app.post("/abort_request", {
    schema: { body: { type: "object", description: "a JSON object", properties: {
      rid: opt("string", `a string of at most ${MAX_RID_LENGTH} characters`, { maxLength: MAX_RID_LENGTH }), abort_all: opt("boolean", "a boolean") } } },
  }, async (req) => {
    const s = serving();
    const b = req.body as { rid?: string | null; abort_all?: boolean | null };
    if (b.abort_all) return { aborted: s.abortAll() };
    if (!b.rid) throw badRequest("rid", "Give 'rid' (or 'abort_all': true).", "missing_required_parameter");
    // The exact id a request was submitted under: all of its choices go (never a prefix match).
    return { aborted: s.engine.abort(b.rid) ? 1 : 0 };
  });
}
