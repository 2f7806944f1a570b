// What a caller submits to the engine, and its one check. Everything a request asks for is
// validated here, at the engine boundary, before anything is queued: the prompt, the
// sampling parameters, n, and the limits (context length, max tokens). Nothing downstream
// checks again. A bad input throws InputError or SamplingParamError, each naming the
// parameter, which a server turns into a 400.
import type { LoadedModel } from "../model/load.js";
import type { GenerationDefaults } from "../model/generation-defaults.js";
import { ChatTemplateError, type ChatMessage, type ToolSpec } from "../tokenizer/chat-template.js";
import { messagesProblem, toolsProblem, type ChatRenderer } from "./chat.js";
import type { Grammar, GrammarSpec } from "../structured/grammar.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { PoolSpec } from "../scheduler/request.js";
import { checkSamplingParams, DEFAULT_SAMPLING, SamplingParamError, type SamplingParams } from "../sampling/params.js";

/** Longest cache salt, in characters: each distinct salt is kept as a cache namespace while it holds entries. */
export const MAX_CACHE_SALT_LENGTH = 256;
/**
 * Most sequences (prompts × n) one submission may start, whatever the queue allows: each is a
 * request the scheduler carries, so one HTTP request must not become tens of thousands.
 */
export const MAX_SEQUENCES_PER_REQUEST = 1024;

export interface GenerateInput {
  /** Raw prompt text (BOS added as the model wants, special tokens parsed). */
  readonly prompt?: string;
  /** Or the prompt as token ids. */
  readonly inputIds?: readonly number[];
  /**
   * Or a chat conversation (OpenAI-shaped), rendered by the model's chat template with the
   * generation prompt, exactly as the server's /v1/chat/completions renders it.
   */
  readonly messages?: readonly ChatMessage[];
  /** With messages: tool definitions the template shows the model (OpenAI `tools`). */
  readonly tools?: readonly ToolSpec[];
  /** With messages: further template variables (`enable_thinking`, ...), as the server's `chat_template_kwargs`. */
  readonly chatTemplateKwargs?: Readonly<Record<string, unknown>>;
  /**
   * Sampling parameters; without maxNewTokens, `defaultMaxNewTokens`. A field left out takes
   * the model's default (its generation_config.json or general.sampling.* keys) unless the
   * engine was made with generationConfig "none", then radixlm's (greedy, no cuts).
   */
  readonly params?: Partial<SamplingParams>;
  /**
   * max_new_tokens when params leave it out (default 128), cut to what the context leaves;
   * Infinity: all of it.
   */
  readonly defaultMaxNewTokens?: number;
  /** Parallel samples sharing the prompt's KV (OpenAI `n`). */
  readonly n?: number;
  /** Cache namespace: requests with different salts never share KV. */
  readonly cacheSalt?: string;
  /** The id to abort the request by (unique among requests in flight); one is made up when absent. */
  readonly requestId?: string;
  /**
   * Also return the logprob of every prompt token from this position on (at least 1: the
   * first token has nothing before it), as SGLang's logprob_start_len. The cache then
   * serves at most the tokens before start - 1, since the logits of the rows from there on
   * must be computed.
   */
  readonly promptLogprobsStart?: number;
  /**
   * Constrains every sample's output: a grammar compiled with Engine.compileGrammar, or a
   * spec, which the engine compiles while the request waits outside every batch.
   */
  readonly grammar?: Grammar | GrammarSpec;
  /**
   * With a grammar: it starts once the output has ended with these token ids (a reasoning
   * model's </think>); the tokens before are not constrained. Empty or absent: from the first.
   */
  readonly grammarAfter?: readonly number[];
  /** With a grammar: append forced text without a model call per token (default: the engine's setting). */
  readonly jumpForward?: boolean;
  /**
   * An embedding or scoring request: the prompt's final hidden states are pooled (and the
   * last row's logits at `logitIds` kept) instead of sampling; one sample, no output tokens.
   * Engine.embed and Engine.rerank make these.
   */
  readonly pool?: PoolSpec;
  /**
   * The output expected, or most of it (OpenAI's predicted outputs: a file being rewritten):
   * text or token ids that speculative decoding drafts from first. It changes no token of
   * the output, only how fast it comes. At most the context length in tokens.
   */
  readonly prediction?: string | readonly number[];
}

/** A bad input other than a sampling parameter. `part`: which input of a submission, when it had several. */
export class InputError extends Error {
  override name = "InputError";
  constructor(readonly param: string, message: string, readonly code = "invalid_value", readonly part?: number) {
    super(message);
  }
}

