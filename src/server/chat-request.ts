// A chat conversation made ready to run, shared by /v1/chat/completions and /v1/responses:
// the prompt rendered with the tools the plan shows, the constraint (a required tool call wins
// over an output format) placed after the thinking where the model thinks, one engine input,
// and the Generation that runs it. Then, per choice, the output pipeline: the reasoning
// splitter first, the tool-call parser on the answer, as one stream of OutputEvents.
import type { GenerateInput } from "../engine/input.js";
import type { SampleOutput } from "../engine/stream.js";
import type { SamplingParams } from "../sampling/params.js";
import type { GrammarSpec } from "../structured/grammar.js";
import { ToolCallParser, type ToolCallEvent } from "../structured/tool-call-stream.js";
import { parseToolCalls, type ParsedToolCall } from "../structured/tool-calls.js";
import type { ChatMessage } from "../tokenizer/chat-template.js";
import { ApiError, toApiError, type ParamNames } from "./errors.js";
import { Generation } from "./generation.js";
import { promptClosesThinking, promptOpensThinking, ReasoningSplitter, splitReasoning, THINKING_END } from "./reasoning.js";
import type { Serving } from "./serving.js";
import type { ToolPlan } from "./structured.js";

export interface ChatRequest {
  readonly id: string;
  /** performance.now() when the HTTP request arrived. */
  readonly arrival: number;
  readonly messages: readonly ChatMessage[];
  readonly plan: ToolPlan;
  /** The output's constraint (response_format, regex, ebnf) and the parameter that carried it. */
  readonly format: { readonly spec: GrammarSpec; readonly param: string } | null;
  readonly templateKwargs?: Record<string, unknown>;
  readonly params: Partial<SamplingParams>;
  readonly n: number;
  readonly cacheSalt?: string;
  /** The output expected (OpenAI's predicted outputs): speculative decoding drafts from it. */
  readonly prediction?: string;
  /** The route's names of engine parameters in its errors; `prompt` also names the conversation. */
  readonly names: ParamNames;
}

/** Where the model's thinking starts: inside it when the template opened it. */
export interface Thinking {
  readonly inside: boolean;
}

export interface PreparedChat {
  readonly gen: Generation;
  /** The rendered prompt (its ids went to the engine). */
  readonly prompt: string;
  /** Null when the server splits no thinking off (no reasoning parser). */
  readonly thinking: Thinking | null;
}

/** Renders, constrains and submits a chat request; throws an ApiError (400, 429, 500) when any part is refused. */
export async function prepareChat(s: Serving, r: ChatRequest): Promise<PreparedChat> {
  const grammar = r.plan.grammar ?? r.format?.spec ?? undefined;
  const grammarParam = r.plan.grammar ? "tool_choice" : (r.format?.param ?? r.names.grammar ?? "response_format");
  const { text: prompt, ids } = await renderPrompt(s, r);
  // A constraint (an output format, a required tool call) starts after the thinking, where
  // </think> is one token (Qwen3, DeepSeek-R1, QwQ): a tag of several tokens may be written
  // in other pieces than its own encoding, so it cannot be waited for.
  const thinking = s.reasoning ? { inside: promptOpensThinking(prompt) } : null;
  const end = thinking && grammar && !promptClosesThinking(prompt) ? s.model.tokenizer.encode(THINKING_END, { addSpecial: false, parseSpecial: true }) : [];
  const grammarAfter = end.length === 1 ? end : undefined;
  // Without a token limit a chat answer may fill the context, as OpenAI's may.
  const input: GenerateInput = {
    inputIds: ids, params: r.params, n: r.n, cacheSalt: r.cacheSalt, grammar, defaultMaxNewTokens: Infinity,
    ...(grammarAfter ? { grammarAfter } : {}),
    ...(r.prediction !== undefined ? { prediction: r.prediction } : {}),
  };
  const gen = new Generation(s, { id: r.id, inputs: [input], arrival: r.arrival }, { ...r.names, grammar: grammarParam });
  return { gen, prompt, thinking };
}

/** The prompt text and ids; errors about the conversation name the route's parameter for it. */
async function renderPrompt(s: Serving, r: ChatRequest): Promise<{ text: string; ids: number[] }> {
  const param = r.names.prompt ?? "messages";
  try {
    return await s.chatPrompt(r.messages, r.plan.tools, r.templateKwargs);
  } catch (err) {
    if (param === "messages") throw err;
    const e = toApiError(err);
    if (e.param !== "messages") throw e;
    throw new ApiError(e.status, e.message.replaceAll("messages", param), e.type, param, e.code, e.headers);
  }
}

/** One piece of a choice's output: thinking, answer text, or a tool call's start or argument text. */
export type OutputEvent = ToolCallEvent | { readonly type: "reasoning"; readonly text: string };

/**
 * One choice's output as it streams: thinking split off first, then tool calls parsed out of
 * the answer (content streams as it comes, markup that may open a call is held back).
 */
export class ChoiceOutput {
  private readonly splitter: ReasoningSplitter | null;
  private readonly parser: ToolCallParser | null;
  /** Whether a tool call began. */
  called = false;

  constructor(plan: ToolPlan, thinking: Thinking | null) {
    this.splitter = thinking ? new ReasoningSplitter(thinking.inside) : null;
    this.parser = plan.parse ? new ToolCallParser(plan.format, plan.names, plan.parser) : null;
  }

  /** The events of the next piece of text; `end`: it is the last, so whatever was held back comes out too. */
  push(text: string, end: boolean): OutputEvent[] {
    if (!this.splitter) return this.answer(text, end);
    const a = this.splitter.push(text);
    const b = end ? this.splitter.finish() : { reasoning: "", content: "" };
    const reasoning = a.reasoning + b.reasoning;
    return [...(reasoning ? [{ type: "reasoning" as const, text: reasoning }] : []), ...this.answer(a.content + b.content, end)];
  }

  /** Whether tool calls are parsed out of the answer. */
  get parsesCalls(): boolean {
    return this.parser !== null;
  }

  private answer(text: string, end: boolean): OutputEvent[] {
    if (!this.parser) return text ? [{ type: "content", text }] : [];
    const events = this.parser.push(text);
    if (end) events.push(...this.parser.finish());
    if (events.some((e) => e.type === "call")) this.called = true;
    return events;
  }
}

export interface WholeChoice {
  /** The thinking, trimmed; null when there was none. */
  readonly reasoning: string | null;
  readonly content: string | null;
  readonly calls: ParsedToolCall[];
}

/** A finished choice's text split as a chat completion sent whole shows it. */
export function wholeChoice(plan: ToolPlan, thinking: Thinking | null, text: string): WholeChoice {
  const split = thinking ? splitReasoning(text, thinking.inside) : { reasoning: null, content: text };
  const parsed = plan.parse ? parseToolCalls(plan.format, split.content, plan.names, plan.parser) : { content: split.content, calls: [] };
  return { reasoning: split.reasoning, content: parsed.content, calls: parsed.calls };
}

/** The sampling parameters with max_new_tokens when the body gives one. */
export function withMax(params: Partial<SamplingParams>, max: number | null | undefined): Partial<SamplingParams> {
  return max === null || max === undefined ? params : { ...params, maxNewTokens: max };
}

/** Every choice's output, for a response sent whole; a failed choice fails the response (400 or 500). */
export async function wholeOutputs(gen: Generation): Promise<SampleOutput[]> {
  await gen.run();
  const failure = gen.failure();
  if (failure) throw failure;
  return gen.outputs.map((o) => o!);
}
