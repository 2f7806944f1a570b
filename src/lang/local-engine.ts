// The in-process backend: programs talk to an Engine directly, with the engine's own
// tokenizer turning the prompt text into ids (exactly as the server's /generate does).
import type { Engine } from "../engine/engine.js";
import type { GenerateInput } from "../engine/input.js";
import type { EngineEvent, GenerateResult, Usage } from "../engine/stream.js";
import type { GrammarSpec } from "../structured/grammar.js";
import { continuationStart, sumLogprobs } from "./scoring.js";
import type { SamplingParams } from "../sampling/params.js";
import { errorText, LangError, type ContinuationScore, type GenEvent, type GenParams, type GenRequest, type LangBackend, type ModelFacts, type RequestUsage } from "./backend.js";

function usageOf(u: Usage): RequestUsage {
  return { promptTokens: u.promptTokens, cachedTokens: u.cachedTokens, completionTokens: u.completionTokens };
}

function samplingOf(p: GenParams): Partial<SamplingParams> {
  const out: { -readonly [K in keyof SamplingParams]?: SamplingParams[K] } = { maxNewTokens: p.maxTokens, temperature: p.temperature };
  if (p.topP !== undefined) out.topP = p.topP;
  if (p.topK !== undefined) out.topK = p.topK;
  if (p.minP !== undefined) out.minP = p.minP;
  if (p.frequencyPenalty !== undefined) out.frequencyPenalty = p.frequencyPenalty;
  if (p.presencePenalty !== undefined) out.presencePenalty = p.presencePenalty;
  if (p.repetitionPenalty !== undefined) out.repetitionPenalty = p.repetitionPenalty;
  if (p.seed !== undefined) out.seed = p.seed;
  if (p.stop !== undefined) out.stop = p.stop;
  if (p.stopTokenIds !== undefined) out.stopTokenIds = p.stopTokenIds;
  if (p.ignoreEos !== undefined) out.ignoreEos = p.ignoreEos;
  return out;
}

function grammarSpec(p: GenParams): GrammarSpec | null {
  if (p.regex !== undefined && p.jsonSchema !== undefined) throw new LangError("give regex or jsonSchema, not both");
  if (p.regex !== undefined) return { kind: "regex", pattern: p.regex };
  if (p.jsonSchema !== undefined) return { kind: "json_schema", schema: p.jsonSchema };
  return null;
}

class LocalEngineBackend implements LangBackend {
  readonly name = "local engine";

  constructor(private readonly engine: Engine) {}

  async modelFacts(): Promise<ModelFacts> {
    const m = this.engine.model;
    const tok = m.tokenizer;
    const text = (id: number | null | undefined): string | undefined => (id === null || id === undefined ? undefined : tok.idToToken(id));
    return {
      chatTemplate: m.chatTemplate,
      bosToken: text(m.config.bosTokenId),
      eosToken: text(m.config.eosTokenIds[0]),
      addsBos: tok.addBos,
    };
  }

  private async input(req: GenRequest): Promise<GenerateInput> {
    const p = req.params;
    const input: GenerateInput = { prompt: req.text, params: samplingOf(p), requestId: req.requestId };
    const spec = grammarSpec(p);
    if (!spec) return input;
    try {
      return { ...input, grammar: await this.engine.compileGrammar(spec) };
    } catch (err) {
      throw new LangError(`bad ${spec.kind === "regex" ? "regex" : "jsonSchema"}: ${errorText(err)}`, { cause: err });
    }
  }

  async *generate(req: GenRequest, signal: AbortSignal): AsyncIterable<GenEvent> {
    const input = await this.input(req);
    let events: AsyncIterable<EngineEvent>;
    try {
      events = this.engine.generate(input, { signal });
    } catch (err) {
      throw new LangError(`the engine refused the request: ${errorText(err)}`, { cause: err });
    }
    try {
      for await (const e of events) {
        if (e.text !== "") yield { type: "text", text: e.text };
        if (e.type !== "finish") continue;
        if (e.reason === "error") throw e.output.error ?? new Error("the request failed");
        yield { type: "finish", reason: e.reason, usage: usageOf(e.usage) };
      }
    } catch (err) {
      throw new LangError(`the engine failed: ${errorText(err)}`, { cause: err });
    }
  }

  async cachePrefix(text: string, requestId: string, signal: AbortSignal): Promise<RequestUsage> {
    try {
      const r = await this.engine.complete({ prompt: text, params: { maxNewTokens: 1, temperature: 0 }, requestId }, { signal });
      return usageOf(r.usage);
    } catch (err) {
      throw new LangError(`the engine failed: ${errorText(err)}`, { cause: err });
    }
  }

  async scoreContinuations(prefix: string, options: readonly string[], requestId: string, signal: AbortSignal): Promise<ContinuationScore[]> {
    const tok = this.engine.model.tokenizer;
    const encode = (text: string): number[] => tok.encode(text, { addSpecial: true, parseSpecial: true });
    const prefixIds = encode(prefix);
    // One request per option, all at once: the prefix is computed once and hit by the rest.
    return Promise.all(options.map(async (option, i) => {
      const ids = encode(prefix + option);
      const start = continuationStart(prefixIds, ids);
      let r: GenerateResult;
      try {
        r = await this.engine.complete(
          { inputIds: ids, params: { maxNewTokens: 1, temperature: 0 }, promptLogprobsStart: start, requestId: `${requestId}-${i}` }, { signal });
      } catch (err) {
        throw new LangError(`the engine failed: ${errorText(err)}`, { cause: err });
      }
      if (r.samples[0]?.finishReason === "abort" || !r.promptLogprobs) throw new LangError("the request was aborted");
      const lps = r.promptLogprobs.logprobs;
      return { logprob: sumLogprobs(lps), tokens: lps.length, usage: usageOf(r.usage) };
    }));
  }
}

/** A backend over an Engine in this process. The engine stays the caller's to close. */
export function localEngine(engine: Engine): LangBackend {
  return new LocalEngineBackend(engine);
}
