// "Apply this edit" requests, as a coding or writing assistant gets them: a text of hundreds of
// tokens and one small change (a name, a colour, a number, a sentence); the reply is the text
// again with the change made, so nearly all of it already stands in the prompt, which is what
// speculative decoding drafts from. The same kinds of edits and wording as the demo model's
// training chats (tools/train-demo-model/data.py, EditGen), so the demo model can do them.
import { BOYS, GIRLS, OBJECTS, StoryGen } from "./story-text.js";

const EDIT_COLORS = ["red", "blue", "green", "yellow", "purple", "golden", "silver", "pink", "brown", "white", "black", "orange"];
const COUNTED = ["apples", "cookies", "shells", "stones", "books", "flowers", "coins", "birds", "boats", "cakes", "leaves", "toys"];
const NAMES = [...GIRLS, ...BOYS];

export type EditKind = "name" | "color" | "number" | "sentence";

/** The change asked for: every whole-word `from` becomes `to` (a sentence: its first occurrence). */
export interface EditChange {
  readonly kind: EditKind;
  readonly from: string;
  readonly to: string;
}

export interface EditRequest {
  /** The user's message: the instruction and the text, in either order. */
  readonly user: string;
  /** The text to rewrite. */
  readonly text: string;
  /** The rewritten text: the reply the request asks for. */
  readonly expected: string;
  readonly change: EditChange;
}

export interface EditTextOptions {
  /**
   * Join stories until the text has at least this many tokens (by `count`), for models with a
   * long context. Without it, one story or sometimes two, under 1,000 characters together, as
   * the demo model (512 tokens of context) was trained on.
   */
  readonly minTokens?: number;
  readonly count?: (text: string) => number;
}

const wordPattern = (w: string): RegExp => new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "g");
const hasWord = (text: string, w: string): boolean => wordPattern(w).test(text);
const sentencesOf = (text: string): string[] => text.split(/(?<=[.!?])\s+/).filter((x) => x.length > 20 && x.length < 120 && !x.includes('"'));

/** The text with the change made: every whole word `from` (a sentence: the first one) replaced by `to`. */
export function applyChange(text: string, c: EditChange): string {
  return c.kind === "sentence" ? text.replace(c.from, () => c.to) : text.replace(wordPattern(c.from), () => c.to);
}

/** Edit requests drawn from one seed. */
export class EditGen extends StoryGen {
  constructor(seed: number, private readonly o: EditTextOptions = {}) {
    super(seed);
  }

  /** A text of stories, with a coloured thing and a number or two put in, so that every kind of edit has something to change. */
  editText(): string {
    let text = this.story();
    const { minTokens, count } = this.o;
    if (minTokens !== undefined && count) {
      while (count(text) < minTokens) text += "\n\n" + this.story();
    } else if (this.random() < 0.35) {
      const more = this.story();
      if (text.length + more.length < 1000) text += "\n\n" + more;
    }
    const sentences = text.split(". ");
    const who = /named (\w+)/.exec(text)?.[1] ?? /^(\w+)/.exec(text)?.[1] ?? "The child";
    const extra = [
      `${who} had ${this.int(2, 13)} ${this.pick(COUNTED)} in a ${this.pick(EDIT_COLORS)} bag`,
      `${who} was ${this.int(3, 11)} years old and had a ${this.pick(EDIT_COLORS)} ${this.pick(OBJECTS)}`,
      `There were ${this.int(2, 20)} ${this.pick(COUNTED)} on the ${this.pick(EDIT_COLORS)} table`,
    ];
    // One or two of them, each at a sentence boundary (as data.py puts them, periods and all).
    for (let k = this.int(1, 3); k > 0; k--) {
      const [e] = extra.splice(this.int(0, extra.length), 1);
      sentences.splice(this.int(1, sentences.length + 1), 0, e!);
    }
    return sentences.join(". ");
  }

  edit(): EditRequest {
    const text = this.editText();
    const change = this.change(text);
    const ask = this.pick(ASKS[change.kind])(change.from, change.to);
    const lead = this.pick(["Rewrite this text. ", "Please rewrite the text below. ", "", "Edit this story. "]);
    const user = this.random() < 0.5 ? `${lead}${ask}\n\n${text}` : `${text}\n\n${lead}${ask}`;
    return { user, text, expected: applyChange(text, change), change };
  }

  private change(text: string): EditChange {
    let kind = this.int(0, 4);
    if (kind === 3) {
      const from = sentencesOf(text), to = sentencesOf(this.story());
      const old = from.length > 0 ? this.pick(from) : null;
      const fresh = to.filter((s) => s !== old && !text.includes(s));
      if (old !== null && fresh.length > 0) return { kind: "sentence", from: old, to: this.pick(fresh) };
      kind = 1; // no sentence to swap: a colour, which every text has
    }
    if (kind === 0) {
      const names = NAMES.filter((n) => hasWord(text, n));
      return { kind: "name", from: this.pick(names), to: this.pick(NAMES.filter((n) => !names.includes(n))) };
    }
    if (kind === 1) {
      const colors = EDIT_COLORS.filter((c) => hasWord(text, c));
      return { kind: "color", from: this.pick(colors), to: this.pick(EDIT_COLORS.filter((c) => !colors.includes(c))) };
    }
    const numbers = [...new Set(text.match(/\b\d+\b/g) ?? [])].sort();
    const to = Array.from({ length: 28 }, (_, i) => String(i + 2)).filter((n) => !numbers.includes(n));
    return { kind: "number", from: this.pick(numbers), to: this.pick(to) };
  }
}

/** The instruction's wordings, as data.py has them. */
const ASKS: Readonly<Record<EditKind, readonly ((from: string, to: string) => string)[]>> = {
  name: [(a, b) => `Change the name ${a} to ${b}.`, (a, b) => `Rewrite the text with ${b} instead of ${a}.`, (a, b) => `Replace the name ${a} with ${b}.`],
  color: [(a, b) => `Change the color ${a} to ${b}.`, (a, b) => `Make everything that is ${a} ${b} instead.`, (a, b) => `Replace the word ${a} with ${b}.`],
  number: [(a, b) => `Change the number ${a} to ${b}.`, (a, b) => `Replace ${a} with ${b}.`, (a, b) => `Rewrite the text so that it says ${b} instead of ${a}.`],
  sentence: [(a, b) => `Replace the sentence "${a}" with "${b}".`, (a, b) => `Change "${a}" to "${b}".`],
};
