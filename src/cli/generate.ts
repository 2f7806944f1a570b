// radixlm generate: stream a completion of a prompt (or a chat turn) to stdout.
import type { Command } from "commander";
import { loadModel } from "../model/load.js";
import { defaultThreads } from "../kernels/native.js";
import { isBackendName, selectBackend } from "../kernels/select.js";
import type { ChatMessage } from "../tokenizer/chat-template.js";
import { Engine } from "../engine/engine.js";
import { ChatRenderer } from "../engine/chat.js";
import { checkSamplingParams, DEFAULT_SAMPLING, type SamplingParams } from "../sampling/params.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";
import type { LoadedModel } from "../model/load.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";
import { SPECULATIVE_HELP, SPECULATIVE_MAX_DRAFT_HELP, speculativeOptions } from "./engine-flags.js";
import { DEFAULT_MAX_DRAFT } from "../speculative/speculator.js";

interface GenerateOptions {
  model?: string;
  prompt?: string;
  chat?: string;
  system?: string;
  maxTokens: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  generationConfig: string;
  seed?: string;
  kvDtype: string;
  backend: string;
  threads?: string;
  stats?: boolean;
  speculative: string;
  speculativeMaxDraft: string;
}

export function promptIds(model: LoadedModel, o: { prompt?: string; chat?: string; system?: string }): number[] {
  const tok = model.tokenizer;
  if (o.chat === undefined) return tok.encode(o.prompt ?? "", { addSpecial: true, parseSpecial: false });
  const messages: ChatMessage[] = [];
  if (o.system !== undefined) messages.push({ role: "system", content: o.system });
  messages.push({ role: "user", content: o.chat });
  const text = new ChatRenderer(model).render(messages);
  // The template writes BOS itself where the model wants one, as HF's apply_chat_template does.
  return tok.encode(text, { addSpecial: false, parseSpecial: true });
}

async function run(o: GenerateOptions): Promise<void> {
  if ((o.prompt === undefined) === (o.chat === undefined)) throw new UsageError("give exactly one of --prompt and --chat");
  if (o.system !== undefined && o.chat === undefined) throw new UsageError("--system goes with --chat");
  if (o.kvDtype !== "f16" && o.kvDtype !== "f32") throw new UsageError(`--kv-dtype must be f16 or f32, got "${o.kvDtype}"`);
  if (!isBackendName(o.backend)) throw new UsageError(`--backend must be auto, native or reference, got "${o.backend}"`);
  const threads = o.threads === undefined ? defaultThreads() : parseIntArg("--threads", o.threads, 1);
  if (o.generationConfig !== "auto" && o.generationConfig !== "none") throw new UsageError(`--generation-config must be auto or none, got "${o.generationConfig}"`);
  const speculative = speculativeOptions(o.speculative, o.speculativeMaxDraft);
  // Only the flags given: the engine fills the rest from the model's defaults (or radixlm's).
  const params: Partial<SamplingParams> & { maxNewTokens: number } = {
    ...(o.temperature === undefined ? {} : { temperature: parseFloatArg("--temperature", o.temperature) }),
    ...(o.topK === undefined ? {} : { topK: parseIntArg("--top-k", o.topK) }),
    ...(o.topP === undefined ? {} : { topP: parseFloatArg("--top-p", o.topP) }),
    ...(o.seed === undefined ? {} : { seed: parseIntArg("--seed", o.seed) }),
    maxNewTokens: parseIntArg("--max-tokens", o.maxTokens),
  };
  checkSamplingParams({ ...DEFAULT_SAMPLING, ...params });
  const model = await loadModel(await modelPath(o.model));
  try {
    const ids = promptIds(model, o);
    if (ids.length + params.maxNewTokens > model.config.maxPositionEmbeddings) {
      throw new UsageError(`prompt (${ids.length} tokens) + max tokens (${params.maxNewTokens}) exceeds the context length ${model.config.maxPositionEmbeddings}`);
    }
    const engine = await Engine.create({
      // Room for a step's drafted rows past the output's end.
      model, backend: selectBackend(o.backend, threads), maxTotalTokens: ids.length + params.maxNewTokens + speculative.speculativeMaxDraft, kvCacheDtype: o.kvDtype,
      generationConfig: o.generationConfig, ...speculative,
    });
    const t0 = performance.now();
    let first = 0;
    let generated = 0;
    let reason = "";
    for await (const ev of engine.generate({ inputIds: ids, params })) {
      if (ev.type === "token") {
        if (first === 0) first = performance.now();
        generated++;
      } else {
        reason = ev.reason;
      }
      process.stdout.write(ev.text);
    }
    process.stdout.write("\n");
    if (o.stats) {
      const t1 = performance.now();
      const decode = generated > 1 ? ((generated - 1) * 1000) / (t1 - first) : 0;
      const st = engine.stats();
      const spec = st.specVerifySteps > 0 ? `, ${st.specAcceptedTokens} of ${st.specDraftTokens} drafted tokens accepted` : "";
      process.stderr.write(`radixlm: ${ids.length} prompt tokens, ${generated} generated (${reason}), prefill ${((first || t1) - t0).toFixed(0)} ms, decode ${decode.toFixed(2)} tok/s${spec}\n`);
    }
    await engine.close();
  } finally {
    model.close();
  }
}

export function register(program: Command): void {
  program
    .command("generate")
    .description("stream a completion of --prompt, or of a chat turn with --chat, to stdout")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`)
    .option("--prompt <text>", "raw prompt text (BOS added as the model wants)")
    .option("--chat <text>", "a user message, rendered through the model's chat template")
    .option("--system <text>", "a system message for --chat")
    .option("--max-tokens <n>", "tokens to generate at most", "128")
    .option("--temperature <t>", "0 is greedy (default: the model's, else 0)")
    .option("--top-k <k>", "keep the k most likely tokens, 0: all (default: the model's, else 0)")
    .option("--top-p <p>", "nucleus sampling mass (default: the model's, else 1)")
    .option("--generation-config <mode>", "auto: flags not given take the model's sampling defaults; none: radixlm's", "auto")
    .option("--seed <s>", "random seed for sampling")
    .option("--kv-dtype <type>", "KV cache storage: f16 or f32", "f16")
    .option("--backend <name>", "auto (native when the addon loads), native or reference", "auto")
    .option("--threads <n>", "compute threads (default: the number of cores)")
    .option("--stats", "print token counts and speed to stderr")
    .option("--speculative <mode>", SPECULATIVE_HELP, "ngram")
    .option("--speculative-max-draft <n>", SPECULATIVE_MAX_DRAFT_HELP, String(DEFAULT_MAX_DRAFT))
    .action(run);
}
