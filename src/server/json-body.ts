// Request bodies, read as JSON whatever their content type (curl -d sends form encoding).
// The bytes are kept as they arrive; a small body is parsed on the event loop, a big one on
// the JSON thread (json-thread.ts), so that eight 30 MB prompts at once do not hold up
// /health or a running stream. A body over the limit is refused as soon as its
// Content-Length, or its bytes so far, say so.
import type { Readable } from "node:stream";
import type { FastifyRequest } from "fastify";
import { badRequest, bodyTooLarge } from "./errors.js";
import { parseJsonText } from "./json-text.js";
import { JsonSyntaxError, JsonThread } from "./json-thread.js";

type Done = (err: Error | null, body?: unknown) => void;

/** Bodies of this many bytes or more are parsed on the JSON thread (below, JSON.parse takes about a millisecond). */
export const THREAD_PARSE_BYTES = 512 * 1024;

const invalidJson = (message: string): Error => badRequest(null, `The request body is not valid JSON: ${message}`, "invalid_json");

/** A fastify content type parser reading JSON bodies of at most `limit` bytes; an empty body is none. */
export function jsonBodyParser(limit: number, thread: JsonThread): (req: FastifyRequest, payload: Readable, done: Done) => void {
  return (req, payload, done) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) return done(bodyTooLarge());
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (): void => {
      payload.removeListener("data", onData);
      payload.removeListener("end", onEnd);
      payload.removeListener("error", onError);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > limit) {
        stop();
        chunks.length = 0;
        return done(bodyTooLarge());
      }
      chunks.push(bytes);
    };
    const onError = (err: Error): void => {
      stop();
      chunks.length = 0;
      done(Object.assign(err, { statusCode: 400 }));
    };
    const onEnd = (): void => {
      stop();
      if (!Number.isNaN(declared) && received !== declared) return done(badRequest(null, "The request body is shorter than its Content-Length.", "invalid_content_length"));
      if (received < THREAD_PARSE_BYTES) {
        const bytes = Buffer.concat(chunks, received);
        chunks.length = 0;
        let value: unknown;
        try {
          value = parseJsonText(bytes.toString("utf8"));
        } catch (err) {
          return done(invalidJson((err as Error).message));
        }
        return done(null, value);
      }
      thread.parse(chunks.splice(0)).then(
        (value) => done(null, value),
        (err: Error) => done(err instanceof JsonSyntaxError ? invalidJson(err.message) : Object.assign(new Error(`The request body could not be parsed: ${err.message}`), { statusCode: 500 })),
      );
    };
    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onError);
    payload.resume();
  };
}
