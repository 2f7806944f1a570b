// node-llama-cpp's prefill and decode speed on one GGUF, measured as `radixlm bench model`
// measures ours: after a warm-up, pp = one 512-token prompt evaluated at once, tg = 128
// tokens decoded one by one (greedy) after a short prompt. One measurement per process;
// compare.mjs alternates processes of both engines. Runs inside the scratch folder that
// holds node-llama-cpp, never inside radixlm.
//   node peer.mjs MODEL.gguf THREADS [PP] [TG]
import { getLlama } from "node-llama-cpp";

const [modelPath, threads = "2", ppArg = "512", tgArg = "128"] = process.argv.slice(2);
const pp = Number(ppArg);
const tg = Number(tgArg);
const llama = await getLlama({ gpu: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: pp + tg + 16, batchSize: pp, threads: Number(threads), sequences: 1 });
const seq = context.getSequence();
// Real tokens of the model's own vocabulary, as many as asked for.
let ids = [];
for (let i = 0; ids.length < pp; i++) ids = ids.concat(model.tokenize(`Sentence ${i} of the benchmark prompt, with some ordinary words in it. `));
ids = ids.slice(0, pp);

// warm-up: pages the weights in, grows the buffers
await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, 64));
await seq.clearHistory();

let t = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(ids);
const ppTokS = pp / ((performance.now() - t) / 1000);
await seq.clearHistory();

await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, 8));
let n = 0;
t = performance.now();
for await (const token of seq.evaluate([ids[8]], { temperature: 0 })) {
  void token;
  if (++n >= tg) break;
}
const tgTokS = n / ((performance.now() - t) / 1000);
console.log(JSON.stringify({ engine: "node-llama-cpp", threads: Number(threads), pp512: ppTokS, tg128: tgTokS }));
process.exit(0);
