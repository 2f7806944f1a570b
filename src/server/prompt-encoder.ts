// How the server turns prompt text into ids without holding up its event loop: a text that
// cannot fit the context is refused by its length before anything else (input.ts
// checkTextFits); a short one is tokenized at once; a long one (64 Ki characters and more,
// some milliseconds and up to seconds of work) on the tokenizer thread, which gives the same
// ids. If that thread fails, the text is tokenized here after all, and the next long one
// starts a new thread.
import { tokenizerSource, type LoadedModel } from "../model/load.js";
import { checkTextFits, ContextLengthError } from "../engine/input.js";
import { EncoderThread, EncoderThreadError, type Encoded, type EncodedJson } from "../tokenizer/encoder-thread.js";
import type { EncodeOptions } from "../tokenizer/tokenizer.js";
import { toApiError, type ParamNames } from "./errors.js";

/** Texts of this many UTF-16 characters and more are tokenized off the event loop. */
export const OFF_THREAD_CHARS = 64 * 1024;

/** A prompt as the route names it: `names.prompt` (default "prompt"), and which of several it is. */
export interface PromptName {
  readonly names: ParamNames;
  readonly part?: number;
}

export class PromptEncoder {
  private thread: EncoderThread | null = null;

  constructor(private readonly model: LoadedModel, private readonly contextLength: number, private readonly warn: (line: string) => void,
    private readonly offThreadChars = OFF_THREAD_CHARS) {}

  /**
   * Throws the 400 (context_length_exceeded) for a prompt text that has too many bytes to fit
   * the context whatever its tokens.
   */
  checkFits(text: string, { names, part }: PromptName): void {
    try {
      checkTextFits(this.model.tokenizer, this.contextLength, text, part);
    } catch (err) {
      throw toApiError(err, names);
    }
  }

  /**
   * The ids of `text`, as model.tokenizer.encode gives them. With `fit` (a prompt, named as
   * in checkFits), a long text that turns out to have too many tokens is the 400; a short
   * one is left to the engine's own check.
   */
  async encode(text: string, options: EncodeOptions, fit?: PromptName): Promise<number[]> {
    if (text.length < this.offThreadChars) return this.model.tokenizer.encode(text, options);
    let r: Encoded;
    try {
      r = await this.encoder().encode(text, options, fit ? this.contextLength : Infinity);
    } catch (err) {
      if (!(err instanceof EncoderThreadError)) throw err;
      this.warn(`radixlm: warning: ${err.message}; tokenizing on the event loop instead`);
      return this.model.tokenizer.encode(text, options);
    }
    if (r.ids) return r.ids;
    throw toApiError(new ContextLengthError(this.contextLength, r.count, null, fit?.part), fit?.names);
  }

  /** The ids of `text` as the UTF-8 bytes of a JSON array (for /tokenize), a long text's made off the event loop. */
  async encodeJson(text: string, options: EncodeOptions): Promise<EncodedJson> {
    const here = (): EncodedJson => {
      const ids = this.model.tokenizer.encode(text, options);
      return { json: Buffer.from(JSON.stringify(ids)), count: ids.length };
    };
    if (text.length < this.offThreadChars) return here();
    try {
      return await this.encoder().encodeJson(text, options);
    } catch (err) {
      if (!(err instanceof EncoderThreadError)) throw err;
      this.warn(`radixlm: warning: ${err.message}; tokenizing on the event loop instead`);
      return here();
    }
  }

  private encoder(): EncoderThread {
    if (!this.thread || this.thread.failed) {
      this.thread = new EncoderThread({ source: tokenizerSource(this.model), vocabSize: this.model.tokenizer.vocabSize });
    }
    return this.thread;
  }

  async close(): Promise<void> {
    await this.thread?.close();
    this.thread = null;
  }
}
