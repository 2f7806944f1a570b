// Worker side of isolated-load.ts: loads a model, runs a short greedy generation on the
// reference backend, and reports what happened as plain data.
import { parentPort } from "node:worker_threads";
import { loadModel } from "../../src/model/load.js";
import { FormatError } from "../../src/formats/errors.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { buildPlan, range } from "./run.js";
import type { LoadOutcome } from "./isolated-load.js";

const PROMPT = "Hello, world! 123 <|im_start|>user\nünï 你好";

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

async function loadAndGenerate(path: string): Promise<LoadOutcome> {
  const t0 = performance.now();
  let m;
  try {
    m = await loadModel(path);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const cause = e.cause instanceof Error ? e.cause.name : null;
    return { kind: "refused", ms: performance.now() - t0, name: e.name, message: e.message, formatError: err instanceof FormatError, causeName: cause };
  }
  const ms = performance.now() - t0;
  try {
    const runner = referenceBackend.createRunner(m, { capacity: 32, dtype: "f32" });
    try {
      const limit = Math.min(m.config.maxPositionEmbeddings, 12);
      const ids = m.tokenizer.encode(PROMPT, { addSpecial: true, parseSpecial: true }).slice(0, Math.max(1, limit - 2));
      if (ids.length === 0) ids.push(0);
      const slots = range(0, 32);
      let logits = await runner.forward(buildPlan([{ tokens: ids, cached: 0, slots }]));
      const out: number[] = [];
      while (true) {
        if (!logits.every(Number.isFinite)) return { kind: "nonfinite", ms };
        out.push(argmax(logits));
        if (out.length === 2 || ids.length + out.length >= limit) break;
        logits = await runner.forward(buildPlan([{ tokens: [out[out.length - 1]!], cached: ids.length + out.length - 1, slots }]));
      }
      const text = m.tokenizer.decode([...ids, ...out]);
      return { kind: "generated", ms, tokens: ids.length + out.length, text: text.slice(0, 40) };
    } finally {
      runner.close();
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { kind: "failed after load", ms, name: e.name, message: e.message.split("\n")[0]!.slice(0, 300) };
  } finally {
    m.close();
  }
}

// `node --test dist-test/test/` runs this file too, outside a worker: then it does nothing.
const port = parentPort;
port?.on("message", (msg: { id: number; path: string }) => {
  void loadAndGenerate(msg.path).then((outcome) => port.postMessage({ id: msg.id, outcome }));
});
