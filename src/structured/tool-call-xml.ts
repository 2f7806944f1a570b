// Qwen3-Coder's tool calls, parsed as they stream (vLLM's and SGLang's "qwen3_coder"):
//
//   <tool_call>
//   <function=get_weather>
//   <parameter=city>
//   Paris
//   </parameter>
//   </function>
//   </tool_call>
//
// Values are raw text; the newline after `<parameter=...>` and the one before `</parameter>`
// are markup, as the chat template writes them. A call's JSON arguments are built member by
// member: a string parameter's value streams as it comes (JSON-escaped), any other is typed
// by the tool's parameter schema when it is complete (qwen3-coder-values.ts). A bare
// `<function=...>` block without `<tool_call>` counts too (Qwen3-Coder sometimes drops it).
import { CallEvents, isSpace, LiteralWatch, type ToolCallEvent, type ToolCallMachine, type ToolCallParserOptions } from "./tool-call-events.js";
import { ParameterTypes, xmlValueJson } from "./qwen3-coder-values.js";

const OPEN = "<tool_call>";
const CLOSE = "</tool_call>";
const FUNCTION = "<function=";
const FUNCTION_END = "</function>";
const PARAMETER = "<parameter=";
/** What ends a value: the closing tag, or (tolerated, as vLLM does) the function's; the newline before either is markup. */
const VALUE_ENDS = ["\n</parameter>", "</parameter>", "\n</function>", "</function>"];
/** Longest function or parameter name read; past it the markup is not a call. */
const MAX_NAME = 256;

type State =
  /** content, watching for "<tool_call>" or "<function=" */
  | "text"
  /** after "<tool_call>": "<function=" must follow */
  | "open"
  /** the function's name, up to ">" */
  | "name"
  /** inside a call, between parameters */
  | "body"
  /** a parameter's name, up to ">" */
  | "param"
  | "value"
  /** after "</function>", inside "</tool_call>" */
  | "close";

export class XmlToolCallParser implements ToolCallMachine {
  private readonly events: CallEvents;
  private readonly callsOnly: boolean;
  private readonly types: ParameterTypes;
  private state: State = "text";
  private readonly textWatch = new LiteralWatch([OPEN, FUNCTION]);
  private readonly bodyWatch = new LiteralWatch([PARAMETER, FUNCTION_END]);
  /** Markup read that becomes content if it turns out not to frame a call. */
  private held = "";
  /** The call opened with "<tool_call>" (then "</tool_call>" closes it). */
  private wrapped = false;
  private matched = 0;
  private name = "";
  private calls = 0;
  private index = -1;
  private members = 0;
  private param = "";
  /** The value streams as a JSON string (a string parameter), rather than typed when complete. */
  private streams = false;
  private valueStart = true;
  /** Value text that may still begin its end tag. */
  private pending = "";
  private value = "";
  private finished = false;

  constructor(private readonly names: ReadonlySet<string>, options: ToolCallParserOptions = {}) {
    this.events = new CallEvents(options.maxCalls ?? Infinity);
    this.callsOnly = options.callsOnly ?? false;
    this.types = new ParameterTypes(options.tools ?? []);
  }

  push(delta: string): ToolCallEvent[] {
    if (this.finished) throw new Error("push after finish");
    for (const c of delta) this.step(c);
    return this.events.take();
  }

  finish(): ToolCallEvent[] {
    if (this.finished) return [];
    this.finished = true;
    let dropped = false;
    if (this.state === "text") {
      // a partial "<tool_call>" or "<function="
      if (this.callsOnly) dropped = this.textWatch.held !== "";
      else this.events.content(this.textWatch.held);
    } else if (this.state === "open" || this.state === "name") {
      // not yet a call: content, unless markup or an earlier call framed it (an output cut short)
      if (this.callsOnly || this.calls > 0 || this.wrapped) dropped = true;
      else this.events.content(this.held);
    }
    // Inside a call: its arguments are cut short; nothing is content.
    this.events.end(dropped);
    return this.events.take();
  }

