// OpenAI's Responses API: POST /v1/responses (whole, or streamed as named events), GET and
// DELETE /v1/responses/{id}, its input_items, and cancel (there is no background mode to
// cancel). A request runs as a chat conversation (chat-request.ts): the previous response's
// conversation, then the new input, under this request's instructions. The output items and
// their stream events come from responses-output.ts; stored responses from responses-store.ts.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ChatMessage } from "../tokenizer/chat-template.js";
import { ChoiceOutput, prepareChat, wholeOutputs, withMax, type PreparedChat } from "./chat-request.js";
import { ApiError, badRequest, toApiError } from "./errors.js";
import { arrivalOf, newId } from "./generation.js";
import { checkModel, unix } from "./openai.js";
import { OPENAI_NAMES, samplingFrom } from "./openai-format.js";
import { chatToolChoice, chatTools, inputConversation, listedTools, refuseUnsupported, responsesGrammar, type Item } from "./responses-input.js";
import { OutputBuilder, type ItemStatus, type StreamEvent } from "./responses-output.js";
import { responsesSchema, MAX_ID_LENGTH, type InputItem, type ResponsesBody } from "./responses-schema.js";
import { ResponseStore, type StoredResponse } from "./responses-store.js";
import type { Serving } from "./serving.js";
import { onClientGone, SseStream } from "./sse.js";
import { toolPlan, type ToolPlan } from "./structured.js";
import type { FinishReason, Usage } from "../engine/stream.js";

export interface ResponsesOptions {
  readonly strictModel: boolean;
  /** Bounds of the stored responses (responses-store.ts has the defaults). */
  readonly maxStored?: number;
  readonly maxStoredBytes?: number;
}

type Status = ItemStatus | "cancelled" | "failed" | "in_progress";

/** What a response echoes of its request, fixed when it starts. */
type Echo = Record<string, unknown>;

interface Run {
  readonly id: string;
  readonly prep: PreparedChat;
  readonly plan: ToolPlan;
  readonly echo: Echo;
  readonly store: boolean;
  /** The conversation without instructions, for a follow-up. */
  readonly conversation: ChatMessage[];
  readonly inputItems: Item[];
}

function notFound(id: string, param: string | null, what = "Response"): ApiError {
  return new ApiError(404, `${what} with id '${id.slice(0, MAX_ID_LENGTH)}' not found.`, "invalid_request_error", param, param ? "previous_response_not_found" : "not_found");
}

function statusOf(reason: FinishReason): Status {
  return reason === "length" ? "incomplete" : reason === "abort" ? "cancelled" : "completed";
}