/**
 * The prompt, or the prompt and max_new_tokens, do not fit the context. `atLeast`: the prompt
 * was refused by its length in bytes before it was tokenized (checkTextFits), and
 * `promptTokens` is the fewest tokens it can have.
 */
export class ContextLengthError extends InputError {
  override name = "ContextLengthError";
  constructor(readonly limit: number, readonly promptTokens: number, readonly maxNewTokens: number | null, part?: number, readonly atLeast = false) {
    super(maxNewTokens === null ? "prompt" : "max_new_tokens",
      maxNewTokens === null
        ? `prompt (${atLeast ? "at least " : ""}${promptTokens} tokens) leaves no room for output below the limit of ${limit} tokens`
        : `prompt (${promptTokens} tokens) + max tokens (${maxNewTokens}) exceeds the limit of ${limit} tokens`,
      "context_length_exceeded", part);
  }
}

/**
 * Refuses, before tokenizing it, a text that cannot fit: every token stands for at most
 * tokenizer.maxTextBytesPerToken() bytes, so a text of B bytes has at least B / that many
 * tokens; from `limit` on it leaves no room for output. Costs one pass over the text's UTF-16
 * units, where tokenizing a long text costs seconds.
 */
export function checkTextFits(tokenizer: Tokenizer, limit: number, text: string, part?: number): void {
  const most = tokenizer.maxTextBytesPerToken();
  // Cheap first: no string has more UTF-8 bytes than 3 per UTF-16 unit.
  if (!Number.isFinite(most) || text.length * 3 <= (limit - 1) * most) return;
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > (limit - 1) * most) throw new ContextLengthError(limit, Math.ceil(bytes / most), null, part, true);
}

export interface ResolvedInput {
  readonly ids: number[];
  readonly params: SamplingParams;
  readonly n: number;
  readonly salt: string;
  /** Position of the first prompt token to return a logprob for; -1 for none. */
  readonly promptLogprobsStart: number;
  readonly grammar: Grammar | GrammarSpec | undefined;
  readonly grammarAfter: readonly number[];
  readonly jumpForward: boolean | undefined;
  readonly pool: PoolSpec | undefined;
  /** Token ids of the expected output (speculative decoding's first draft source); empty for none. */
  readonly prediction: readonly number[];
}

/** What an input is checked and completed against: the engine's limits, defaults and chat template. */
export interface InputContext {
  /** Most tokens of prompt + output one request may hold. */
  readonly contextLength: number;
  /** Sampling fields a request gets when its params leave them out. */
  readonly generationDefaults: GenerationDefaults;
  /** Renders `messages` inputs. */
  readonly chat: ChatRenderer;
}

/** The fields that are set: an explicit undefined must not hide a default. */
function setFields<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (o) for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

// Every field an input and its params may have: a JavaScript caller's misspelt field
// (`sampling` for `params`, `max_tokens` for `maxNewTokens`) is an error, not a silent default.
const INPUT_FIELDS = {
  prompt: true, inputIds: true, messages: true, tools: true, chatTemplateKwargs: true, params: true, defaultMaxNewTokens: true,
  n: true, cacheSalt: true, requestId: true, promptLogprobsStart: true, grammar: true, grammarAfter: true, jumpForward: true, pool: true, prediction: true,
} satisfies Record<keyof GenerateInput, true>;
const PARAM_FIELDS = {
  temperature: true, topK: true, topP: true, minP: true, repetitionPenalty: true, frequencyPenalty: true, presencePenalty: true,
  logitBias: true, seed: true, stop: true, stopTokenIds: true, maxNewTokens: true, minNewTokens: true, ignoreEos: true,
  logprobs: true, topLogprobs: true, logprobsMode: true, n: true,
} satisfies Record<keyof SamplingParams, true>;

function unknownField(o: object, known: object): string | undefined {
  return Object.keys(o).find((k) => !Object.hasOwn(known, k));
}

