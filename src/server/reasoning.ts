// Reasoning models (Qwen3, DeepSeek-R1, QwQ) think between <think> and </think> before they
// answer. The splitter separates that text (`reasoning_content`) from the answer (`content`),
// whole or as it streams: a chunk that ends inside a tag is held back until the tag is known.
//
// Where the thinking starts: the model may write <think> itself (Qwen3), or the chat template
// may end the prompt with it (DeepSeek-R1, Qwen3's thinking-only models), so the output starts
// inside. Thinking cut off by max_tokens is all reasoning.

export const REASONING_PARSERS = ["qwen3", "deepseek-r1"] as const;
export type ReasoningParser = (typeof REASONING_PARSERS)[number];

const OPEN = "<think>";
const CLOSE = "</think>";

export interface ReasoningPiece {
  readonly reasoning: string;
  readonly content: string;
}

/** Whether a rendered prompt leaves the model inside its thinking (the template wrote <think>). */
export function promptOpensThinking(prompt: string): boolean {
  return prompt.trimEnd().endsWith(OPEN);
}

/** Whether a rendered prompt closed the thinking already (Qwen3 with enable_thinking: false): the answer comes at once. */
export function promptClosesThinking(prompt: string): boolean {
  return prompt.trimEnd().endsWith(CLOSE);
}

/** The text that ends the thinking, which a constraint waits for. */
export const THINKING_END = CLOSE;

/** A parser the chat template implies: one that writes <think> and </think>; null for other templates. */
export function reasoningParserOf(template: string): ReasoningParser | null {
  return template.includes(OPEN) && template.includes(CLOSE) ? "qwen3" : null;
}

/** The longest suffix of `text` that begins `tag` (a tag cut by the chunk's end). */
function partialTag(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) if (tag.startsWith(text.slice(text.length - n))) return n;
  return 0;
}

export class ReasoningSplitter {
  private state: "start" | "inside" | "after";
  private held = "";
  private answered = false;

  constructor(startsInside: boolean) {
    this.state = startsInside ? "inside" : "start";
  }

  push(text: string): ReasoningPiece {
    let buf = this.held + text;
    this.held = "";
    let reasoning = "";
    let content = "";
    for (;;) {
      if (this.state === "start") {
        const lead = buf.trimStart();
        if (lead.startsWith(OPEN)) {
          buf = lead.slice(OPEN.length);
          this.state = "inside";
          continue;
        }
        if (OPEN.startsWith(lead)) {
          this.held = buf; // still maybe <think>
          break;
        }
        this.state = "after";
        continue;
      }
      if (this.state === "inside") {
        const at = buf.indexOf(CLOSE);
        if (at >= 0) {
          reasoning += buf.slice(0, at);
          buf = buf.slice(at + CLOSE.length);
          this.state = "after";
          continue;
        }
        const keep = partialTag(buf, CLOSE);
        reasoning += buf.slice(0, buf.length - keep);
        this.held = buf.slice(buf.length - keep);
        break;
      }
      // The answer, without the blank lines between the thinking and it.
      if (!this.answered) {
        buf = buf.trimStart();
        if (buf.length > 0) this.answered = true;
      }
      content += buf;
      break;
    }
    // Thinking starts with a newline after <think>: dropped as the answer's leading blank is.
    return { reasoning, content };
  }

  /** What was held back: the rest of a cut-off thinking, or text that only looked like a tag. */
  finish(): ReasoningPiece {
    const rest = this.held;
    this.held = "";
    if (this.state === "inside") return { reasoning: rest, content: "" };
    if (this.state === "start") this.state = "after";
    return this.push(rest);
  }
}

/** A whole output split: the thinking (null when there was none) and the answer. */
export function splitReasoning(text: string, startsInside: boolean): { reasoning: string | null; content: string } {
  const s = new ReasoningSplitter(startsInside);
  const a = s.push(text);
  const b = s.finish();
  const reasoning = (a.reasoning + b.reasoning).trim();
  return { reasoning: reasoning.length > 0 ? reasoning : null, content: a.content + b.content };
}