export function registerResponses(app: FastifyInstance, serving: () => Serving, streamHeaders: () => Record<string, string>, opts: ResponsesOptions): void {
  const store = new ResponseStore(opts.maxStored, opts.maxStoredBytes);

  const stored = (id: string): StoredResponse => {
    const r = store.get(id);
    if (!r) throw notFound(id, null);
    return r;
  };

  app.post("/v1/responses", { schema: { body: responsesSchema } }, async (req, reply) => {
    const arrival = arrivalOf(reply);
    const s = serving();
    const b = req.body as ResponsesBody;
    checkModel(s, b.model, opts.strictModel);
    refuseUnsupported(b);
    const prevId = b.previous_response_id ?? null;
    const prev = prevId !== null ? store.get(prevId) : null;
    if (prev === undefined) throw new ApiError(404, `Previous response with id '${prevId!.slice(0, MAX_ID_LENGTH)}' not found.`, "invalid_request_error", "previous_response_id", "previous_response_not_found");
    const input = inputConversation(b.input);
    const conversation = [...(prev?.conversation ?? []), ...input.messages];
    if (conversation.length === 0) throw badRequest("input", "'input' is empty: give a string or at least one item.");
    const messages: ChatMessage[] = b.instructions ? [{ role: "system", content: b.instructions }, ...conversation] : conversation;
    const plan = await toolPlan(s, chatTools(b.tools), chatToolChoice(b.tool_choice), b.parallel_tool_calls);
    const format = responsesGrammar(b);
    const params = withMax(samplingFrom(b, s.defaultTemperature), b.max_output_tokens);
    // reasoning.effort "none" turns a hybrid model's thinking off, where its template has the switch (Qwen3).
    const kwargs = { ...(b.reasoning?.effort === "none" ? { enable_thinking: false } : {}), ...(b.chat_template_kwargs ?? {}) };
    const id = newId("resp_");
    const prep = await prepareChat(s, {
      id, arrival, messages, plan, format, templateKwargs: Object.keys(kwargs).length > 0 ? kwargs : undefined, params, n: 1,
      cacheSalt: b.cache_salt ?? undefined, names: { ...OPENAI_NAMES, max_new_tokens: "max_output_tokens", prompt: "input", grammar: "text.format" },
    });
    onClientGone(reply, () => prep.gen.abort());
    const echo: Echo = {
      model: s.name, instructions: b.instructions ?? null, max_output_tokens: b.max_output_tokens ?? null, max_tool_calls: null,
      parallel_tool_calls: b.parallel_tool_calls ?? true, previous_response_id: prevId,
      reasoning: b.reasoning ? { effort: b.reasoning.effort ?? null, summary: b.reasoning.summary ?? null } : null,
      service_tier: "default", store: b.store !== false, temperature: b.temperature ?? s.defaultTemperature,
      text: { format: b.text?.format ?? { type: "text" }, verbosity: b.text?.verbosity ?? "medium" },
      tool_choice: b.tool_choice ?? "auto", tools: listedTools(b.tools), top_logprobs: 0, top_p: b.top_p ?? 1, truncation: b.truncation ?? "disabled",
      user: b.user ?? null, safety_identifier: b.safety_identifier ?? null, prompt_cache_key: b.prompt_cache_key ?? null, metadata: b.metadata ?? {},
    };
    const run: Run = { id, prep, plan, echo, store: b.store !== false, conversation, inputItems: input.items };
    if (b.stream) return streamResponse(s, run, store, reply, streamHeaders());
    const [out] = await wholeOutputs(prep.gen);
    const builder = new OutputBuilder(() => {});
    const status = statusOf(out!.finishReason);
    builder.push(new ChoiceOutput(plan, prep.thinking).push(out!.text, true));
    builder.finish(status === "incomplete" ? "incomplete" : "completed");
    return finished(s, run, store, status, builder);
  });

  app.get("/v1/responses/:id", async (req) => {
    const q = req.query as Record<string, unknown>;
    if (q.stream === "true") throw badRequest("stream", "A stored response cannot be streamed again: there is no background mode.", "unsupported_parameter");
    return stored((req.params as { id: string }).id).response;
  });

  app.delete("/v1/responses/:id", async (req) => {
    const id = (req.params as { id: string }).id;
    if (!store.delete(id)) throw notFound(id, null);
    return { id, object: "response", deleted: true };
  });

  app.post("/v1/responses/:id/cancel", async (req) => {
    stored((req.params as { id: string }).id);
    throw badRequest(null, "Only background responses can be cancelled, and this server runs none.", "unsupported_parameter");
  });

  app.get("/v1/responses/:id/input_items", async (req) => {
    const items = stored((req.params as { id: string }).id).inputItems;
    const q = req.query as Record<string, string | undefined>;
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest("limit", "'limit' must be an integer in [1, 100].");
    if (q.order !== undefined && q.order !== "asc" && q.order !== "desc") throw badRequest("order", "'order' must be 'asc' or 'desc'.");
    // OpenAI lists the newest first unless asked otherwise.
    const ordered = q.order === "asc" ? [...items] : [...items].reverse();
    const from = q.after === undefined ? 0 : ordered.findIndex((it) => it.id === q.after) + 1;
    if (q.after !== undefined && from === 0) throw notFound(q.after, "after", "Item");
    const page = ordered.slice(from, from + limit);
    return { object: "list", data: page, first_id: page[0]?.id ?? null, last_id: page[page.length - 1]?.id ?? null, has_more: from + limit < ordered.length };
  });
}

