// Sends one request to a worker and passes its answer back chunk by chunk. A connect failure
// or a 5xx before the first byte of the answer is a failure the router may retry elsewhere;
// once bytes have gone to the client, the answer is the worker's, whatever follows. A client
// that goes away aborts the worker's request (the worker sees its connection close).
import type { ServerResponse } from "node:http";
import { writable } from "../server/sse.js";

/** Headers of a worker's answer that are about its connection, not its content. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade", "te", "trailer"]);

export interface Upstream {
  readonly url: string;
  readonly apiKey: string | undefined;
}

export type Attempt =
  /** The worker answered (a status below 500): `res` is to be passed on. */
  | { readonly kind: "answer"; readonly res: Response }
  /** It failed before answering: retry elsewhere. */
  | { readonly kind: "failed"; readonly status: number | null; readonly message: string };

/** Sends `body` to `path` on the worker; `signal` aborts it (the client left). */
export async function send(w: Upstream, method: string, path: string, body: Buffer | null, contentType: string | undefined,
  signal: AbortSignal, timeoutMs: number): Promise<Attempt> {
  const headers: Record<string, string> = { accept: "*/*" };
  if (contentType) headers["content-type"] = contentType;
  if (w.apiKey) headers.authorization = `Bearer ${w.apiKey}`;
  // Until the worker's head arrives; the body may stream for as long as it takes.
  const connect = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(w.url + path, { method, headers, body: body ? (body as Uint8Array as Uint8Array<ArrayBuffer>) : undefined, signal: AbortSignal.any([signal, connect]) });
  } catch (err) {
    if (signal.aborted) throw err;
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    return { kind: "failed", status: null, message: connect.aborted ? `no answer in ${timeoutMs} ms` : cause };
  }
  if (res.status >= 500) {
    const text = await res.text().catch(() => "");
    return { kind: "failed", status: res.status, message: `${res.status} ${text.slice(0, 200)}` };
  }
  return { kind: "answer", res };
}

/**
 * Writes the worker's answer to the client as it comes; resolves when it is all written (or
 * the client left). `onChunk` sees each chunk before it goes out (the router reads a
 * response id from the first).
 */
export async function pipeAnswer(res: Response, out: ServerResponse, onChunk?: (chunk: Uint8Array) => void): Promise<void> {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!HOP_BY_HOP.has(k)) headers[k] = v;
  });
  out.writeHead(res.status, headers);
  out.flushHeaders();
  if (!res.body) {
    out.end();
    return;
  }
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk?.(value);
      if (out.destroyed) break;
      if (!out.write(value)) await writable(out);
    }
    out.end();
  } catch {
    // The worker's stream broke after bytes went out. A stream of events ends with an error
    // event (OpenAI's form), so the client sees a clean end; any other answer is cut.
    const sse = (headers["content-type"] ?? "").startsWith("text/event-stream");
    if (sse && !out.destroyed) {
      out.end(`data: ${JSON.stringify({ error: { message: "The worker serving this request stopped.", type: "server_error", param: null, code: "worker_lost" } })}\n\n`);
    } else {
      out.destroy();
    }
  } finally {
    reader.releaseLock();
  }
}
