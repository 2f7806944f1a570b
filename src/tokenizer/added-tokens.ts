// Added tokens (tokenizer.json `added_tokens`, GGUF control and user-defined tokens) are cut out of
// the text before normalization and BPE, leftmost-longest first, like the HF AddedVocabulary.
// Special ones only when the caller asks for special-token parsing; the others always, as HF and
// llama.cpp both do.

export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

/** A piece of text still to be tokenized, or the id of an added token found in the text. */
export type Segment = string | number;

const WORD_CHAR = /[\p{L}\p{N}_]/u;
const WHITESPACE = /\s/u;

export class AddedTokenSplitter {
  private readonly byContent = new Map<string, AddedTokenSpec>();
  private readonly all: RegExp | null;
  private readonly plain: RegExp | null;

  constructor(tokens: readonly AddedTokenSpec[]) {
    for (const t of tokens) if (t.content.length > 0 && !this.byContent.has(t.content)) this.byContent.set(t.content, t);
    const specs = [...this.byContent.values()];
    this.all = alternation(specs);
    this.plain = alternation(specs.filter((t) => !t.special));
  }

  get size(): number {
    return this.byContent.size;
  }

  split(text: string, includeSpecial: boolean): Segment[] {
    const re = includeSpecial ? this.all : this.plain;
    if (re === null || text.length === 0) return text.length === 0 ? [] : [text];
    const out: Segment[] = [];
    let last = 0; // end of the text already consumed
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const spec = this.byContent.get(m[0]) as AddedTokenSpec;
      let start = m.index;
      let end = start + m[0].length;
      if (spec.singleWord && ((start > 0 && WORD_CHAR.test(text[start - 1])) || (end < text.length && WORD_CHAR.test(text[end])))) {
        re.lastIndex = start + 1;
        continue;
      }
      if (spec.lstrip) while (start > last && WHITESPACE.test(text[start - 1])) start--;
      if (spec.rstrip) while (end < text.length && WHITESPACE.test(text[end])) end++;
      if (start > last) out.push(text.slice(last, start));
      out.push(spec.id);
      last = end;
      re.lastIndex = end;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}

function alternation(tokens: AddedTokenSpec[]): RegExp | null {
  if (tokens.length === 0) return null;
  const sorted = tokens.map((t) => t.content).sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu");
}