/** Checks one input and fills in its defaults; throws InputError or SamplingParamError. */
export function resolveInput(model: LoadedModel, limits: InputContext, input: GenerateInput, part?: number): ResolvedInput {
  const fail = (param: string, message: string, code?: string): never => {
    throw new InputError(param, message, code, part);
  };
  if (typeof input !== "object" || input === null) fail("input", "An input must be an object.");
  const stray = unknownField(input, INPUT_FIELDS);
  if (stray !== undefined) fail(stray, `Unknown input field '${stray}' (known: ${Object.keys(INPUT_FIELDS).join(", ")}).`, "unknown_parameter");
  if (input.params !== undefined) {
    if (typeof input.params !== "object" || input.params === null) fail("params", "params must be an object.");
    const p = unknownField(input.params, PARAM_FIELDS);
    if (p !== undefined) fail(`params.${p}`, `Unknown sampling parameter '${p}' (known: ${Object.keys(PARAM_FIELDS).join(", ")}).`, "unknown_parameter");
  }
  const given = [input.prompt, input.inputIds, input.messages].filter((x) => x !== undefined).length;
  if (given !== 1) fail("prompt", "Give exactly one of prompt, inputIds and messages.");
  if (input.prompt !== undefined && typeof input.prompt !== "string") fail("prompt", "The prompt must be a string.");
  if (input.messages === undefined && (input.tools !== undefined || input.chatTemplateKwargs !== undefined)) {
    fail(input.tools !== undefined ? "tools" : "chat_template_kwargs", "tools and chatTemplateKwargs go with messages.");
  }
  const chatText = input.messages !== undefined ? renderMessages(limits.chat, input, fail) : undefined;
  // The cheap checks before the prompt is tokenized.
  const salt = input.cacheSalt ?? "";
  if (typeof salt !== "string") fail("cache_salt", "The cache salt must be a string.");
  if (salt.length > MAX_CACHE_SALT_LENGTH) fail("cache_salt", `The cache salt must be at most ${MAX_CACHE_SALT_LENGTH} characters long, got ${salt.length}.`);
  const text = input.prompt ?? chatText;
  if (text !== undefined) checkTextFits(model.tokenizer, limits.contextLength, text, part);
  // Ids that cannot fit are refused before they are copied and checked one by one (millions, from a big body).
  if (input.inputIds && input.inputIds.length >= limits.contextLength) throw new ContextLengthError(limits.contextLength, input.inputIds.length, null, part);
  // A rendered conversation has its BOS from the template, as HF's apply_chat_template does.
  const ids = input.inputIds
    ? [...input.inputIds]
    : model.tokenizer.encode(text!, { addSpecial: chatText === undefined, parseSpecial: true });
  if (ids.length === 0) fail("prompt", "The prompt is empty (no tokens).");
  const vocab = model.config.vocabSize;
  for (const t of ids) {
    if (!Number.isInteger(t) || t < 0 || t >= vocab) fail("prompt", `The prompt has token id ${t}, outside the vocabulary (size ${vocab}).`);
  }
  const limit = limits.contextLength;
  if (ids.length >= limit) throw new ContextLengthError(limit, ids.length, null, part);
  const room = limit - ids.length;
  if (input.pool !== undefined) return { ...poolInput(input, ids, vocab, fail), salt };
  if (model.headless) fail("model", "This model has no language-model head (an embedding model): it serves embeddings, not generation.");
  const asked = input.params?.maxNewTokens;
  const maxNewTokens = asked ?? Math.min(input.defaultMaxNewTokens ?? DEFAULT_SAMPLING.maxNewTokens, room);
  const n = input.n ?? 1;
  const params: SamplingParams = { ...DEFAULT_SAMPLING, ...limits.generationDefaults, ...setFields(input.params), maxNewTokens, n };
  try {
    checkSamplingParams(params, vocab);
  } catch (err) {
    if (err instanceof SamplingParamError && part !== undefined) throw new InputError(err.param, err.message, "invalid_value", part);
    throw err;
  }
  if (maxNewTokens > room) throw new ContextLengthError(limit, ids.length, maxNewTokens, part);
  let start = -1;
  if (input.promptLogprobsStart !== undefined) {
    start = input.promptLogprobsStart;
    if (!Number.isInteger(start) || start < 1) fail("prompt_logprobs_start", `promptLogprobsStart must be an integer of at least 1, got ${start}.`);
    start = Math.min(start, ids.length);
  }
  return {
    ids, params, n, salt, promptLogprobsStart: start, grammar: input.grammar, grammarAfter: grammarAfterOf(input, vocab, fail), jumpForward: input.jumpForward, pool: undefined,
    prediction: predictionOf(input, model, limit, fail),
  };
}

const POOL_TYPES: ReadonlySet<string> = new Set(["last", "mean", "cls"]);

