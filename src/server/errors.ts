// Every error leaves the server in OpenAI's envelope:
//   {"error": {"message": "...", "type": "...", "param": "..." | null, "code": "..." | null}}
// ApiError carries status and envelope; toApiError() maps what the engine, the chat template,
// fastify (bad JSON, body too large, schema validation) and anything unexpected throw.
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { QueueFullError } from "../engine/engine.js";
import { ContextLengthError, InputError } from "../engine/input.js";
import { RequestError } from "../scheduler/request.js";
import { SamplingParamError } from "../sampling/params.js";
import { GrammarError } from "../structured/grammar.js";
import { ChatTemplateError } from "../tokenizer/chat-template.js";

export type ErrorType = "invalid_request_error" | "not_found_error" | "rate_limit_error" | "server_error";

export interface ErrorBody {
  readonly error: { readonly message: string; readonly type: ErrorType; readonly param: string | null; readonly code: string | null };
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function badRequest(param: string | null, message: string, code: string | null = "invalid_value"): ApiError {
  return new ApiError(400, message, "invalid_request_error", param, code);
}

export function bodyTooLarge(): ApiError {
  return new ApiError(413, "The request body is larger than this server accepts (see --max-body-bytes).", "invalid_request_error", null, "request_too_large");
}

export function unavailable(message: string): ApiError {
  return new ApiError(503, message, "server_error", null, "service_unavailable", { "retry-after": "5" });
}

export function modelNotFound(model: string): ApiError {
  return new ApiError(404, `The model \`${model}\` does not exist.`, "not_found_error", "model", "model_not_found");
}

/** Names an engine parameter as the route's API spells it (max_new_tokens -> max_tokens). */
export type ParamNames = Readonly<Record<string, string>>;

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: { description?: string };
}

/** "/messages/0/content" -> "messages[0].content" (array indices in brackets, keys after dots). */
function paramPath(instancePath: string, body: unknown, extra?: string): string {
  const parts = instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let out = "";
  let value = body;
  for (const p of parts) {
    out += Array.isArray(value) ? `[${p}]` : out ? `.${p}` : p;
    value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[p] : undefined;
  }
  if (extra !== undefined) out += out ? `.${extra}` : extra;
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** Turns fastify's schema validation failure into one clear message naming the parameter. */
function validationError(errors: readonly AjvError[], body: unknown): ApiError {
  // For a union (anyOf) ajv lists each branch's failure and then the anyOf one, whose schema
  // carries the description of what the parameter may be; that one reads best, unless a
  // branch got deeper into the value (its type matched, a part of it did not).
  let e = errors[errors.length - 1]!;
  const depth = (x: AjvError): number => x.instancePath.split("/").length + (x.keyword === "required" ? 1 : 0);
  for (const x of errors) if (depth(x) > depth(e)) e = x;
  // A size bound that a branch of the right shape broke (a list of 129 strings) says more than
  // a branch of another shape failing deeper in (its first item is not an integer).
  const bound = errors.find((x) => (x.keyword === "maxItems" || x.keyword === "maxLength") && (e.instancePath + "/").startsWith(x.instancePath + "/"));
  if (bound) e = bound;
  if (e.keyword === "required") {
    const param = paramPath(e.instancePath, body, String(e.params.missingProperty));
    return badRequest(param, `Missing required parameter: '${param}'.`, "missing_required_parameter");
  }
  const param = paramPath(e.instancePath, body) || null;
  let value: unknown = body;
  for (const p of e.instancePath.split("/").slice(1)) value = value === null || value === undefined ? undefined : (value as Record<string, unknown>)[p];
  const name = param ? `'${param}'` : "the request body";
  const what = e.parentSchema?.description;
  if (e.keyword === "type" || e.keyword === "anyOf") {
    return badRequest(param, `Invalid type for ${name}: expected ${what ?? String(e.params.type)}, but got ${describe(value)} instead.`, "invalid_type");
  }
  const why = what ? `expected ${what}` : (e.message ?? "invalid value");
  return badRequest(param, `Invalid value for ${name}: ${why}, got ${preview(value)}.`, "invalid_value");
}

/** A short view of a bad value; a long list or string is not written out whole first (it may be megabytes). */
function preview(value: unknown): string {
  if (Array.isArray(value) && value.length > 16) return `a list of ${value.length} items`;
  if (typeof value === "string" && value.length > 100) return `${JSON.stringify(value.slice(0, 100))}... (${value.length} characters)`;
  return JSON.stringify(value)?.slice(0, 100) ?? "nothing";
}

/** Whatever was thrown, as an API error (500 for the unexpected). */
export function toApiError(err: unknown, names: ParamNames = {}, body?: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ContextLengthError) return contextLengthError(err, names);
  if (err instanceof SamplingParamError || err instanceof InputError) {
    let message = err.message;
    for (const [engineName, apiName] of Object.entries(names)) message = message.replaceAll(engineName, apiName);
    let param = names[err.param] ?? err.param;
    // Of several prompts, the one at fault.
    if (err instanceof InputError && err.part !== undefined && err.param === "prompt") param = `${param}[${err.part}]`;
    return badRequest(param, message, err instanceof InputError ? err.code : "invalid_value");
  }
  if (err instanceof QueueFullError) return new ApiError(429, `${err.message}; retry later`, "rate_limit_error", null, "rate_limit_exceeded", { "retry-after": "1" });
  // The request's grammar: `names.grammar` is the parameter that carried it.
  if (err instanceof GrammarError) {
    const param = names.grammar ?? null;
    return badRequest(param, param ? `Invalid '${param}': ${err.message}` : err.message);
  }
  // A request that failed by its own doing (its grammar allows no token).
  if (err instanceof RequestError) return badRequest(null, err.message, "request_failed");
  if (err instanceof ChatTemplateError) return badRequest("messages", `The chat template rejected the messages: ${err.message}`);
  const fe = err as Partial<FastifyError> & { validation?: AjvError[] };
  if (fe.validation) return validationError(fe.validation, body);
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") return bodyTooLarge();
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode, fe.message ?? "bad request", "invalid_request_error");
  }
  return new ApiError(500, `Internal error: ${err instanceof Error ? err.message : String(err)}`, "server_error");
}

