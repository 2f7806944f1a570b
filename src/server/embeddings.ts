// /v1/embeddings (OpenAI's shape) and /v1/rerank (the Jina / Cohere shape llama.cpp and vLLM
// serve): texts are tokenized off the event loop where long, then pooled by the engine
// (engine/embed.ts) through the scheduler and the radix cache like any request.
import type { FastifyInstance } from "fastify";
import { MAX_POOLING_INPUTS } from "../engine/embed.js";
import { MAX_MODEL_LENGTH } from "./schema.js";
import { badRequest, modelNotFound, toApiError } from "./errors.js";
import { arrivalOf, newId } from "./generation.js";
import type { Serving } from "./serving.js";
import { onClientGone } from "./sse.js";

type Schema = Record<string, unknown>;

const MAX_TEXT = { type: "string" };
const ids = { type: "array", items: { type: "integer" } };

const embeddingsSchema: Schema = {
  type: "object",
  required: ["input"],
  properties: {
    model: { type: ["string", "null"], maxLength: MAX_MODEL_LENGTH, description: `a string of at most ${MAX_MODEL_LENGTH} characters` },
    input: {
      description: `a string, a list of at most ${MAX_POOLING_INPUTS} strings, a list of token ids, or a list of such lists`,
      anyOf: [MAX_TEXT, { type: "array", maxItems: MAX_POOLING_INPUTS, items: MAX_TEXT }, ids, { type: "array", maxItems: MAX_POOLING_INPUTS, items: ids }],
    },
    encoding_format: { type: ["string", "null"], enum: ["float", "base64", null], description: "'float' or 'base64'" },
    dimensions: { type: ["integer", "null"], minimum: 1, description: "an integer >= 1" },
    user: { type: ["string", "null"], maxLength: 256, description: "a string of at most 256 characters" },
    normalize: { type: ["boolean", "null"], description: "a boolean" },
    cache_salt: { type: ["string", "null"], description: "a string" },
  },
};

const rerankSchema: Schema = {
  type: "object",
  required: ["query", "documents"],
  properties: {
    model: { type: ["string", "null"], maxLength: MAX_MODEL_LENGTH, description: `a string of at most ${MAX_MODEL_LENGTH} characters` },
    query: { type: "string", description: "a string" },
    documents: {
      type: "array", maxItems: MAX_POOLING_INPUTS, description: `a list of at most ${MAX_POOLING_INPUTS} strings or {"text": ...} objects`,
      items: { anyOf: [MAX_TEXT, { type: "object", required: ["text"], properties: { text: MAX_TEXT } }] },
    },
    top_n: { type: ["integer", "null"], minimum: 1, description: "an integer >= 1" },
    return_documents: { type: ["boolean", "null"], description: "a boolean" },
    instruction: { type: ["string", "null"], maxLength: 4096, description: "a string of at most 4096 characters" },
    cache_salt: { type: ["string", "null"], description: "a string" },
  },
};

interface EmbeddingsBody {
  model?: string | null;
  input: string | string[] | number[] | number[][];
  encoding_format?: "float" | "base64" | null;
  dimensions?: number | null;
  normalize?: boolean | null;
  cache_salt?: string | null;
}

interface RerankBody {
  model?: string | null;
  query: string;
  documents: (string | { text: string })[];
  top_n?: number | null;
  return_documents?: boolean | null;
  instruction?: string | null;
  cache_salt?: string | null;
}

/** The little-endian float32 bytes of a vector, base64 (what OpenAI's encoding_format "base64" gives). */
function base64Of(v: Float32Array): string {
  const le = new Float32Array(v);
  return Buffer.from(le.buffer, le.byteOffset, le.byteLength).toString("base64");
}

