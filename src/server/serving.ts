// What the routes share once the model is loaded: the engine, the served name, the context
// limit, the chat template, prompt text to ids (prompt-encoder.ts: long texts off the event
// loop), token strings for logprobs, and the generations still sending (for draining).
// Requests are found by id in the engine, not here.
import type { Engine } from "../engine/engine.js";
import type { LoadedModel } from "../model/load.js";
import type { ChatMessage, ToolSpec } from "../tokenizer/chat-template.js";
import type { EncodedJson } from "../tokenizer/encoder-thread.js";
import type { EncodeOptions } from "../tokenizer/tokenizer.js";
import { badRequest, type ParamNames } from "./errors.js";
import { PromptEncoder } from "./prompt-encoder.js";
import type { Metrics } from "./metrics.js";
import type { ReasoningParser } from "./reasoning.js";
import type { ToolCallFormat } from "../structured/tool-calls.js";

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class Serving {
  readonly model: LoadedModel;
  /** Most tokens of prompt + output one request may use. */
  readonly contextLength: number;
  /** The temperature of a request that sets none: the model's default, else OpenAI's 1. */
  readonly defaultTemperature: number;
  /** Prompt text to ids, long texts off the event loop. */
  private readonly prompts: PromptEncoder;
  /** Generations still sending. */
  private readonly active = new Set<object>();
  private readonly tokenStrings = new Map<number, string>();
  private idleWaiters: (() => void)[] = [];

  /**
   * @param reasoning where chat answers' thinking is split off (reasoning.ts), or null: all of
   *   an answer is content.
   * @param toolCallParser the tool-call format of every answer (--tool-call-parser), or null: the chat template's.
   */
  constructor(readonly engine: Engine, readonly name: string, readonly metrics: Metrics, warn: (line: string) => void = () => {},
    readonly reasoning: ReasoningParser | null = null, readonly toolCallParser: ToolCallFormat | null = null) {
    this.model = engine.model;
    this.contextLength = engine.contextLength;
    if (engine.chat.fallbackReason) warn(`radixlm: warning: ${engine.chat.fallbackReason}`);
    this.defaultTemperature = engine.generationDefaults.temperature ?? 1;
    this.prompts = new PromptEncoder(this.model, this.contextLength, warn);
  }

  /** A chat conversation rendered by the model's template with the generation prompt (the engine's own rendering, engine/chat.ts). */
  renderChat(messages: readonly ChatMessage[], tools?: ToolSpec[], extra?: Record<string, unknown>): string {
    return this.engine.chat.render(messages, tools, extra);
  }

  /**
   * A chat conversation's prompt: the text renderChat gives and its ids. One that cannot fit
   * the context is a 400 naming `messages`.
   */
  async chatPrompt(messages: readonly ChatMessage[], tools?: ToolSpec[], extra?: Record<string, unknown>): Promise<{ text: string; ids: number[] }> {
    const text = this.renderChat(messages, tools, extra);
    const fit = { names: { prompt: "messages" } };
    this.prompts.checkFits(text, fit);
    // The template writes BOS itself where the model wants one, as HF's apply_chat_template does.
    return { text, ids: await this.prompts.encode(text, { addSpecial: false, parseSpecial: true }, fit) };
  }

  /**
   * The ids of raw text prompts: BOS as the model wants it, special tokens parsed (as the
   * engine does). All are measured against the context before any is tokenized; one that
   * cannot fit is a 400 naming `names.prompt` (and which, of several).
   */
  promptIds(texts: readonly string[], names: ParamNames): Promise<number[][]> {
    return this.encodeTexts(texts, { addSpecial: true, parseSpecial: true }, names);
  }

  /** The ids of texts encoded as `options` say, each measured against the context first (as promptIds). */
  async encodeTexts(texts: readonly string[], options: EncodeOptions, names: ParamNames): Promise<number[][]> {
    const fits = texts.map((_, i) => ({ names, part: texts.length > 1 ? i : undefined }));
    texts.forEach((t, i) => this.prompts.checkFits(t, fits[i]!));
    return Promise.all(texts.map((t, i) => this.prompts.encode(t, options, fits[i])));
  }

  /** The ids of any text (/tokenize), with no context limit, as the UTF-8 bytes of a JSON array; a long text's made off the event loop. */
  tokenizeJson(text: string, options: EncodeOptions): Promise<EncodedJson> {
    return this.prompts.encodeJson(text, options);
  }

  /** Checks caller-given ids against the vocabulary; `param` names them in the error. */
  checkIds(ids: readonly number[], param: string): void {
    const vocab = this.model.config.vocabSize;
    for (const t of ids) {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) throw badRequest(param, `'${param}' has token id ${t}, outside the vocabulary (size ${vocab}).`);
    }
  }

  /** A token as OpenAI shows it: its text, or `bytes:\xNN...` when its bytes are not whole UTF-8. */
  tokenString(id: number): string {
    let s = this.tokenStrings.get(id);
    if (s === undefined) {
      const bytes = this.model.tokenizer.tokenBytes(id);
      try {
        s = fatalUtf8.decode(bytes);
      } catch {
        s = "bytes:" + Array.from(bytes, (b) => "\\x" + b.toString(16).padStart(2, "0")).join("");
      }
      this.tokenStrings.set(id, s);
    }
    return s;
  }

  tokenBytes(id: number): number[] {
    return Array.from(this.model.tokenizer.tokenBytes(id));
  }

  /** Counts a generation in until the returned function is called. */
  track(g: object): () => void {
    this.active.add(g);
    return () => {
      if (!this.active.delete(g) || this.active.size > 0) return;
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    };
  }

  /** Generations still sending. */
  get sending(): number {
    return this.active.size;
  }

  /** Resolves when no generation is sending. */
  idle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Ends the tokenizer thread (when the server closes). */
  close(): Promise<void> {
    return this.prompts.close();
  }

  /** Aborts everything in flight; returns how many requests. */
  abortAll(): number {
    // Their streams end with the abort; each generation then finishes its response.
    return this.engine.abortAll();
  }
}
