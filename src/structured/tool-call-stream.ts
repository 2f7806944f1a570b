// Tool calls parsed out of a model's output as it streams, one character at a time, so that
// a call's name goes out as soon as it is known and its arguments piece by piece while they
// are generated. A finished output is parsed by the same machine in one push (see
// parseToolCalls), so the streamed argument pieces always add up to the whole-mode arguments.
//
// The JSON formats (hermes, llama3, mistral) are parsed here; qwen3-coder and pythonic calls
// by their own machines (tool-call-xml.ts, tool-call-pythonic.ts), behind the same events.
//
// Arguments are the model's JSON text with the whitespace between tokens removed (no
// re-encoding: escapes and number spellings stay as generated); a string-valued "arguments"
// member (a JSON text inside a string) goes out decoded, in one piece, when it is complete.
// Text that turns out not to be a call (an unknown function, a JSON answer, broken markup) is
// released as content; markup of a real call never is. Whitespace next to calls is dropped.

import { CallObject } from "./tool-call-object.js";
import { CallEvents, isSpace, type ToolCallEvent, type ToolCallFormat, type ToolCallMachine, type ToolCallParserOptions } from "./tool-call-events.js";
import { PythonicToolCallParser } from "./tool-call-pythonic.js";
import { XmlToolCallParser } from "./tool-call-xml.js";

export type { ToolCallEvent, ToolCallFormat, ToolCallParserOptions } from "./tool-call-events.js";

/** Splits a model's output, pushed as it streams, into content and tool-call events, by the format's own parser. */
export class ToolCallParser implements ToolCallMachine {
  private readonly machine: ToolCallMachine;

  constructor(format: ToolCallFormat, names: ReadonlySet<string>, options: ToolCallParserOptions = {}) {
    this.machine = format === "qwen3-coder" ? new XmlToolCallParser(names, options)
      : format === "pythonic" ? new PythonicToolCallParser(names, options)
      : new JsonToolCallParser(format, names, options);
  }

  /** Adds a piece of output; returns the events it completes. */
  push(delta: string): ToolCallEvent[] {
    return this.machine.push(delta);
  }

  /** At the end of the output: what was held back. */
  finish(): ToolCallEvent[] {
    return this.machine.finish();
  }
}

const HERMES_OPEN = "<tool_call>";
const HERMES_CLOSE = "</tool_call>";
const PYTHON_TAG = "<|python_tag|>";
const MISTRAL_TAG = "[TOOL_CALLS]";

type State =
  /** hermes: content, watching for "<tool_call>" */
  | "text"
  /** hermes: after "<tool_call>", before the object */
  | "open"
  /** hermes: after a call, inside "</tool_call>" */
  | "close"
  /** llama3 / mistral: before a call (or the list), where a tag may stand */
  | "lead"
  /** mistral: inside the list, before an object */
  | "items"
  /** llama3: after a call ("; " may lead to another); mistral: after an item ("," or "]") */
  | "between"
  | "object"
  /** everything from here on is content */
  | "plain";

/** The JSON formats (hermes, llama3, mistral): calls are JSON objects with a name and arguments. */
class JsonToolCallParser implements ToolCallMachine {
  private readonly events: CallEvents;
  private readonly callsOnly: boolean;
  private state: State;
  /** Markup consumed so far that becomes content if it turns out not to frame a call. */
  private held = "";
  /** How much of the literal at hand ("<tool_call>", a tag) matched so far. */
  private matched = 0;
  private obj: CallObject | null = null;
  private calls = 0;
  private finished = false;

  constructor(private readonly format: "hermes" | "llama3" | "mistral", private readonly names: ReadonlySet<string>, options: ToolCallParserOptions = {}) {
    this.events = new CallEvents(options.maxCalls ?? Infinity);
    this.callsOnly = options.callsOnly ?? false;
    this.state = format === "hermes" ? "text" : "lead";
  }

  /** Adds a piece of output; returns the events it completes. */
  push(delta: string): ToolCallEvent[] {
    if (this.finished) throw new Error("push after finish");
    for (const c of delta) this.step(c);
    return this.events.take();
  }

  /**
   * At the end of the output: what was held back. A call begun stays a call (its arguments cut
   * short); an object not yet known to be a call is content, unless tool-call markup or an
   * earlier call framed it (an output cut off by max_tokens inside a call list).
   */
  finish(): ToolCallEvent[] {
    if (this.finished) return [];
    this.finished = true;
    const framed = this.callsOnly || this.calls > 0 || /<tool_call>|<\|python_tag\|>|\[TOOL_CALLS\]/.test(this.held);
    let dropped = this.held !== "";
    switch (this.state) {
      case "text":
        // a partial "<tool_call>"
        if (!this.callsOnly) {
          this.events.content(this.held);
          dropped = false;
        }
        break;
      case "object":
        if (!this.obj!.started && !framed) {
          this.events.content(this.held + this.obj!.raw);
          dropped = false;
        }
        break;
      case "lead":
      case "items":
        if (!framed) {
          this.events.content(this.held);
          dropped = false;
        }
        break;
      default:
        // "open", "close", "between": markup of a call; "plain": nothing held
        break;
    }
    this.held = "";
    this.events.end(dropped);
    return this.events.take();
  }

