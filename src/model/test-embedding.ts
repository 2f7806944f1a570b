// The parts of a generated test model that make it an embedding model or a reranker, in the
// forms real ones ship in: GGUF pooling_type (and, for "rank", llama.cpp's Qwen3-Reranker
// conversion: a classifier head of the "yes" and "no" rows of the output matrix and a rerank
// prompt), or an HF folder with sentence-transformers' modules.json, optionally saved as the
// bare backbone without an LM head (as Qwen3-Embedding is).
import fs from "node:fs";
import path from "node:path";
import type { GGUFWriteValue, TensorToWrite } from "../formats/gguf.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";

export interface TestEmbedding {
  /** "rank": a GGUF reranker (pooling_type 4) with a yes/no classifier head. */
  readonly pooling: "last" | "mean" | "cls" | "rank";
  /** HF: a Normalize module after the pooling (default true). */
  readonly normalize?: boolean;
  /** HF: no `model.` prefix, no lm_head, tie_word_embeddings false (Qwen3-Embedding-8B's form). */
  readonly bare?: boolean;
  /** HF: config.json says is_matryoshka. */
  readonly matryoshka?: boolean;
}

const GGUF_POOLING = { mean: 1, cls: 2, last: 3, rank: 4 } as const;

/** Qwen3-Reranker's prompt as llama.cpp's converter writes it. */
export const TEST_RERANK_TEMPLATE = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
  "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n" +
  "<Query>: {query}\n<Document>: {document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

/**
 * The GGUF metadata (and, for "rank", the classifier tensor) of an embedding model.
 * `outputValues` gives the output matrix's values (vocab x hidden, the embedding's when tied).
 */
export function ggufEmbedding(e: TestEmbedding, arch: string, tok: Tokenizer, hidden: number,
  outputValues: () => Float32Array): { meta: Record<string, GGUFWriteValue>; tensors: TensorToWrite[] } {
  const meta: Record<string, GGUFWriteValue> = { [`${arch}.pooling_type`]: { type: "u32", value: GGUF_POOLING[e.pooling] } };
  if (e.pooling !== "rank") return { meta, tensors: [] };
  const id = (t: string): number => {
    const ids = tok.encode(t, { addSpecial: false, parseSpecial: false });
    if (ids.length !== 1) throw new Error(`a test reranker needs "${t}" to be one token`);
    return ids[0]!;
  };
  const [yes, no] = [id("yes"), id("no")];
  meta[`${arch}.classifier.output_labels`] = ["yes", "no"];
  meta["tokenizer.chat_template.rerank"] = TEST_RERANK_TEMPLATE;
  const data = (): Uint8Array => {
    const out = outputValues();
    const rows = new Float32Array(2 * hidden);
    rows.set(out.subarray(yes * hidden, (yes + 1) * hidden), 0);
    rows.set(out.subarray(no * hidden, (no + 1) * hidden), hidden);
    return new Uint8Array(rows.buffer);
  };
  return { meta, tensors: [{ name: "cls.output.weight", type: "f32", shape: [2, hidden], data }] };
}

/** An HF tensor's name in a bare backbone (null: not saved), else as it is. */
export function hfEmbeddingName(e: TestEmbedding | undefined, name: string): string | null {
  if (!e?.bare) return name;
  if (name === "lm_head.weight") return null;
  return name.startsWith("model.") ? name.slice("model.".length) : name;
}

/** sentence-transformers' files, and config.json's changes, for an HF embedding model. */
export function writeHFEmbedding(e: TestEmbedding, dir: string, config: Record<string, unknown>): void {
  if (e.pooling === "rank") throw new Error("a test reranker is a GGUF (HF rerankers are plain causal LMs)");
  const modules = [
    { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
    { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
    ...(e.normalize !== false ? [{ idx: 2, name: "2", path: "2_Normalize", type: "sentence_transformers.models.Normalize" }] : []),
  ];
  fs.writeFileSync(path.join(dir, "modules.json"), JSON.stringify(modules, null, 2));
  fs.mkdirSync(path.join(dir, "1_Pooling"), { recursive: true });
  fs.writeFileSync(path.join(dir, "1_Pooling", "config.json"), JSON.stringify({
    word_embedding_dimension: config.hidden_size,
    pooling_mode_cls_token: e.pooling === "cls",
    pooling_mode_mean_tokens: e.pooling === "mean",
    pooling_mode_max_tokens: false,
    pooling_mode_mean_sqrt_len_tokens: false,
    pooling_mode_weightedmean_tokens: false,
    pooling_mode_lasttoken: e.pooling === "last",
    include_prompt: true,
  }, null, 2));
  if (e.bare) config.tie_word_embeddings = false;
  if (e.matryoshka) config.is_matryoshka = true;
}
