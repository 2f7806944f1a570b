// The tokenizer thread (encoder-thread.ts): rebuilds the model's tokenizer from where the
// model came from and encodes the texts it is sent, one at a time, in order. The ids go back
// as an Int32Array whose memory is transferred, not copied; past the caller's limit only
// their count does.
import { parentPort, workerData } from "node:worker_threads";
import { loadTokenizerSource } from "./source.js";
import type { Tokenizer } from "./tokenizer.js";
import type { EncodeReply, EncodeRequest, EncoderInit } from "./encoder-thread.js";

const init = workerData as EncoderInit;
const port = parentPort!;

const tokenizer: Promise<Tokenizer> = loadTokenizerSource(init.source).then((t) => {
  if (t.vocabSize !== init.vocabSize) {
    throw new Error(`the tokenizer thread's tokenizer has ${t.vocabSize} tokens, the server's ${init.vocabSize} (the model file changed?)`);
  }
  return t;
});
// A failure to load is reported to every request.
tokenizer.catch(() => {});

port.on("message", (r: EncodeRequest) => {
  tokenizer.then((t) => {
    const list = t.encode(r.text, { addSpecial: r.addSpecial, parseSpecial: r.parseSpecial });
    if (list.length >= r.limit) {
      port.postMessage({ id: r.id, count: list.length } satisfies EncodeReply);
      return;
    }
    if (r.json === true) {
      const json = new TextEncoder().encode(JSON.stringify(list));
      port.postMessage({ id: r.id, json, count: list.length } satisfies EncodeReply, [json.buffer]);
      return;
    }
    const ids = Int32Array.from(list);
    port.postMessage({ id: r.id, ids } satisfies EncodeReply, [ids.buffer]);
  }).catch((err: unknown) => {
    port.postMessage({ id: r.id, error: err instanceof Error ? err.message : String(err) } satisfies EncodeReply);
  });
});