function usageOf(s: Serving, u: Usage, reasoning: string): Record<string, unknown> {
  // The thinking's tokens, counted again from its text (the engine counts output tokens as one).
  const reasoningTokens = reasoning ? Math.min(u.completionTokens, s.model.tokenizer.encode(reasoning, { addSpecial: false }).length) : 0;
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: u.promptTokens + u.completionTokens,
  };
}

function responseBody(run: Run, created: number, status: Status, output: readonly Record<string, unknown>[],
  extra: { usage?: Record<string, unknown> | null; error?: { code: string; message: string } | null } = {}): Record<string, unknown> {
  return {
    id: run.id, object: "response", created_at: created, status, background: false,
    completed_at: status === "completed" ? unix() : null,
    error: extra.error ?? null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    output, ...run.echo, usage: extra.usage ?? null,
  };
}

/** The final response, stored unless store: false (or it did not finish). */
function finished(s: Serving, run: Run, store: ResponseStore, status: Status, builder: OutputBuilder, created = unix()): Record<string, unknown> {
  const response = responseBody(run, created, status, builder.items, { usage: usageOf(s, run.prep.gen.usage, builder.reasoningText) });
  if (run.store && (status === "completed" || status === "incomplete")) {
    // Output items have the shape of input items: the conversation goes on with them.
    const output = inputConversation(builder.items as unknown as InputItem[]).messages;
    store.put(run.id, { response, conversation: [...run.conversation, ...output], inputItems: run.inputItems });
  }
  return response;
}

async function streamResponse(s: Serving, run: Run, store: ResponseStore, reply: FastifyReply, headers: Record<string, string>): Promise<void> {
  const { gen } = run.prep;
  await gen.firstEvent();
  const sse = new SseStream(reply, headers);
  const created = unix();
  let seq = 0;
  const send = (e: StreamEvent): Promise<void> => sse.send({ ...e, sequence_number: seq++ }, e.type);
  const pending: StreamEvent[] = [];
  const builder = new OutputBuilder((e) => pending.push(e));
  const output = new ChoiceOutput(run.plan, run.prep.thinking);
  const start = responseBody(run, created, "in_progress", []);
  try {
    await send({ type: "response.created", response: start });
    await send({ type: "response.in_progress", response: start });
    let status: Status = "in_progress";
    for await (const { event } of gen.events()) {
      if (sse.closed) break;
      if (event.type === "finish" && event.output.error) throw event.output.error;
      const end = event.type === "finish";
      builder.push(output.push(event.text, end));
      if (end) {
        status = statusOf(event.reason);
        builder.finish(status === "incomplete" ? "incomplete" : "completed");
      }
      for (const e of pending.splice(0)) await send(e);
    }
    if (sse.closed) return;
    if (status === "cancelled") {
      // Aborted by /abort_request or a shutdown: the stream ends as a failed response would.
      const error = { code: "server_error", message: "The response was aborted before it finished." };
      await send({ type: "response.failed", response: responseBody(run, created, status, builder.items, { usage: usageOf(s, gen.usage, builder.reasoningText), error }) });
    } else {
      const response = finished(s, run, store, status, builder, created);
      await send({ type: status === "incomplete" ? "response.incomplete" : "response.completed", response });
    }
  } catch (err) {
    // After the stream started, a failure is its last event, never a dropped connection.
    const e = toApiError(err);
    const error = { code: e.status >= 500 ? "server_error" : "invalid_prompt", message: e.message };
    await send({ type: "response.failed", response: responseBody(run, created, "failed", builder.items, { usage: usageOf(s, gen.usage, builder.reasoningText), error }) });
  }
  sse.end();
}
