// Pythonic tool calls, parsed as they stream (Llama 3.2 / Llama 4's pythonic tool prompts,
// vLLM's "pythonic" parser): the answer is a Python list of calls with keyword arguments,
//
//   [get_weather(city="Paris", unit='celsius'), ping()]
//
// optionally between Llama 4's <|python_start|> and <|python_end|>. Each call's arguments
// become a JSON object member by member: a string value streams as it is read (decoded from
// Python's escapes, JSON-escaped), any other value goes out when complete, converted from
// its Python literal (python-literal.ts). The list must open the answer; text after it is
// content. A list that turns out not to be calls (an unknown function, a plain list) is content.
import { CallEvents, isSpace, type ToolCallEvent, type ToolCallMachine, type ToolCallParserOptions } from "./tool-call-events.js";
import { PyStringScanner, pythonLiteralJson } from "./python-literal.js";

const START = "<|python_start|>";
const END = "<|python_end|>";
/** Longest function or argument name read; past it the text is not a call. */
const MAX_NAME = 256;

const isNameStart = (c: string): boolean => /^[\w-]$/.test(c);
/**
 * What a function or keyword name may hold: Python's identifiers, and the "-" and "." that
 * OpenAI's tool names and JSON property names may have (the forcing grammar writes them as they are).
 */
const isNameChar = (c: string): boolean => /^[\w.-]$/.test(c);

type State =
  /** before the list: whitespace and <|python_start|> */
  | "lead"
  /** inside the list, before a call */
  | "list"
  /** a function's name, up to "(" */
  | "function"
  /** inside a call's parentheses, before a keyword */
  | "args"
  | "keyword"
  /** after "keyword=", before its value */
  | "value"
  /** a string value, streaming */
  | "string"
  /** any other value, read to its end */
  | "literal"
  /** after a value: "," or ")" */
  | "next"
  /** after a call: "," or "]" */
  | "between"
  /** after the list: <|python_end|> */
  | "end"
  /** everything from here on is content */
  | "plain";

export class PythonicToolCallParser implements ToolCallMachine {
  private readonly events: CallEvents;
  private readonly callsOnly: boolean;
  private state: State = "lead";
  /** Text read before the first call is known, released as content if it is not one. */
  private held = "";
  private matched = 0;
  private word = "";
  private calls = 0;
  private index = -1;
  private members = 0;
  private scanner: PyStringScanner | null = null;
  /** A non-string value so far, and where it stands (nesting, an open string in it). */
  private literal = "";
  private depth = 0;
  private quote: string | null = null;
  private escaped = false;
  private finished = false;

  constructor(private readonly names: ReadonlySet<string>, options: ToolCallParserOptions = {}) {
    this.events = new CallEvents(options.maxCalls ?? Infinity);
    this.callsOnly = options.callsOnly ?? false;
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
    if (this.state === "lead" || this.state === "list" || this.state === "function") {
      // Not yet a call: content, unless the output is calls only or a call came before.
      if (this.callsOnly || this.calls > 0) dropped = this.held !== "";
      else this.events.content(this.held);
    }
    this.events.end(dropped);
    return this.events.take();
  }

  /** What was held is content, and so is the rest of the output. */
  private plain(c: string): void {
    this.events.content(this.held);
    this.held = "";
    this.state = "plain";
    this.events.content(c);
  }

  /** A call begun ends here (its arguments closed); `c` and the rest are content. */
  private broken(c: string): void {
    this.events.args(this.index, "}");
    this.plain(c);
  }

