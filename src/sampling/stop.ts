// Stop strings over streamed text: finds them across token boundaries and cuts them out.
//
// The text ends where a stop string first completes (the smallest end position; among
// stops completing at the same place, the one starting earliest), and the output is the
// text before that stop. This is what generation that checks after every piece of text
// produces, and it does not depend on how the text was split into deltas.
//
// Streaming never emits text that could still turn out to be part of a stop: push() holds
// back exactly the longest tail that is a proper prefix of some stop string (the least it
// can hold and stay correct), and releases it as soon as it no longer can be.

export interface StopPush {
  /** Text that is safe to show now. */
  readonly emit: string;
  /** A stop string completed: emit is the last text, and the request should finish. */
  readonly stopped: boolean;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly longest: number;
  private held = "";
  private match: string | undefined;

  constructor(stops: readonly string[]) {
    for (const s of stops) if (s.length === 0) throw new Error("stop strings must be non-empty");
    this.stops = [...stops];
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  get stopped(): boolean {
    return this.match !== undefined;
  }

  /** The stop string that ended the text, once stopped. */
  get matched(): string | undefined {
    return this.match;
  }

  /** Text that is being held back, not yet emitted. */
  get pending(): string {
    return this.held;
  }

  push(delta: string): StopPush {
    if (this.match !== undefined) return { emit: "", stopped: true };
    if (this.stops.length === 0) return { emit: delta, stopped: false };
    const text = this.held + delta;
    let start = -1;
    let end = Infinity;
    for (const s of this.stops) {
      // The held text holds no whole stop, so any match ends inside the delta.
      const i = text.indexOf(s);
      if (i < 0) continue;
      const e = i + s.length;
      if (e < end || (e === end && i < start)) {
        start = i;
        end = e;
        this.match = s;
      }
    }
    if (start >= 0) {
      this.held = "";
      return { emit: text.slice(0, start), stopped: true };
    }
    const keep = this.partialTail(text);
    this.held = text.slice(text.length - keep);
    return { emit: text.slice(0, text.length - keep), stopped: false };
  }

  /** The held-back text, at the end of generation (empty once stopped). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  /** Length of the longest tail of text that is a proper prefix of some stop string. */
  private partialTail(text: string): number {
    for (let len = Math.min(text.length, this.longest - 1); len > 0; len--) {
      const from = text.length - len;
      for (const s of this.stops) if (len < s.length && startsAt(text, from, s)) return len;
    }
    return 0;
  }
}

/** Whether text[from..] is a prefix of s. */
function startsAt(text: string, from: number, s: string): boolean {
  for (let i = from; i < text.length; i++) if (text.charCodeAt(i) !== s.charCodeAt(i - from)) return false;
  return true;
}