  /** Gives up on the markup held so far: it and `c` are content (`c` is looked at again). */
  private release(next: State, c: string): void {
    this.events.content(this.held);
    this.held = "";
    this.matched = 0;
    this.state = next;
    this.step(c);
  }

  private step(c: string): void {
    switch (this.state) {
      case "plain":
        this.events.content(c);
        return;
      case "text":
        if (c === HERMES_OPEN[this.matched]) {
          this.held += c;
          if (++this.matched === HERMES_OPEN.length) {
            this.matched = 0;
            this.state = "open";
          }
          return;
        }
        if (this.matched > 0) return this.release("text", c);
        this.events.content(c);
        return;
      case "open":
        if (isSpace(c)) this.held += c;
        else if (c === "{") this.beginObject(c);
        else this.release("text", c);
        return;
      case "close":
        if (this.matched === 0 && isSpace(c)) return;
        if (c === HERMES_CLOSE[this.matched]) {
          this.held += c;
          if (++this.matched === HERMES_CLOSE.length) {
            this.held = "";
            this.matched = 0;
            this.state = "text";
          }
          return;
        }
        return this.release("text", c);
      case "lead":
        return this.lead(c);
      case "items":
        if (isSpace(c)) this.held += c;
        else if (c === "{") this.beginObject(c);
        else this.release("plain", c);
        return;
      case "between":
        if (isSpace(c)) return;
        if (this.format === "llama3" && c === ";") {
          this.held = c;
          this.state = "lead";
          return;
        }
        if (this.format === "mistral" && c === ",") {
          this.state = "items";
          return;
        }
        if (this.format === "mistral" && c === "]") {
          this.state = "plain";
          return;
        }
        return this.release("plain", c);
      case "object":
        return this.inObject(c);
    }
  }

  /** llama3 / mistral before a call: whitespace, then "<|python_tag|>" or "[TOOL_CALLS]" at the very start, then "{" or "[". */
  private lead(c: string): void {
    const tag = this.format === "llama3" ? PYTHON_TAG : MISTRAL_TAG;
    if (this.matched >= 0 && this.calls === 0 && c === tag[this.matched]) {
      this.held += c;
      // -1: the tag is behind us
      this.matched = this.matched + 1 === tag.length ? -1 : this.matched + 1;
      return;
    }
    if (this.matched > 0) {
      // mistral: that "[" opened the list, not "[TOOL_CALLS]"
      if (this.format === "mistral" && this.matched === 1) {
        this.matched = 0;
        this.state = "items";
        return this.step(c);
      }
      return this.release("plain", c);
    }
    if (isSpace(c)) {
      this.held += c;
      return;
    }
    if (this.format === "llama3" && c === "{") return this.beginObject(c);
    if (this.format === "mistral" && c === "[" && this.calls === 0) {
      this.held += c;
      this.matched = 0;
      this.state = "items";
      return;
    }
    this.release("plain", c);
  }

  private beginObject(c: string): void {
    this.matched = 0;
    this.obj = new CallObject();
    this.state = "object";
    this.inObject(c);
  }

  private inObject(c: string): void {
    const o = this.obj!;
    const r = o.feed(c);
    if (r === "end" && o.argsState === "bad") return this.notCall();
    this.report(o);
    if (r === "more") return;
    if (r === "end") {
      if (!o.started) return this.notCall();
      this.held = "";
      this.state = this.format === "hermes" ? "close" : "between";
      return;
    }
    // Not JSON any more: a call already begun ends here; otherwise its text was content.
    if (!o.started) {
      this.events.content(this.held + o.raw);
      this.held = "";
    }
    this.obj = null;
    this.state = this.format === "hermes" ? "text" : "plain";
    this.step(c);
  }

  private notCall(): void {
    this.events.content(this.held + this.obj!.raw);
    this.held = "";
    this.obj = null;
    this.state = this.format === "hermes" ? "text" : "plain";
  }

  private report(o: CallObject): void {
    if (!o.started && o.argsState !== "bad" && o.ready(this.names)) {
      o.started = true;
      o.index = this.calls++;
      o.silent = !this.events.call(o.index, o.name!);
    }
    if (o.started) {
      const text = o.takeArgs();
      if (!o.silent) this.events.args(o.index, text);
    }
  }
}
