// Where a worker thread finds the model's tokenizer: rebuilt there from the model's file (or,
// for a model whose file is gone, from the tokenizer itself), so that nothing large is copied
// at start. The grammar worker and the tokenizer thread both use it.
import { loadTokenizerFile, loadTokenizerJson, tokenizerFromGGUF } from "./load.js";
import type { Tokenizer } from "./tokenizer.js";

export type TokenizerSource =
  /** The model's file or folder, read again by the worker (the usual case). */
  | { readonly kind: "file"; readonly path: string }
  /** The tokenizer itself, for a model whose file is gone. */
  | { readonly kind: "json"; readonly tokenizer: Record<string, unknown>; readonly config: Record<string, unknown> }
  | { readonly kind: "gguf"; readonly metadata: Record<string, unknown> };

export async function loadTokenizerSource(src: TokenizerSource): Promise<Tokenizer> {
  switch (src.kind) {
    case "file":
      return loadTokenizerFile(src.path);
    case "json":
      return loadTokenizerJson(src.tokenizer, src.config);
    case "gguf":
      return tokenizerFromGGUF(src.metadata);
  }
}
