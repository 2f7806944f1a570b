// The JSON thread (json-thread.ts): decodes and parses the bodies it is sent, one at a time.
import { parentPort } from "node:worker_threads";
import type { JsonReply, JsonRequest } from "./json-thread.js";
import { parseJsonText } from "./json-text.js";

const port = parentPort!;
const decoder = new TextDecoder("utf-8");

port.on("message", (m: JsonRequest) => {
  let reply: JsonReply;
  try {
    const bytes = new Uint8Array(m.chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of m.chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    reply = { id: m.id, value: parseJsonText(decoder.decode(bytes)) };
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
