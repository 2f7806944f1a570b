// Sends big request bodies from a thread of its own, so that a test timing a server from its
// main thread measures the server and not its own event loop pushing hundreds of MB out.
// workerData is SendJob; posts back one SentAnswer per body, in order.
import { parentPort, workerData } from "node:worker_threads";

export interface SendJob {
  readonly bodies: readonly { readonly url: string; readonly body: Uint8Array<ArrayBuffer> }[];
}

export interface SentAnswer {
  readonly status: number;
  readonly text: string;
}

if (parentPort && workerData) {
  const job = workerData as SendJob;
  const answers = await Promise.all(job.bodies.map(async (b): Promise<SentAnswer> => {
    const r = await fetch(b.url, { method: "POST", headers: { "content-type": "application/json" }, body: b.body });
    return { status: r.status, text: await r.text() };
  }));
  parentPort.postMessage(answers);
}
