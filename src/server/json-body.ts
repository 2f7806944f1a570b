// Request bodies, read as JSON whatever their content type (curl -d sends form encoding).
// The bytes are decoded to text chunk by chunk as they arrive, so a 30 MB body costs the
// event loop one JSON.parse at the end rather than also a 30 MB copy and a 30 MB decode in
// one go, as fastify's own reader does (it keeps the chunks and decodes them at the end).
// A body over the limit is refused as soon as its Content-Length, or its bytes so far, say so.
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { FastifyRequest } from "fastify";
import { badRequest, bodyTooLarge } from "./errors.js";

type Done = (err: Error | null, body?: unknown) => void;

/** JSON.parse, dropping `__proto__` keys (prototype poisoning through later merges). */
function parseJson(text: string): unknown {
  return text.includes("__proto__") ? JSON.parse(text, (k, v: unknown) => (k === "__proto__" ? undefined : v)) : JSON.parse(text);
}

/** A fastify content type parser reading JSON bodies of at most `limit` bytes; an empty body is none. */
export function jsonBodyParser(limit: number): (req: FastifyRequest, payload: Readable, done: Done) => void {
  return (req, payload, done) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) return done(bodyTooLarge());
    const decoder = new StringDecoder("utf8");
    let text = "";
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
        return done(bodyTooLarge());
      }
      text += decoder.write(bytes);
    };
    const onError = (err: Error): void => {
      stop();
      done(Object.assign(err, { statusCode: 400 }));
    };
    const onEnd = (): void => {
      stop();
      text += decoder.end();
      if (!Number.isNaN(declared) && received !== declared) return done(badRequest(null, "The request body is shorter than its Content-Length.", "invalid_content_length"));
      if (/^\s*$/.test(text)) return done(null, undefined);
      try {
        done(null, parseJson(text));
      } catch (err) {
        done(badRequest(null, `The request body is not valid JSON: ${(err as Error).message}`, "invalid_json"));
      }
    };
    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onError);
    payload.resume();
  };
}