/** The engine's context check in OpenAI's words, naming the route's own parameters. */
function contextLengthError(e: ContextLengthError, names: ParamNames): ApiError {
  const prompt = names.prompt ?? "prompt";
  const max = names.max_new_tokens ?? "max_new_tokens";
  const param = e.maxNewTokens === null ? (e.part !== undefined ? `${prompt}[${e.part}]` : prompt) : max;
  const head = `This model's maximum context length is ${e.limit} tokens. However, `;
  const message = e.maxNewTokens === null
    ? `${head}your ${prompt} resulted in ${e.atLeast ? "at least " : ""}${e.promptTokens} tokens. Please reduce the length of the ${prompt}.`
    : `${head}you requested ${e.promptTokens + e.maxNewTokens} tokens (${e.promptTokens} in the ${prompt}, ${e.maxNewTokens} in the completion). ` +
      `Please reduce the length of the ${prompt} or ${max}.`;
  return badRequest(param, message, "context_length_exceeded");
}

export function sendError(reply: FastifyReply, e: ApiError): FastifyReply {
  return reply.code(e.status).headers(e.headers).type("application/json").send(e.body());
}

/** Envelope for thrown errors and unknown routes. `log` hears about internal (500) errors. */
export function installErrorHandlers(app: FastifyInstance, log: (line: string) => void): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toApiError(err, {}, req.body);
    if (e.status === 500) log(`radixlm: error: ${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    sendError(reply, new ApiError(404, `Invalid URL (${req.method} ${req.url.split("?")[0]})`, "not_found_error", null, "unknown_url")));
}

/**
 * Errors the HTTP parser meets before there is a request to answer (headers or a URL over
 * Node's 16 KiB limit, a malformed request line, a request that came too slowly), in the
 * same envelope: fastify's own answer to these is its own JSON, and Node's a bare status line.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const e = err.code === "HPE_HEADER_OVERFLOW"
    ? new ApiError(431, "The request's headers (its URL included) are larger than this server accepts.", "invalid_request_error", null, "request_header_fields_too_large")
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? new ApiError(408, "The request did not arrive in time.", "invalid_request_error", null, "request_timeout")
      : new ApiError(400, `The request is not valid HTTP: ${err.message}`, "invalid_request_error", null, "bad_request");
  if (socket.writable) {
    const body = JSON.stringify(e.body());
    const reason = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" }[e.status as 400 | 408 | 431];
    socket.write(`HTTP/1.1 ${e.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
