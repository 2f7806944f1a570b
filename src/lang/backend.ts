// The one interface a program runs against. A backend takes prompt text (never ids), so
// that every backend tokenizes the same text the same way and a program gives the same
// result in-process and over HTTP; what the language needs from the model (its chat
// template, whether its tokenizer writes BOS) it asks for once, through modelFacts().

/** Sampling options of one gen, with the language's defaults already applied. */
export interface GenParams {
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  readonly repetitionPenalty?: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
  readonly stopTokenIds?: readonly number[];
  readonly ignoreEos?: boolean;
  /** The output must match this regular expression (structured generation). */
  readonly regex?: string;
  /** The output must be JSON valid under this schema (an object or its JSON text). */
  readonly jsonSchema?: string | Readonly<Record<string, unknown>>;
}

export interface GenRequest {
  /** The whole prompt as text; the backend tokenizes it as a raw prompt (BOS as the model wants, special tokens parsed). */
  readonly text: string;
  readonly params: GenParams;
  readonly requestId: string;
}

/** Token counts of one backend request; `cachedTokens` of the prompt came from the prefix cache. */
export interface RequestUsage {
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
}

export type FinishReason = "stop" | "length" | "abort";

export type GenEvent =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "finish"; readonly reason: FinishReason; readonly usage: RequestUsage };

/** The model's log-probability of one continuation after a prefix. */
export interface ContinuationScore {
  /** Sum of the log-probabilities of the continuation's tokens. */
  readonly logprob: number;
  /** Number of tokens scored. */
  readonly tokens: number;
  readonly usage: RequestUsage;
}

/** What the language needs to know about the model behind a backend. */
export interface ModelFacts {
  /** Jinja source of the chat template, or null when the backend cannot tell it (role helpers then fail clearly). */
  readonly chatTemplate: string | null;
  /** Why chatTemplate is null, for the error message. */
  readonly chatTemplateMissing?: string;
  /** Texts of the BOS and first EOS token, which templates see as bos_token / eos_token. */
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Whether tokenizing a raw prompt puts BOS first (then a template's own BOS text is dropped). */
  readonly addsBos: boolean;
}

export interface LangBackend {
  /** Names the backend in error messages. */
  readonly name: string;
  modelFacts(signal?: AbortSignal): Promise<ModelFacts>;
  /** Streams the text of one generation; throws LangError when it fails. */
  generate(req: GenRequest, signal: AbortSignal): AsyncIterable<GenEvent>;
  /** Computes the prompt's KV so that requests extending it hit the cache (SGLang's fork warm-up). */
  cachePrefix(text: string, requestId: string, signal: AbortSignal): Promise<RequestUsage>;
  /** The model's log-probability of each option right after the prefix. */
  scoreContinuations(prefix: string, options: readonly string[], requestId: string, signal: AbortSignal): Promise<ContinuationScore[]>;
}

/** A failure inside a program: a gen or select that failed, an abort, a backend that went away. */
export class LangError extends Error {
  override name = "LangError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