  private step(c: string): void {
    switch (this.state) {
      case "plain":
        return this.events.content(c);
      case "lead":
        return this.lead(c);
      case "list":
        if (isSpace(c)) {
          this.held += c;
          return;
        }
        if (!isNameStart(c)) return this.plain(c);
        this.held += c;
        this.word = c;
        this.state = "function";
        return;
      case "function":
        if (c === "(" && this.names.has(this.word)) return this.beginCall();
        if (!isNameChar(c) || this.word.length >= MAX_NAME) return this.plain(c);
        this.held += c;
        this.word += c;
        return;
      case "args":
        if (isSpace(c)) return;
        if (c === ")") return this.endCall();
        if (!isNameStart(c)) return this.broken(c);
        this.word = c;
        this.state = "keyword";
        return;
      case "keyword":
        if (c === "=") {
          this.events.args(this.index, `${this.members++ > 0 ? "," : ""}${JSON.stringify(this.word.trim())}:`);
          this.state = "value";
          return;
        }
        if (isSpace(c) || (isNameChar(c) && !/\s/.test(this.word) && this.word.length < MAX_NAME)) {
          this.word += c;
          return;
        }
        return this.broken(c);
      case "value":
        return this.beginValue(c);
      case "string": {
        const text = this.scanner!.feed(c);
        if (text !== "") this.events.args(this.index, JSON.stringify(text).slice(1, -1));
        if (this.scanner!.done) {
          this.events.args(this.index, '"');
          this.state = "next";
        }
        return;
      }
      case "literal":
        return this.literalChar(c);
      case "next":
        if (isSpace(c)) return;
        if (c === ",") {
          this.state = "args";
          return;
        }
        if (c === ")") return this.endCall();
        return this.broken(c);
      case "between":
        if (isSpace(c)) return;
        if (c === ",") {
          this.state = "list";
          return;
        }
        if (c === "]") {
          this.matched = 0;
          this.state = "end";
          return;
        }
        return this.plain(c);
      case "end":
        if (this.matched === 0 && isSpace(c)) return;
        if (c === END[this.matched]) {
          if (++this.matched === END.length) this.state = "plain";
          return;
        }
        // a partial <|python_end|> is markup: dropped
        this.state = "plain";
        return this.events.content(c);
    }
  }

  /** Before the list: whitespace, <|python_start|> once, then "[". */
  private lead(c: string): void {
    if (this.matched >= 0 && c === START[this.matched]) {
      this.held += c;
      this.matched = this.matched + 1 === START.length ? -1 : this.matched + 1;
      return;
    }
    if (this.matched > 0) return this.plain(c);
    if (isSpace(c)) {
      this.held += c;
      return;
    }
    if (c !== "[") return this.plain(c);
    this.held += c;
    this.state = "list";
  }

  private beginCall(): void {
    this.held = "";
    this.index = this.calls++;
    this.events.call(this.index, this.word);
    this.events.args(this.index, "{");
    this.members = 0;
    this.state = "args";
  }

  private endCall(): void {
    this.events.args(this.index, "}");
    this.state = "between";
  }

  private beginValue(c: string): void {
    if (isSpace(c)) return;
    if (c === '"' || c === "'") {
      this.scanner = new PyStringScanner(c);
      this.events.args(this.index, '"');
      this.state = "string";
      return;
    }
    this.literal = "";
    this.depth = 0;
    this.quote = null;
    this.escaped = false;
    this.state = "literal";
    this.literalChar(c);
  }

  /** A value other than a plain string: read up to the "," or ")" that ends it, then converted. */
  private literalChar(c: string): void {
    if (this.quote !== null) {
      if (this.escaped) this.escaped = false;
      else if (c === "\\") this.escaped = true;
      else if (c === this.quote) this.quote = null;
    } else if (c === '"' || c === "'") {
      this.quote = c;
    } else if (c === "[" || c === "(" || c === "{") {
      this.depth++;
    } else if ((c === "]" || c === ")" || c === "}") && this.depth > 0) {
      this.depth--;
    } else if ((c === "," || c === ")") && this.depth === 0) {
      const text = this.literal.trim();
      // Not a literal (a variable name, say): its text, as a string.
      this.events.args(this.index, pythonLiteralJson(text) ?? JSON.stringify(text));
      this.state = "next";
      return this.step(c);
    }
    this.literal += c;
  }
}