/** A pooling input: one sample, nothing generated, no grammar or prompt logprobs. */
function poolInput(input: GenerateInput, ids: number[], vocab: number, fail: (param: string, message: string) => never): Omit<ResolvedInput, "salt"> {
  const pool = input.pool!;
  if (typeof pool !== "object" || pool === null || !POOL_TYPES.has(pool.type)) fail("pool", "pool.type must be one of last, mean and cls.");
  const ids2 = pool.logitIds ?? [];
  if (!Array.isArray(ids2) || ids2.length > 16) fail("pool", "pool.logitIds must list at most 16 token ids.");
  for (const t of ids2) if (!Number.isInteger(t) || t < 0 || t >= vocab) fail("pool", `pool.logitIds has token id ${t}, outside the vocabulary (size ${vocab}).`);
  if ((input.n ?? 1) !== 1 || input.grammar !== undefined || input.promptLogprobsStart !== undefined) fail("pool", "A pooling input takes no n, grammar or promptLogprobsStart.");
  const params: SamplingParams = { ...DEFAULT_SAMPLING, maxNewTokens: 0, n: 1 };
  const spec: PoolSpec = pool.logitIds !== undefined ? { type: pool.type, logitIds: [...pool.logitIds] } : { type: pool.type };
  return { ids, params, n: 1, promptLogprobsStart: -1, grammar: undefined, grammarAfter: [], jumpForward: undefined, pool: spec, prediction: [] };
}

/** Most tokens grammarAfter may list (a tag such as </think> is a few at most). */
const MAX_GRAMMAR_AFTER = 16;

/** The prediction's token ids: text is encoded as plain text (no special tokens); at most `limit` of them. */
function predictionOf(input: GenerateInput, model: LoadedModel, limit: number, fail: (param: string, message: string) => never): readonly number[] {
  const p = input.prediction;
  if (p === undefined) return [];
  if (typeof p === "string") {
    // Checked by size first: a prediction far past the context is not tokenized.
    if (p.length > limit * 64) fail("prediction", `The prediction must be at most ${limit} tokens long (the context length).`);
    const ids = model.tokenizer.encode(p, { addSpecial: false, parseSpecial: false });
    if (ids.length > limit) fail("prediction", `The prediction must be at most ${limit} tokens long (the context length), got ${ids.length}.`);
    return ids;
  }
  if (!Array.isArray(p) || p.length > limit) fail("prediction", `The prediction must be text or at most ${limit} token ids (the context length).`);
  const vocab = model.config.vocabSize;
  for (const t of p) if (!Number.isInteger(t) || t < 0 || t >= vocab) fail("prediction", `The prediction has token id ${t}, outside the vocabulary (size ${vocab}).`);
  return [...p];
}

function grammarAfterOf(input: GenerateInput, vocab: number, fail: (param: string, message: string) => never): readonly number[] {
  const after = input.grammarAfter ?? [];
  if (!Array.isArray(after) || after.length > MAX_GRAMMAR_AFTER) fail("grammar_after", `grammarAfter must list at most ${MAX_GRAMMAR_AFTER} token ids.`);
  for (const t of after) {
    if (!Number.isInteger(t) || t < 0 || t >= vocab) fail("grammar_after", `grammarAfter has token id ${t}, outside the vocabulary (size ${vocab}).`);
  }
  return [...after];
}

/** The prompt text of a `messages` input; bad messages, tools or kwargs, or a conversation the template rejects, fail naming them. */
function renderMessages(chat: ChatRenderer, input: GenerateInput, fail: (param: string, message: string) => never): string {
  const problem = messagesProblem(input.messages);
  if (problem) fail("messages", `${problem}.`);
  if (input.tools !== undefined) {
    const bad = toolsProblem(input.tools);
    if (bad) fail("tools", `${bad}.`);
  }
  const kwargs = input.chatTemplateKwargs;
  if (kwargs !== undefined && (typeof kwargs !== "object" || kwargs === null || Array.isArray(kwargs))) fail("chat_template_kwargs", "chatTemplateKwargs must be an object.");
  try {
    return chat.render(input.messages!, input.tools, kwargs);
  } catch (err) {
    if (err instanceof ChatTemplateError) fail("messages", `The chat template rejected the messages: ${err.message}`);
    throw err;
  }
}

/**
 * Checks how many sequences (prompts × n) a submission starts: at most
 * MAX_SEQUENCES_PER_REQUEST, and at most what the queue ever holds (`maxQueued`).
 */
export function checkSequenceCount(total: number, maxQueued: number): void {
  const max = Math.min(MAX_SEQUENCES_PER_REQUEST, maxQueued);
  if (total <= max) return;
  const why = maxQueued < MAX_SEQUENCES_PER_REQUEST ? `more than the server ever queues (${maxQueued})` : `more than one request may have (${MAX_SEQUENCES_PER_REQUEST})`;
  throw new InputError("n", `This request needs ${total} sequences (prompts × n), ${why}.`);
}
