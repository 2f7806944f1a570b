// Does radixlm read a GGUF as llama.cpp does? Both continue the same prompt of token ids
// greedily, radixlm on its native runner and llama.cpp through node-llama-cpp (installed once
// into a scratch folder outside the project, as for bench:peer), and the ids are compared.
// Use f32 or f16 files: on random weights the logits are nearly flat, and quantized kernels
// that round differently may then pick another token without anything being wrong.
//
//   npm run bench:peer-agree -- MODEL.gguf [--tokens 12] [--prompt 5,300,17,900,42] [--peer-version V] [--peer-dir DIR]
//
// Exits 1 when the continuations differ.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { installPeer, peerOptions, root } from "./install.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tokens: { type: "string", default: "12" },
    prompt: { type: "string", default: "5,300,17,900,42,42,7,1000,256,3" },
    ...peerOptions,
  },
});
const model = positionals[0] && path.resolve(positionals[0]);
const count = Number(values.tokens);
const prompt = values.prompt.split(",").map(Number);
if (!model || !fs.existsSync(model) || !Number.isInteger(count) || count < 1 || prompt.some((x) => !Number.isInteger(x) || x < 0)) {
  console.error("usage: npm run bench:peer-agree -- MODEL.gguf [--tokens 12] [--prompt 5,300,17]");
  process.exit(2);
}
const peerDir = installPeer(values["peer-dir"], values["peer-version"], "bench:peer-agree");
fs.copyFileSync(path.join(here, "greedy.mjs"), path.join(peerDir, "greedy.mjs"));

const r = spawnSync(process.execPath, ["greedy.mjs", model, String(count), ...prompt.map(String)], { cwd: peerDir, encoding: "utf8" });
const line = r.stdout.trim().split("\n").pop() ?? "";
if (r.status !== 0 || !line.startsWith("[")) {
  console.error(`bench:peer-agree: llama.cpp could not run ${model}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  process.exit(1);
}
const theirs = JSON.parse(line);

const { loadModel } = await import(path.join(root, "dist/model/load.js"));
const { selectBackend } = await import(path.join(root, "dist/kernels/select.js"));
const m = await loadModel(model);
const runner = selectBackend("native", 2).createRunner(m, { capacity: prompt.length + count + 1, dtype: "f16" });
const ours = [];
try {
  const ids = [...prompt];
  const slots = Int32Array.from({ length: prompt.length + count + 1 }, (_, i) => i);
  const argmax = (x) => x.reduce((b, v, i) => (v > x[b] ? i : b), 0);
  let logits = await runner.forward({ tokens: Int32Array.from(ids), positions: Int32Array.from(ids.map((_, i) => i)), seqs: [{ start: 0, count: ids.length, kvSlots: slots.subarray(0, ids.length) }], logitRows: Int32Array.of(ids.length - 1) });
  while (ours.length < count) {
    const t = argmax(logits);
    ours.push(t);
    ids.push(t);
    const p = ids.length - 1;
    logits = await runner.forward({ tokens: Int32Array.of(t), positions: Int32Array.of(p), seqs: [{ start: 0, count: 1, kvSlots: slots.subarray(0, p + 1) }], logitRows: Int32Array.of(0) });
  }
} finally {
  runner.close();
  m.close();
}
let same = 0;
while (same < count && ours[same] === theirs[same]) same++;
console.log(`${path.basename(model)} (${m.config.arch}): greedy ids after [${prompt.join(", ")}]`);
console.log(`radixlm    ${JSON.stringify(ours)}`);
console.log(`llama.cpp  ${JSON.stringify(theirs)}`);
console.log(same === count ? `the same ${count} tokens` : `they part at token ${same}`);
if (same !== count) process.exitCode = 1;
