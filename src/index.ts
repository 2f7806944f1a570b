// The package's public API.
export { Engine, QueueFullError, type EngineOptions, type EngineStats, type SubmitOptions } from "./engine/engine.js";
export { ContextLengthError, InputError, type GenerateInput } from "./engine/input.js";
export type { EngineEvent, GenerateResult, PromptLogprobs, SampleOutput, TokenLogprob, Usage, FinishReason } from "./engine/stream.js";
export { RequestStream } from "./engine/stream.js";
export { RequestError } from "./scheduler/request.js";
export { loadModel, type LoadedModel } from "./model/load.js";
export type { ModelConfig } from "./model/config.js";
export { referenceBackend } from "./kernels/reference.js";
export { selectBackend } from "./kernels/select.js";
export { loadedAddonPath } from "./native/addon.js";
export type { Backend, ModelRunner, StepPlan, SeqPlan, KVCacheOptions } from "./kernels/backend.js";
export type { Tokenizer } from "./tokenizer/tokenizer.js";
export { ChatTemplate, type ChatMessage } from "./tokenizer/chat-template.js";
export type { SamplingParams } from "./sampling/params.js";
export { makeTestModel, type TestModelOptions } from "./model/test-model.js";
export { GrammarError, GrammarWorkerError, type Grammar, type GrammarSpec } from "./structured/grammar.js";
export { parseToolCalls, toolCallFormat, toolCallGrammar, toolCallsGrammar, type ParsedToolCall, type ToolCallFormat } from "./structured/tool-calls.js";
export { ToolCallParser, type ToolCallEvent } from "./structured/tool-call-stream.js";
