// node-llama-cpp's greedy continuation of a prompt of token ids, one id list as JSON. Runs
// inside the scratch folder that holds node-llama-cpp (agree.mjs copies it there).
//   node greedy.mjs MODEL.gguf COUNT ID...
import { getLlama } from "node-llama-cpp";

const [modelPath, countArg, ...ids] = process.argv.slice(2);
const count = Number(countArg);
const llama = await getLlama({ gpu: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: ids.length + count + 16, threads: 2 });
const out = [];
for await (const t of context.getSequence().evaluate(ids.map(Number), { temperature: 0 })) {
  out.push(t);
  if (out.length >= count) break;
}
console.log(JSON.stringify(out));
