// Server-sent events on a hijacked fastify reply: `data: <json>\n\n` per event and a final
// `data: [DONE]`, as OpenAI streams them. Writes respect backpressure; once the client is
// gone every write is a no-op, so callers only check `closed` to stop early.
import type { FastifyReply } from "fastify";
import type { ServerResponse } from "node:http";

/** Takes the reply over and sends the head of an event stream; the raw response to write it on. */
export function openEventStream(reply: FastifyReply, headers: Readonly<Record<string, string>> = {}): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  // The headers set on the reply so far (CORS's among them) go out too: hijack bypasses fastify's sending.
  res.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string | string[]>),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    ...headers,
  });
  res.flushHeaders();
  return res;
}

/** Resolves once `res` can take more writes, or is closed. */
export function writable(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = (): void => {
      res.off("drain", go);
      res.off("close", go);
      resolve();
    };
    res.on("drain", go);
    res.on("close", go);
  });
}

export class SseStream {
  private readonly res: ServerResponse;

  constructor(reply: FastifyReply, headers: Readonly<Record<string, string>> = {}) {
    this.res = openEventStream(reply, headers);
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /**
   * Sends one event, named by an `event:` line when `event` is given (as the Responses API
   * streams); resolves once the socket can take more (or the client is gone).
   */
  async send(data: unknown, event?: string): Promise<void> {
    if (this.closed) return;
    if (this.res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`)) return;
    await writable(this.res);
  }

  /** `data: [DONE]` and the end of the response. */
  done(): void {
    if (this.closed) return;
    this.res.end("data: [DONE]\n\n");
  }

  /** The end of the response without [DONE] (a Responses stream ends with its last event). */
  end(): void {
    if (this.closed) return;
    this.res.end();
  }
}

/** Calls `fn` when the client goes away before the response was completely sent. */
export function onClientGone(reply: FastifyReply, fn: () => void): void {
  const res = reply.raw;
  res.once("close", () => {
    if (!res.writableFinished) fn();
  });
}