  /** The markup held was not a call: it is content, and `c` (if any) is read again as text. */
  private release(c = ""): void {
    this.events.content(this.held);
    this.held = "";
    this.state = "text";
    if (c !== "") this.step(c);
  }

  private step(c: string): void {
    switch (this.state) {
      case "text": {
        const r = this.textWatch.step(c);
        if (r === "held") return;
        if ("text" in r) return this.events.content(r.text);
        this.held = r.done;
        this.wrapped = r.done === OPEN;
        this.matched = 0;
        this.name = "";
        this.state = r.done === OPEN ? "open" : "name";
        return;
      }
      case "open":
        if (this.matched === 0 && isSpace(c)) {
          this.held += c;
          return;
        }
        if (c !== FUNCTION[this.matched]) return this.release(c);
        this.held += c;
        if (++this.matched === FUNCTION.length) this.state = "name";
        return;
      case "name":
        if (c === ">") {
          this.held += c;
          const name = this.name.trim();
          if (!this.names.has(name)) return this.release();
          return this.beginCall(name);
        }
        if (c === "\n" || c === "<" || this.name.length >= MAX_NAME) return this.release(c);
        this.held += c;
        this.name += c;
        return;
      case "body": {
        if (this.bodyWatch.held === "" && isSpace(c)) return;
        const r = this.bodyWatch.step(c);
        if (r === "held" || "text" in r) return; // stray text inside a call is dropped
        if (r.done === FUNCTION_END) return this.endCall();
        this.param = "";
        this.state = "param";
        return;
      }
      case "param":
        if (c === ">") return this.beginValue(this.param.trim());
        // not a parameter after all: back to the call's body
        if (c === "\n" || c === "<" || this.param.length >= MAX_NAME) {
          this.state = "body";
          return this.step(c);
        }
        this.param += c;
        return;
      case "value":
        return this.valueChar(c);
      case "close":
        if (this.matched === 0 && isSpace(c)) return;
        if (c === CLOSE[this.matched]) {
          if (++this.matched === CLOSE.length) this.state = "text";
          return;
        }
        // a partial "</tool_call>" is markup of the call: dropped
        this.state = "text";
        return this.step(c);
    }
  }

  private beginCall(name: string): void {
    this.held = "";
    this.name = name;
    this.index = this.calls++;
    this.events.call(this.index, name);
    this.events.args(this.index, "{");
    this.members = 0;
    this.state = "body";
  }

  private endCall(): void {
    this.events.args(this.index, "}");
    this.matched = 0;
    this.state = this.wrapped ? "close" : "text";
  }

  private beginValue(param: string): void {
    this.events.args(this.index, `${this.members++ > 0 ? "," : ""}${JSON.stringify(param)}:`);
    this.param = param;
    this.streams = this.types.isString(this.name, param);
    if (this.streams) this.events.args(this.index, '"');
    this.valueStart = true;
    this.pending = "";
    this.value = "";
    this.state = "value";
  }

  private valueChar(c: string): void {
    if (this.valueStart) {
      this.valueStart = false;
      if (c === "\n") return;
    }
    const p = this.pending + c;
    const end = VALUE_ENDS.find((e) => p.endsWith(e));
    if (end !== undefined) {
      this.deliver(p.slice(0, p.length - end.length));
      this.endValue();
      if (end.endsWith(FUNCTION_END)) this.endCall();
      else this.state = "body";
      return;
    }
    // Hold the longest tail that may still begin an end tag; the rest is value.
    let keep = Math.min(p.length, VALUE_ENDS[0]!.length);
    while (keep > 0 && !VALUE_ENDS.some((e) => e.startsWith(p.slice(p.length - keep)))) keep--;
    this.pending = p.slice(p.length - keep);
    this.deliver(p.slice(0, p.length - keep));
  }

  private deliver(text: string): void {
    if (text === "") return;
    if (this.streams) this.events.args(this.index, JSON.stringify(text).slice(1, -1));
    else this.value += text;
  }

  private endValue(): void {
    this.pending = "";
    this.events.args(this.index, this.streams ? '"' : xmlValueJson(this.value, this.types.schema(this.name, this.param)));
    this.value = "";
  }
}
