// For check-arm64.sh: the native runner against the reference backend on small models of the
// families whose kernels differ (sliding windows and soft-caps, GeGLU, partial RoPE, experts),
// in whatever build this Node loads. `make` writes the models (on the build machine);
// `check` compares (under qemu too). Exits 1 past a relative error of 1e-4.
import fs from "node:fs";
import path from "node:path";

const [mode, dir] = process.argv.slice(2);
const MODELS = [
  ["gemma2", { arch: "gemma2", attentionWindows: [5, 0] }],
  ["gemma3", { arch: "gemma3", attentionWindows: [5, 5, 0], sizes: { numLayers: 3, ropeTheta: 1000000 } }],
  ["phi3", { arch: "phi3", sizes: { ropeDim: 48 } }],
  ["qwen3moe", { arch: "qwen3moe" }],
];

if (mode === "make") {
  const { makeTestModel } = await import(path.resolve("dist/model/test-model.js"));
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, o] of MODELS) {
    const out = path.join(dir, `${name}.gguf`);
    if (!fs.existsSync(out)) await makeTestModel({ ...o, out, format: "gguf", dtype: "f32", seed: 3 });
  }
} else {
  const { loadModel } = await import(path.resolve("dist/model/load.js"));
  const { referenceBackend } = await import(path.resolve("dist/kernels/reference.js"));
  const { nativeBackend, runnerAddon } = await import(path.resolve("dist/kernels/native.js"));
  const tokens = Array.from({ length: 24 }, (_, i) => (i * 97 + 13) % 1000);
  const plan = { tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens.map((_, i) => i)),
    seqs: [{ start: 0, count: tokens.length, kvSlots: Int32Array.from(tokens.map((_, i) => i)) }], logitRows: Int32Array.from(tokens.map((_, i) => i)) };
  let worst = 0;
  for (const [name] of MODELS) {
    const m = await loadModel(path.join(dir, `${name}.gguf`));
    const a = nativeBackend(runnerAddon(), 2).createRunner(m, { capacity: 64, dtype: "f32" });
    const b = referenceBackend.createRunner(m, { capacity: 64, dtype: "f32" });
    const x = await a.forward(plan);
    const y = await b.forward(plan);
    let scale = 0, err = 0;
    for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]));
    for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(x[i] - y[i]) / scale);
    a.close(); b.close(); m.close();
    console.log(`${name}: native against the reference, relative error ${err.toExponential(2)}`);
    worst = Math.max(worst, err);
  }
  if (!(worst <= 1e-4)) process.exit(1);
}
