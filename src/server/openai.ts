// The OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/models. Bodies are
// checked by the schemas in schema.ts; the sampling fields map onto the engine's parameters;
// responses (whole or streamed as server-sent events) follow OpenAI's shapes.
import type { FastifyInstance, FastifyReply } from "fastify";
import { badRequest, modelNotFound, toApiError } from "./errors.js";
import { arrivalOf, Generation, newId } from "./generation.js";
import { chatDeltas, chatLogprobs, completionLogprobs, OPENAI_NAMES, samplingFrom, toolCallBodies, usageBody, type ChatDelta } from "./openai-format.js";
import { chatSchema, completionSchema, type ChatBody, type CompletionBody } from "./schema.js";
import type { Serving } from "./serving.js";
import { onClientGone, SseStream } from "./sse.js";
import { openaiGrammar, toolPlan, type ToolPlan } from "./structured.js";
import type { GenerateInput } from "../engine/input.js";
import type { EngineEvent } from "../engine/stream.js";
import { ChoiceOutput, prepareChat, wholeChoice, wholeOutputs, withMax, type Thinking } from "./chat-request.js";

// One model is loaded: any name asks for it (tools hard-code "gpt-4o"), as SGLang and
// llama.cpp serve theirs, unless --strict-model-name.
export function checkModel(s: Serving, model: string | null | undefined, strict: boolean): void {
  if (strict && model !== undefined && model !== null && model !== s.name && model !== s.model.path) throw modelNotFound(model);
}

function modelCard(s: Serving, created: number): Record<string, unknown> {
  return { id: s.name, object: "model", created, owned_by: "radixlm", root: s.model.path, max_model_len: s.contextLength };
}

export function unix(): number {
  return Math.floor(Date.now() / 1000);
}

