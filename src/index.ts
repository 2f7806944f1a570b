// The package's public API.
export { loadModel, type LoadedModel } from "./model/load.js";
export type { ModelConfig } from "./model/config.js";
export { referenceBackend } from "./kernels/reference.js";
export type { Backend, ModelRunner, StepPlan, SeqPlan, KVCacheOptions } from "./kernels/backend.js";
export type { Tokenizer } from "./tokenizer/tokenizer.js";
export { ChatTemplate, type ChatMessage } from "./tokenizer/chat-template.js";
export { generate, type TokenEvent, type GenerationResult } from "./engine/generate.js";
export type { SamplingParams } from "./sampling/params.js";
export { makeTestModel, type TestModelOptions } from "./model/test-model.js";
