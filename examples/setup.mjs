// What every example shares: its flags, the model (a generated test model unless --model
// names one), the backend (an in-process engine, or --endpoint URL), and the closing report.
//
//   --model PATH         an HF folder or GGUF file (default: a random-weight test model)
//   --preset NAME        shape of the generated test model: tiny (default), smollm2-135m, ...
//   --no-cache           run the engine with the radix cache off
//   --endpoint URL       run against a radixlm server instead of an in-process engine
//                        (with --model too, the chat template is read from that model)
//   --api-key KEY        the server's API key
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Engine, makeTestModel, loadModel, selectBackend } from "radixlm";
import { localEngine, endpoint } from "radixlm/lang";

export async function setup(title) {
  const { values } = parseArgs({
    options: {
      model: { type: "string" },
      preset: { type: "string", default: "tiny" },
      "no-cache": { type: "boolean", default: false },
      endpoint: { type: "string" },
      "api-key": { type: "string" },
    },
  });
  console.log(`== ${title}`);
  if (values.endpoint) {
    // The server does not report its chat template: read it from the model when given one.
    const chatTemplate = values.model ? (await loadModel(values.model)).chatTemplate ?? undefined : undefined;
    const backend = endpoint(values.endpoint, { apiKey: values["api-key"], chatTemplate });
    console.log(`server: ${values.endpoint}`);
    return { backend, engine: null, close: async () => {}, report: (usage, ms) => report(usage, ms, null) };
  }
  const modelPath = values.model ?? (await testModel(values.preset));
  const model = await loadModel(modelPath);
  const engine = await Engine.create({
    model, backend: selectBackend("auto"), maxTotalTokens: 16384, disableRadixCache: values["no-cache"],
  });
  console.log(`model: ${modelPath}${values["no-cache"] ? " (radix cache off)" : ""}`);
  return {
    backend: localEngine(engine),
    engine,
    close: async () => {
      await engine.close();
      model.close();
    },
    report: (usage, ms) => report(usage, ms, engine),
  };
}

async function testModel(preset) {
  const dir = path.join(os.tmpdir(), "radixlm-examples");
  const out = path.join(dir, `${preset}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(dir, { recursive: true });
    console.log(`making a random-weight ${preset} test model at ${out} (its text is noise; pass --model for a real one)`);
    await makeTestModel({ out, format: "gguf", dtype: "f32", preset, seed: 1 });
  }
  return out;
}

function report(usage, ms, engine) {
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`-- ${usage.requests} requests, ${usage.promptTokens} prompt tokens (${usage.cachedTokens} from the cache), ${usage.completionTokens} generated`);
  console.log(`-- cache hit rate: ${pct(usage.cacheHitRate)} of prompt tokens; wall time ${(ms / 1000).toFixed(2)} s`);
  if (engine) console.log(`-- engine: ${engine.stats().hitTokens} hit tokens of ${engine.stats().queriedTokens} queried (${pct(engine.stats().cacheHitRate)})`);
}

/** Sums the usage of several runs. */
export function totalUsage(runs) {
  const t = { requests: 0, promptTokens: 0, cachedTokens: 0, completionTokens: 0 };
  for (const r of runs) for (const k of Object.keys(t)) t[k] += r.usage[k];
  return { ...t, cacheHitRate: t.promptTokens > 0 ? t.cachedTokens / t.promptTokens : 0 };
}

/** One line of model text for printing. */
export function show(text, max = 60) {
  const line = JSON.stringify(text);
  return line.length > max ? `${line.slice(0, max - 3)}..."` : line;
}