export function registerOpenAI(app: FastifyInstance, serving: () => Serving, streamHeaders: () => Record<string, string>, strictModel = false): void {
  const started = unix();

  app.get("/v1/models", async () => ({ object: "list", data: [modelCard(serving(), started)] }));

  app.get("/v1/models/*", async (req) => {
    const s = serving();
    const id = (req.params as { "*": string })["*"];
    if (id !== s.name) throw modelNotFound(id);
    return modelCard(s, started);
  });

  app.post("/v1/chat/completions", { schema: { body: chatSchema } }, async (req, reply) => {
    const arrival = arrivalOf(reply);
    const s = serving();
    const b = req.body as ChatBody;
    checkModel(s, b.model, strictModel);
    if ((b.top_logprobs ?? 0) > 0 && b.logprobs !== true) throw badRequest("top_logprobs", "'top_logprobs' needs 'logprobs' to be true.");
    const plan = await toolPlan(s, b.tools, b.tool_choice, b.parallel_tool_calls);
    const format = openaiGrammar(b);
    const maxParam = b.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
    const logprobs = b.logprobs === true;
    const params = withMax({ ...samplingFrom(b, s.defaultTemperature), ...(logprobs ? { logprobs: true, topLogprobs: b.top_logprobs ?? 0 } : {}) },
      b.max_completion_tokens ?? b.max_tokens);
    const { gen, thinking } = await prepareChat(s, {
      id: newId("chatcmpl-"), arrival, messages: b.messages, plan, format, templateKwargs: b.chat_template_kwargs ?? undefined, params,
      n: b.n ?? 1, cacheSalt: b.cache_salt ?? undefined, names: { ...OPENAI_NAMES, max_new_tokens: maxParam, prompt: "messages", grammar: "response_format" },
      ...(b.prediction ? { prediction: predictionText(b.prediction.content) } : {}),
    });
    onClientGone(reply, () => gen.abort());
    const head = { id: gen.spec.id, created: unix(), model: s.name, system_fingerprint: null };
    if (b.stream) return streamChat(s, gen, head, b.stream_options?.include_usage === true, reply, streamHeaders(), plan, thinking);
    const choices = await wholeOutputs(gen);
    return {
      ...head,
      object: "chat.completion",
      choices: choices.map((c, index) => {
        const split = wholeChoice(plan, thinking, c.text);
        const calls = split.calls.length > 0 ? toolCallBodies(split.calls) : null;
        return {
          index,
          message: {
            role: "assistant", content: split.content, ...(thinking ? { reasoning_content: split.reasoning } : {}), refusal: null,
            ...(calls ? { tool_calls: calls } : {}),
          },
          logprobs: logprobs ? { content: chatLogprobs(s, c.logprobs), refusal: null } : null,
          finish_reason: calls && c.finishReason === "stop" ? "tool_calls" : c.finishReason,
        };
      }),
      usage: usageBody(gen.usage),
    };
  });

  app.post("/v1/completions", { schema: { body: completionSchema } }, async (req, reply) => {
    const arrival = arrivalOf(reply);
    const s = serving();
    const b = req.body as CompletionBody;
    checkModel(s, b.model, strictModel);
    const n = b.n ?? 1;
    if (b.best_of !== undefined && b.best_of !== null && b.best_of !== n) throw badRequest("best_of", "'best_of' other than 'n' is not supported.");
    if (b.suffix) throw badRequest("suffix", "'suffix' is not supported.");
    const k = b.logprobs ?? null;
    if (b.echo && k !== null) throw badRequest("echo", "'echo' with 'logprobs' needs prompt log-probabilities, which this server does not compute yet.");
    const prompts = await completionPrompts(s, b.prompt);
    const params = withMax({ ...samplingFrom(b, s.defaultTemperature), ...(k !== null ? { logprobs: true, topLogprobs: k } : {}) }, b.max_tokens);
    const format = openaiGrammar(b);
    const grammar = format?.spec ?? undefined;
    const inputs = prompts.map((p): GenerateInput => ({ inputIds: p.ids, params, n, cacheSalt: b.cache_salt ?? undefined, grammar, defaultMaxNewTokens: 16 }));
    const gen = new Generation(s, { id: newId("cmpl-"), inputs, arrival }, { ...OPENAI_NAMES, top_logprobs: "logprobs", grammar: format?.param ?? "response_format" });
    onClientGone(reply, () => gen.abort());
    const echoes = prompts.map((p) => (b.echo ? (p.text ?? s.model.tokenizer.decode(p.ids, { skipSpecial: true })) : ""));
    const head = { id: gen.spec.id, object: "text_completion", created: unix(), model: s.name, system_fingerprint: null };
    if (b.stream) return streamCompletion(s, gen, head, echoes, k !== null, b.stream_options?.include_usage === true, reply, streamHeaders());
    const choices = await wholeOutputs(gen);
    return {
      ...head,
      choices: choices.map((c, index) => {
        const echo = echoes[Math.floor(index / n)]!;
        return {
          index,
          text: echo + c.text,
          logprobs: k !== null ? completionLogprobs(s, c.logprobs, echo.length).logprobs : null,
          finish_reason: c.finishReason,
        };
      }),
      usage: usageBody(gen.usage),
    };
  });
}

interface PromptIn {
  readonly ids: number[];
  readonly text?: string;
}

async function completionPrompts(s: Serving, prompt: CompletionBody["prompt"]): Promise<PromptIn[]> {
  if (typeof prompt[0] === "number") return [{ ids: prompt as number[] }];
  // The schema allows a string, or a list of strings, or of token id lists, never a mix.
  const list = (typeof prompt === "string" ? [prompt] : prompt) as string[] | number[][];
  if (typeof list[0] !== "string") return (list as number[][]).map((ids) => ({ ids }));
  const texts = list as string[];
  const ids = await s.promptIds(texts, OPENAI_NAMES);
  return texts.map((text, i) => ({ ids: ids[i]!, text }));
}

type Head = Record<string, unknown>;

/** Ends a stream after a failure: an error event, then [DONE]. */
async function failStream(sse: SseStream, err: unknown): Promise<void> {
  await sse.send(toApiError(err).body());
  sse.done();
}

/** A choice that failed mid-stream: its error as the stream's last event (the others are aborted with it). */
class ChoiceFailed extends Error {
  constructor(readonly failure: unknown) {
    super("a choice failed");
  }
}

/** A prediction's text: the string, or its text parts joined (OpenAI allows only text parts there). */
function predictionText(content: string | readonly { type: string; text?: string }[]): string {
  if (typeof content === "string") return content;
  for (const p of content) if (p.type !== "text" || typeof p.text !== "string") throw badRequest("prediction", "The prediction's content parts must be text parts ({\"type\": \"text\", \"text\": ...}).");
  return content.map((p) => p.text!).join("");
}

