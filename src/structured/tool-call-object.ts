// One JSON object in a model's output that may be a tool call, scanned a character at a time
// (tool-call-stream.ts drives it): it learns the call's name when the name string closes and
// collects the arguments, minified, from their first character on, so that they can stream
// before the object is complete.

import { isSpace } from "./tool-call-events.js";

export type Feed = "more" | "end" | "error";

/**
 * One JSON object that may be a call, `{"name": ..., "arguments" | "parameters": {...}}`,
 * scanned character by character. It knows the call's name once the name string is complete,
 * and collects the arguments (minified) from their first character on.
 */
export class CallObject {
  /** Every character consumed, for release as content when this is not a call. */
  raw = "";
  name: string | null = null;
  argsState: "none" | "open" | "done" | "bad" = "none";
  started = false;
  index = -1;
  /** A call past the caller's limit: parsed, never reported. */
  silent = false;
  private args = "";
  private argsTaken = 0;
  private phase: "open" | "key" | "colon" | "value" | "next" = "open";
  private members = 0;
  private keyRaw = "";
  private inKey = false;
  private member: "name" | "args" | "other" = "other";
  private kind: "container" | "string" | "primitive" | null = null;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private valueRaw = "";

  /** Whether the call can begin: a known name, and its arguments begun (or the object closed without any). */
  ready(names: ReadonlySet<string>): boolean {
    return this.name !== null && names.has(this.name) && (this.argsState === "open" || this.argsState === "done");
  }

  /** Arguments text added since the last call. */
  takeArgs(): string {
    const out = this.args.slice(this.argsTaken);
    this.argsTaken = this.args.length;
    return out;
  }

  /** "end": `c` closed the object; "error": `c` cannot continue it (and was not consumed). */
  feed(c: string): Feed {
    const r = this.step(c);
    if (r !== "error") this.raw += c;
    return r;
  }

  private step(c: string): Feed {
    switch (this.phase) {
      case "open":
        if (c !== "{") return "error";
        this.phase = "key";
        return "more";
      case "key":
        if (this.inKey) {
          this.keyRaw += c;
          if (this.escaped) this.escaped = false;
          else if (c === "\\") this.escaped = true;
          else if (c === '"') {
            this.inKey = false;
            this.phase = "colon";
          }
          return "more";
        }
        if (isSpace(c)) return "more";
        if (c === '"') {
          this.inKey = true;
          this.keyRaw = c;
          return "more";
        }
        return c === "}" && this.members === 0 ? this.close() : "error";
      case "colon":
        if (isSpace(c)) return "more";
        if (c !== ":") return "error";
        this.phase = "value";
        return "more";
      case "value":
        if (this.kind === null) return this.beginValue(c);
        return this.continueValue(c);
      case "next":
        if (isSpace(c)) return "more";
        if (c === ",") {
          this.phase = "key";
          return "more";
        }
        return c === "}" ? this.close() : "error";
    }
  }

  private beginValue(c: string): Feed {
    if (isSpace(c)) return "more";
    const key = decode(this.keyRaw);
    this.member = key === "name" && this.name === null ? "name"
      : (key === "arguments" || key === "parameters") && this.argsState === "none" ? "args" : "other";
    this.valueRaw = c;
    this.inString = false;
    this.escaped = false;
    if (c === "{" || c === "[") {
      this.kind = "container";
      this.depth = 1;
    } else if (c === '"') {
      this.kind = "string";
    } else if (c === "," || c === "}" || c === "]" || c === ":") {
      return "error";
    } else {
      this.kind = "primitive";
    }
    if (this.member === "args") {
      if (c === "{") {
        this.argsState = "open";
        this.args = c;
      } else if (c !== '"') {
        this.argsState = "bad";
      }
    }
    return "more";
  }

  private continueValue(c: string): Feed {
    if (this.kind === "primitive") {
      if (c === "," || c === "}" || isSpace(c)) {
        this.endValue();
        return this.step(c);
      }
      this.valueRaw += c;
      return "more";
    }
    this.valueRaw += c;
    if (this.member === "args" && this.argsState === "open" && (this.inString || !isSpace(c))) this.args += c;
    if (this.escaped) {
      this.escaped = false;
    } else if (this.inString || this.kind === "string") {
      if (c === "\\") this.escaped = true;
      else if (c === '"') {
        if (this.kind === "string") this.endValue();
        else this.inString = false;
      }
    } else if (c === '"') {
      this.inString = true;
    } else if (c === "{" || c === "[") {
      this.depth++;
    } else if ((c === "}" || c === "]") && --this.depth === 0) {
      this.endValue();
    }
    return "more";
  }

  private endValue(): void {
    if (this.member === "name") {
      const v = this.kind === "string" ? decode(this.valueRaw) : undefined;
      if (typeof v === "string") this.name = v;
    } else if (this.member === "args") {
      if (this.kind === "string") {
        const v = decode(this.valueRaw);
        if (typeof v === "string") {
          this.args = v;
          this.argsState = "done";
        } else {
          this.argsState = "bad";
        }
      } else if (this.argsState === "open") {
        this.argsState = "done";
      }
    }
    this.members++;
    this.kind = null;
    this.phase = "next";
  }

  private close(): Feed {
    if (this.argsState === "none") {
      this.args = "{}";
      this.argsState = "done";
    }
    return "end";
  }
}

function decode(literal: string): unknown {
  try {
    return JSON.parse(literal) as unknown;
  } catch {
    return undefined;
  }
}
