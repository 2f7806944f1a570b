// Embeddings and reranking on the engine: texts become pooling requests (PoolSpec) that run
// through the same scheduler and radix cache as generation, so a shared instruction prefix,
// or a reranker's query before each document, is computed once.
//
// Reranking follows the model: a rank GGUF (llama.cpp's conversion of Qwen3-Reranker) has a
// classifier head over the last hidden state and a prompt of its own; any other model is
// asked, in its chat template, whether the document meets the query, and scored by its
// "yes" against its "no" logit, as Qwen3-Reranker is used.
import type { LoadedModel } from "../model/load.js";
import type { PoolingType } from "../model/pooling.js";
import type { PoolSpec } from "../scheduler/request.js";
import type { ChatRenderer } from "./chat.js";
import { InputError, MAX_SEQUENCES_PER_REQUEST, type GenerateInput } from "./input.js";
import type { RequestStream } from "./stream.js";
import type { SubmitOptions } from "./options.js";

/** A text to embed: raw text (BOS and the tokenizer's post-processing as the model wants) or token ids. */
export type EmbedInput = string | readonly number[];

export interface EmbedOptions extends SubmitOptions {
  /** Overrides the model's pooling (pooling.ts). */
  readonly pooling?: PoolingType;
  /** Overrides whether vectors are scaled to length 1 (the model's choice; true by default). */
  readonly normalize?: boolean;
  /** Keep the first `dimensions` components (Matryoshka models), then normalize. */
  readonly dimensions?: number;
  /** Take the model as Matryoshka-trained although its config does not say so (vLLM's is_matryoshka override). */
  readonly matryoshka?: boolean;
  readonly cacheSalt?: string;
}

export interface EmbedResult {
  readonly embeddings: Float32Array[];
  readonly promptTokens: number;
  /** Prompt tokens whose K/V came from the cache. */
  readonly cachedTokens: number;
}

export interface RerankOptions extends SubmitOptions {
  /** What relevance means (Qwen3-Reranker's Instruct line); the default is web search's. */
  readonly instruction?: string;
  readonly cacheSalt?: string;
  /** Tokenizes the prompts (a server's, off the event loop); absent: the model's tokenizer, here. */
  readonly encode?: (texts: readonly string[], addSpecial: boolean) => Promise<number[][]>;
}

export interface RerankResult {
  /** One relevance score per document, in the documents' order. */
  readonly scores: number[];
  readonly promptTokens: number;
  readonly cachedTokens: number;
}

/** What embed and rerank need of the engine. */
export interface PoolingHost {
  readonly model: LoadedModel;
  readonly chat: ChatRenderer;
  submit(inputs: readonly GenerateInput[], options?: SubmitOptions): RequestStream;
}

const DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query";
const JUDGE = 'Judge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or "no".';

/** Most texts one embed or rerank call takes: each is a request the scheduler carries. */
export const MAX_POOLING_INPUTS = MAX_SEQUENCES_PER_REQUEST;

interface Pooled {
  readonly outputs: { hidden: Float32Array; logits?: Float32Array }[];
  readonly promptTokens: number;
  readonly cachedTokens: number;
}

async function runPooled(host: PoolingHost, inputs: readonly GenerateInput[], options: SubmitOptions): Promise<Pooled> {
  const stream = host.submit(inputs, options);
  const outputs: { hidden: Float32Array; logits?: Float32Array }[] = new Array(inputs.length);
  let promptTokens = 0;
  let cachedTokens = 0;
  for await (const e of stream.eventsOrThrow()) {
    if (e.type !== "finish") continue;
    if (e.reason !== "stop" || !e.output.pooled) throw new Error(`the request ended without its result (${e.reason})`);
    outputs[e.index] = e.output.pooled;
    promptTokens += e.usage.promptTokens;
    cachedTokens += e.usage.cachedTokens;
  }
  return { outputs, promptTokens, cachedTokens };
}

function checkCount(n: number, param: string): void {
  if (n === 0) throw new InputError(param, `Give at least one ${param === "input" ? "input" : "document"}.`);
  if (n > MAX_POOLING_INPUTS) throw new InputError(param, `At most ${MAX_POOLING_INPUTS} ${param === "input" ? "inputs" : "documents"} per request, got ${n}.`);
}