/** The inputs as texts or id lists: a flat list of numbers is one id list. */
function inputsOf(input: EmbeddingsBody["input"]): { texts: string[] } | { ids: number[][] } {
  if (typeof input === "string") return { texts: [input] };
  if (input.length === 0) throw badRequest("input", "'input' must not be empty.");
  if (input.every((x) => typeof x === "number")) return { ids: [input as number[]] };
  if (input.every((x) => typeof x === "string")) return { texts: input as string[] };
  if (input.every((x) => Array.isArray(x))) return { ids: input as number[][] };
  throw badRequest("input", "'input' must be a string, a list of strings, a list of token ids, or a list of such lists.");
}

export function registerEmbeddings(app: FastifyInstance, serving: () => Serving, strictModel: boolean, matryoshka: boolean): void {
  const checkModel = (s: Serving, model: string | null | undefined): void => {
    if (strictModel && model != null && model !== s.name && model !== s.model.path) throw modelNotFound(model);
  };

  app.post("/v1/embeddings", { schema: { body: embeddingsSchema } }, async (req, reply) => {
    arrivalOf(reply);
    const s = serving();
    const b = req.body as EmbeddingsBody;
    checkModel(s, b.model);
    const given = inputsOf(b.input);
    const names = { prompt: "input", inputIds: "input" };
    let inputs: number[][];
    if ("texts" in given) {
      if (given.texts.some((t) => t === "")) throw badRequest("input", "'input' must not hold empty strings.");
      inputs = await s.promptIds(given.texts, names);
    } else {
      given.ids.forEach((x, i) => s.checkIds(x, given.ids.length > 1 ? `input[${i}]` : "input"));
      if (given.ids.some((x) => x.length === 0)) throw badRequest("input", "'input' must not hold empty token lists.");
      inputs = given.ids;
    }
    const abort = new AbortController();
    onClientGone(reply, () => abort.abort());
    try {
      const r = await s.engine.embed(inputs, {
        signal: abort.signal,
        ...(b.dimensions != null ? { dimensions: b.dimensions } : {}),
        ...(matryoshka ? { matryoshka: true } : {}),
        ...(b.normalize != null ? { normalize: b.normalize } : {}),
        ...(b.cache_salt != null ? { cacheSalt: b.cache_salt } : {}),
      });
      const base64 = b.encoding_format === "base64";
      return {
        object: "list",
        data: r.embeddings.map((v, index) => ({ object: "embedding", index, embedding: base64 ? base64Of(v) : Array.from(v) })),
        model: s.name,
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens, prompt_tokens_details: { cached_tokens: r.cachedTokens } },
      };
    } catch (err) {
      throw toApiError(err, names);
    }
  });

  const rerank = async (body: unknown, reply: Parameters<typeof onClientGone>[0]): Promise<Record<string, unknown>> => {
    arrivalOf(reply);
    const s = serving();
    const b = body as RerankBody;
    checkModel(s, b.model);
    const docs = b.documents.map((d) => (typeof d === "string" ? d : d.text));
    const abort = new AbortController();
    onClientGone(reply, () => abort.abort());
    const names = { prompt: "documents" };
    try {
      const r = await s.engine.rerank(b.query, docs, {
        signal: abort.signal,
        encode: (texts, addSpecial) => s.encodeTexts(texts, { addSpecial, parseSpecial: true }, names),
        ...(b.instruction != null ? { instruction: b.instruction } : {}),
        ...(b.cache_salt != null ? { cacheSalt: b.cache_salt } : {}),
      });
      const withDocs = b.return_documents !== false;
      const results = r.scores.map((score, index) => ({ index, relevance_score: score, ...(withDocs ? { document: { text: docs[index]! } } : {}) }))
        .sort((x, y) => y.relevance_score - x.relevance_score || x.index - y.index)
        .slice(0, b.top_n ?? docs.length);
      return { id: newId("rerank-"), model: s.name, results, usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens } };
    } catch (err) {
      throw toApiError(err, names);
    }
  };
  app.post("/v1/rerank", { schema: { body: rerankSchema } }, async (req, reply) => rerank(req.body, reply));
  app.post("/rerank", { schema: { body: rerankSchema } }, async (req, reply) => rerank(req.body, reply));
}
