// The tokenizer's ids are rows of the embedding matrix: an id at or beyond the model's vocab
// size would read past token_embd at the first forward pass. Checked on the raw tokenizer
// files, before a tokenizer is built from them, so a huge id cannot size a table either.
import { fieldError, FormatError, quote } from "../formats/errors.js";

/** model.vocab and added_tokens ids of a tokenizer.json are all below `rows`. */
export function checkTokenizerJsonIds(json: Record<string, unknown>, rows: number, file: string, rowsFrom: string): void {
  const beyond = (field: string, id: number): FormatError =>
    fieldError(file, field, `id ${id} is beyond the model's ${rows} embedding rows (${rowsFrom})`);
  const model = json.model;
  if (typeof model === "object" && model !== null && !Array.isArray(model)) {
    const vocab = (model as Record<string, unknown>).vocab;
    if (Array.isArray(vocab)) {
      // Unigram: ids are positions in the list.
      if (vocab.length > rows) throw beyond(`model.vocab[${vocab.length - 1}]`, vocab.length - 1);
    } else if (typeof vocab === "object" && vocab !== null) {
      const v = vocab as Record<string, unknown>;
      for (const token of Object.keys(v)) {
        const id = v[token];
        if (typeof id === "number" && id >= rows) throw beyond(`model.vocab[${quote(token)}]`, id);
      }
    }
  }
  const added = json.added_tokens;
  if (Array.isArray(added)) {
    added.forEach((t: unknown, i) => {
      const id = typeof t === "object" && t !== null ? (t as Record<string, unknown>).id : undefined;
      if (typeof id === "number" && id >= rows) throw beyond(`added_tokens[${i}]`, id);
    });
  }
}

/** A GGUF vocabulary has no more tokens than the embedding has rows. */
export function checkGGUFTokenCount(metadata: Readonly<Record<string, unknown>>, rows: number, file: string): void {
  const tokens = metadata["tokenizer.ggml.tokens"];
  if (Array.isArray(tokens) && tokens.length > rows) {
    throw fieldError(file, "tokenizer.ggml.tokens", `${tokens.length} tokens, but token_embd.weight has ${rows} rows`);
  }
}

/** Whatever a tokenizer loader threw, as a FormatError about `file` (internal errors kept as the cause). */
export function tokenizerError(err: unknown, file: string): FormatError {
  if (err instanceof FormatError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  // The tokenizer's own messages start with the source it was given.
  const problem = (msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg).split("\n")[0]!.slice(0, 300);
  return new FormatError(file, problem, null, err);
}
