// What every tool-call parser (one per format family) gives out as a model's output streams,
// and the queue they share: text events of one kind are joined, and whitespace at the end of
// the content is held back, released only when more content follows, so that whitespace
// next to calls is dropped.
import type { ToolSpec } from "../tokenizer/chat-template.js";

/**
 * How a model writes tool calls: hermes (`<tool_call>` JSON blocks), llama3 (a JSON object),
 * mistral (`[TOOL_CALLS]` and a JSON list), qwen3-coder (`<function=...><parameter=...>` XML-like
 * blocks with raw values), pythonic (`[f(a=1), g()]`).
 */
export type ToolCallFormat = "hermes" | "llama3" | "mistral" | "qwen3-coder" | "pythonic";

export const TOOL_CALL_FORMATS: readonly ToolCallFormat[] = ["hermes", "llama3", "mistral", "qwen3-coder", "pythonic"];

export type ToolCallEvent =
  | { readonly type: "content"; readonly text: string }
  /** A call begins: its name is known; its arguments follow in "arguments" events. */
  | { readonly type: "call"; readonly index: number; readonly name: string }
  | { readonly type: "arguments"; readonly index: number; readonly text: string };

export interface ToolCallParserOptions {
  /** Calls past this many are parsed (their text is not content) but not reported. */
  readonly maxCalls?: number;
  /** The output is constrained to calls (tool_choice "required" or named): text held at the end is markup, never content. */
  readonly callsOnly?: boolean;
  /** The tools offered: their parameter schemas type the raw values of qwen3-coder calls. */
  readonly tools?: readonly ToolSpec[];
}

/** The parser of one format: pieces of output in, events out. */
export interface ToolCallMachine {
  push(delta: string): ToolCallEvent[];
  finish(): ToolCallEvent[];
}

export const isSpace = (c: string): boolean => c === " " || c === "\n" || c === "\t" || c === "\r";

/** The events of one output as a parser finds them. */
export class CallEvents {
  /** Calls reported (not counting silent ones past maxCalls). */
  reported = 0;
  private out: ToolCallEvent[] = [];
  /** Whitespace at the end of the content so far. */
  private space = "";

  constructor(private readonly maxCalls: number) {}

  /** A call numbered `index` begins; false when it is past maxCalls (then it is parsed silently). */
  call(index: number, name: string): boolean {
    if (index >= this.maxCalls) return false;
    this.reported++;
    this.emit({ type: "call", index, name });
    return true;
  }

  args(index: number, text: string): void {
    if (text !== "" && index < this.maxCalls) this.emit({ type: "arguments", index, text });
  }

  content(text: string): void {
    if (text === "") return;
    const all = this.space + text;
    let end = all.length;
    while (end > 0 && isSpace(all[end - 1]!)) end--;
    this.space = all.slice(end);
    if (end > 0) this.emit({ type: "content", text: all.slice(0, end) });
  }

  /** At the end of the output: trailing whitespace is content only in an answer without calls, where nothing was dropped. */
  end(dropped: boolean): void {
    if (this.reported === 0 && !dropped && this.space !== "") this.emit({ type: "content", text: this.space });
    this.space = "";
  }

  take(): ToolCallEvent[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private emit(e: ToolCallEvent): void {
    const n = this.out.length - 1;
    const last = this.out[n];
    if (last?.type === "content" && e.type === "content") this.out[n] = { type: "content", text: last.text + e.text };
    else if (last?.type === "arguments" && e.type === "arguments" && last.index === e.index) this.out[n] = { ...e, text: last.text + e.text };
    else this.out.push(e);
  }
}

/**
 * Watches for any of a few literals in text read a character at a time: the text that may
 * still begin one is held; `step` says what `c` did.
 */
export class LiteralWatch {
  /** Text held: a prefix of some literal. */
  held = "";

  constructor(private readonly literals: readonly string[]) {}

  /**
   * Adds `c`. Returns the literal it completed, or "held" while the text may still begin one,
   * or the text that can no longer begin any (held text and `c`, to be taken as it is).
   */
  step(c: string): { done: string } | "held" | { text: string } {
    const h = this.held + c;
    const full = this.literals.find((l) => l === h);
    if (full !== undefined) {
      this.held = "";
      return { done: full };
    }
    if (this.literals.some((l) => l.startsWith(h))) {
      this.held = h;
      return "held";
    }
    // The longest tail of the text that may still begin a literal stays held.
    for (let i = 1; i < h.length; i++) {
      const tail = h.slice(i);
      if (this.literals.some((l) => l.startsWith(tail))) {
        this.held = tail;
        return { text: h.slice(0, i) };
      }
    }
    this.held = "";
    return { text: h };
  }
}
