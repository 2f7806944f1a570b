// Server-sent events from a fetch response body, each stamped with the time its last byte
// arrived: the latency figures are the gaps between these stamps.

export interface SseEvent {
  /** The event's data lines joined by "\n" ("[DONE]" included as is). */
  readonly data: string;
  /** performance.now() when the chunk that completed the event was read. */
  readonly at: number;
}

/** Yields the `data` of each event; comments and events without data are skipped. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const at = performance.now();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // Events end at a blank line; CRLF line ends count as LF.
      buf = buf.replace(/\r\n/g, "\n");
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = dataOf(block);
        if (data !== null) yield { data, at };
      }
      if (done) {
        const data = dataOf(buf);
        if (data !== null) yield { data, at };
        return;
      }
    }
  } finally {
    // A consumer that stops early leaves the rest unread: cancel it so the socket is freed.
    await reader.cancel().catch(() => {});
  }
}

function dataOf(block: string): string | null {
  const lines: string[] = [];
  for (const line of block.split("\n")) {
    if (!line.startsWith("data:")) continue;
    lines.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  return lines.length ? lines.join("\n") : null;
}