function failureOf(event: EngineEvent): ChoiceFailed | null {
  return event.type === "finish" && event.output.error ? new ChoiceFailed(event.output.error) : null;
}

async function streamChat(s: Serving, gen: Generation, head: Head, includeUsage: boolean, reply: FastifyReply, headers: Record<string, string>,
  plan: ToolPlan, thinking: Thinking | null): Promise<void> {
  await gen.firstEvent();
  const sse = new SseStream(reply, headers);
  const chunk = (choice: Record<string, unknown>): Record<string, unknown> =>
    ({ ...head, object: "chat.completion.chunk", choices: [choice], ...(includeUsage ? { usage: null } : {}) });
  // Each choice's thinking streams as reasoning_content first; with tools, its answer streams
  // as content and calls (a name, then argument pieces).
  const outputs = gen.outputs.map(() => new ChoiceOutput(plan, thinking));
  const deltasOf = (choice: number, text: string, end: boolean): ChatDelta[] =>
    outputs[choice]!.push(text, end).map((e) => (e.type === "reasoning" ? { reasoning_content: e.text } : chatDeltas([e])[0]!));
  try {
    for (let i = 0; i < gen.count; i++) {
      await sse.send(chunk({ index: i, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }));
    }
    for await (const { choice, event } of gen.events()) {
      if (sse.closed) break;
      const failed = failureOf(event);
      if (failed) throw failed;
      if (event.type === "token") {
        const deltas = deltasOf(choice, event.text, false);
        const logprobs = event.logprob ? { content: chatLogprobs(s, [event.logprob]), refusal: null } : null;
        if (deltas.length === 0 && logprobs) deltas.push({ content: "" });
        for (const [k, delta] of deltas.entries()) await sse.send(chunk({ index: choice, delta, logprobs: k === 0 ? logprobs : null, finish_reason: null }));
        continue;
      }
      const deltas = deltasOf(choice, event.text, true);
      const last = !outputs[choice]!.parsesCalls && deltas.length > 0 ? deltas.pop()! : {};
      for (const delta of deltas) await sse.send(chunk({ index: choice, delta, logprobs: null, finish_reason: null }));
      const reason = outputs[choice]!.called && event.reason === "stop" ? "tool_calls" : event.reason;
      await sse.send(chunk({ index: choice, delta: last, logprobs: null, finish_reason: reason }));
    }
    if (includeUsage) await sse.send({ ...head, object: "chat.completion.chunk", choices: [], usage: usageBody(gen.usage) });
    sse.done();
  } catch (err) {
    await failStream(sse, err instanceof ChoiceFailed ? err.failure : err);
  }
}

async function streamCompletion(s: Serving, gen: Generation, head: Head, echoes: string[], withLogprobs: boolean, includeUsage: boolean,
  reply: FastifyReply, headers: Record<string, string>): Promise<void> {
  await gen.firstEvent();
  const sse = new SseStream(reply, headers);
  const n = gen.count / echoes.length;
  const offsets = gen.outputs.map((_, i) => echoes[Math.floor(i / n)]!.length);
  const chunk = (choice: Record<string, unknown>): Record<string, unknown> =>
    ({ ...head, choices: [choice], ...(includeUsage ? { usage: null } : {}) });
  try {
    for (let i = 0; i < gen.count; i++) {
      const echo = echoes[Math.floor(i / n)]!;
      if (echo) await sse.send(chunk({ index: i, text: echo, logprobs: null, finish_reason: null }));
    }
    for await (const { choice, event } of gen.events()) {
      if (sse.closed) break;
      const failed = failureOf(event);
      if (failed) throw failed;
      if (event.type === "token") {
        if (event.text === "" && !event.logprob) continue;
        let logprobs = null;
        if (withLogprobs && event.logprob) {
          const r = completionLogprobs(s, [event.logprob], offsets[choice]!);
          offsets[choice] = r.end;
          logprobs = r.logprobs;
        }
        await sse.send(chunk({ index: choice, text: event.text, logprobs, finish_reason: null }));
      } else {
        await sse.send(chunk({ index: choice, text: event.text, logprobs: null, finish_reason: event.reason }));
      }
    }
    if (includeUsage) await sse.send({ ...head, choices: [], usage: usageBody(gen.usage) });
    sse.done();
  } catch (err) {
    await failStream(sse, err instanceof ChoiceFailed ? err.failure : err);
  }
}
