// radixlm/lang: LLM programs as async functions of a prompt state (SGLang's frontend
// language), run in-process or against a radixlm server.
export { program, Program, type ProgramFunction, type ProgramResult, type RunOptions, type BatchOptions } from "./program.js";
export { ProgramState, type CallInfo, type SelectOptions } from "./state.js";
export { GenHandle } from "./gen-handle.js";
export type { GenOptions, ProgramUsage } from "./context.js";
export type { Role } from "./roles.js";
export { LangError, type LangBackend, type GenParams, type GenRequest, type GenEvent, type ContinuationScore, type ModelFacts, type RequestUsage, type FinishReason } from "./backend.js";
export { localEngine } from "./local-engine.js";
export { endpoint, type EndpointOptions } from "./endpoint.js";