/** The vectors of `inputs`, pooled as the model (or `options`) says. */
export async function embed(host: PoolingHost, inputs: readonly EmbedInput[], options: EmbedOptions = {}): Promise<EmbedResult> {
  const e = host.model.embedding;
  if (e.problem) throw new InputError("model", `This model cannot embed: ${e.problem}.`, "model_not_supported");
  checkCount(inputs.length, "input");
  const hidden = host.model.config.hiddenSize;
  const dims = options.dimensions;
  if (dims !== undefined) {
    if (!e.matryoshka && options.matryoshka !== true) throw new InputError("dimensions", "This model's config does not say it was trained for Matryoshka truncation, so 'dimensions' cannot be set (a server started with --matryoshka allows it).", "unsupported_parameter");
    if (!Number.isInteger(dims) || dims < 1 || dims > hidden) throw new InputError("dimensions", `'dimensions' must be an integer from 1 to ${hidden}, got ${dims}.`);
  }
  const pool: PoolSpec = { type: options.pooling ?? e.pooling.type };
  const gen = inputs.map((x): GenerateInput => ({
    ...(typeof x === "string" ? { prompt: x } : { inputIds: x }), pool, ...(options.cacheSalt !== undefined ? { cacheSalt: options.cacheSalt } : {}),
  }));
  const r = await runPooled(host, gen, options);
  const normalize = options.normalize ?? e.pooling.normalize;
  const embeddings = r.outputs.map((o) => finish(o.hidden, dims ?? hidden, normalize));
  return { embeddings, promptTokens: r.promptTokens, cachedTokens: r.cachedTokens };
}

/** The first `dims` components, scaled to length 1 when `normalize` (in float64, then rounded once). */
function finish(v: Float32Array, dims: number, normalize: boolean): Float32Array {
  const out = v.slice(0, dims);
  if (!normalize) return out;
  let ss = 0;
  for (let i = 0; i < dims; i++) ss += out[i]! * out[i]!;
  const scale = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let i = 0; i < dims; i++) out[i] = out[i]! * scale;
  return out;
}

/** One token's id, or null when `text` is not exactly one token. */
function singleToken(model: LoadedModel, text: string): number | null {
  const ids = model.tokenizer.encode(text, { addSpecial: false, parseSpecial: false });
  return ids.length === 1 ? ids[0]! : null;
}

/** A reranker prompt, query and instruction first, so that every document's prompt shares them. */
function rerankPrompt(host: PoolingHost, query: string, document: string, instruction: string): string {
  const t = host.model.embedding.rerankTemplate;
  if (t !== null) return t.replaceAll("{query}", query).replaceAll("{document}", document).replaceAll("{instruction}", instruction);
  const user = `<Instruct>: ${instruction}\n<Query>: ${query}\n<Document>: ${document}`;
  // A thinking model answers at once: Qwen3's template writes the empty think block.
  return host.chat.render([{ role: "system", content: JUDGE }, { role: "user", content: user }], undefined, { enable_thinking: false });
}

/** How relevant each document is to the query, from 0 to 1 (a one-label classifier gives its raw logit). */
export async function rerank(host: PoolingHost, query: string, documents: readonly string[], options: RerankOptions = {}): Promise<RerankResult> {
  checkCount(documents.length, "documents");
  const model = host.model;
  const cls = model.embedding.classifier;
  let logitIds: number[] | undefined;
  if (!cls) {
    const yes = singleToken(model, "yes");
    const no = singleToken(model, "no");
    if (yes === null || no === null) throw new InputError("model", "This model cannot rerank: it has no classifier head, and 'yes' and 'no' are not single tokens of its vocabulary.", "model_not_supported");
    if (model.headless) throw new InputError("model", "This model cannot rerank: it has neither a classifier head nor a language-model head.", "model_not_supported");
    logitIds = [yes, no];
  }
  const instruction = options.instruction ?? DEFAULT_INSTRUCTION;
  const pool: PoolSpec = logitIds ? { type: "last", logitIds } : { type: "last" };
  // A chat template writes BOS itself where the model wants one, as for chat prompts.
  const texts = documents.map((d) => rerankPrompt(host, query, d, instruction));
  const addSpecial = model.embedding.rerankTemplate !== null;
  const encode = options.encode ?? ((t: readonly string[], add: boolean): Promise<number[][]> =>
    Promise.resolve(t.map((x) => model.tokenizer.encode(x, { addSpecial: add, parseSpecial: true }))));
  const gen = (await encode(texts, addSpecial)).map((ids): GenerateInput => ({ inputIds: ids, pool, ...(options.cacheSalt !== undefined ? { cacheSalt: options.cacheSalt } : {}) }));
  const r = await runPooled(host, gen, options);
  const scores = r.outputs.map((o) => (cls ? classify(cls.rows, cls.bias, o.hidden) : yesProbability(o.logits!)));
  return { scores, promptTokens: r.promptTokens, cachedTokens: r.cachedTokens };
}

/** P(yes) of the two logits [yes, no]: softmax over the pair. */
function yesProbability(l: Float32Array): number {
  return 1 / (1 + Math.exp(l[1]! - l[0]!));
}

/** A classifier head's score: one label's raw logit, or the first label's softmax probability. */
function classify(rows: readonly Float32Array[], bias: Float32Array | null, h: Float32Array): number {
  const z = rows.map((r, i) => {
    let s = bias ? bias[i]! : 0;
    for (let j = 0; j < h.length; j++) s += r[j]! * h[j]!;
    return s;
  });
  if (z.length === 1) return z[0]!;
  const m = Math.max(...z);
  const sum = z.reduce((a, v) => a + Math.exp(v - m), 0);
  return Math.exp(z[0]! - m) / sum;
}
