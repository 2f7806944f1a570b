// The bundled demo model (models/demo): it loads from both of its formats and they agree on
// greedy tokens, and its perplexity on the shipped held-out text stays at or below the value
// recorded when it was built, so a broken loader, tokenizer or kernel shows up here.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { perplexity } from "../../src/model/perplexity.js";
import { Engine } from "../../src/engine/engine.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { promptIds } from "../../src/cli/generate.js";
import { defaultModelPath, demoModelDir, DEMO_HF_DIR } from "../../src/cli/default-model.js";
import { cli } from "../helpers/cli.js";

const T = { timeout: 300_000 };
const DIR = demoModelDir();
const HF = path.join(DIR, DEMO_HF_DIR);
const GGUF = defaultModelPath();

interface Recorded {
  window: number;
  hf_f16: { perplexity: number };
  gguf_q8_0: { perplexity: number };
  pytorch_f32: { perplexity: number };
}
const recorded = JSON.parse(fs.readFileSync(path.join(DIR, "perplexity.json"), "utf8")) as Recorded;

function backend(): Backend {
  const addon = runnerAddon();
  return addon ? nativeBackend(addon, 2) : referenceBackend;
}

async function greedy(model: LoadedModel, ids: number[], n: number): Promise<number[]> {
  const engine = await Engine.create({ model, backend: backend(), maxTotalTokens: 1024, kvCacheDtype: "f32" });
  try {
    const r = await engine.complete({ inputIds: ids, params: { temperature: 0, maxNewTokens: n } });
    return [...r.samples[0]!.tokenIds];
  } finally {
    await engine.close();
  }
}

test("the bundled model is small, in both formats, with its tokenizer and chat template", async () => {
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    assert.ok(fs.existsSync(path.join(HF, f)), `${HF}/${f}`);
  }
  const hf = await loadModel(HF);
  const gg = await loadModel(GGUF);
  try {
    assert.equal(hf.config.arch, "llama");
    // GGUF keeps the RoPE layout it was permuted to and rms_norm_eps as an f32.
    assert.deepEqual({ ...gg.config, ropeLayout: "neox", rmsNormEps: 0 }, { ...hf.config, rmsNormEps: 0 });
    assert.equal(gg.config.ropeLayout, "interleaved");
    assert.equal(gg.config.rmsNormEps, Math.fround(hf.config.rmsNormEps));
    assert.equal(gg.weights.info("blk.0.attn_q.weight").type, "q8_0");
    assert.ok(hf.chatTemplate?.includes("<|im_start|>") && gg.chatTemplate === hf.chatTemplate);
    const bytes = fs.statSync(GGUF).size + fs.statSync(path.join(HF, "model.safetensors")).size;
    assert.ok(bytes < 20e6, `models/demo weights are ${bytes} bytes`);
  } finally {
    hf.close();
    gg.close();
  }
});

test("HF safetensors and q8_0 GGUF give the same greedy tokens", T, async () => {
  const hf = await loadModel(HF);
  const gg = await loadModel(GGUF);
  try {
    const cases = [
      { prompt: "Once upon a time, there was a little cat named" },
      { prompt: "Q: What color is the sky?\nA:" },
      { chat: "Tell me a story about a dog." },
      { chat: "What is 3 plus 4?" },
    ];
    for (const c of cases) {
      const a = await greedy(hf, promptIds(hf, c), 48);
      const b = await greedy(gg, promptIds(gg, c), 48);
      assert.deepEqual(promptIds(gg, c), promptIds(hf, c), JSON.stringify(c));
      assert.deepEqual(b, a, `${JSON.stringify(c)}: hf ${JSON.stringify(hf.tokenizer.decode(a))} vs gguf ${JSON.stringify(gg.tokenizer.decode(b))}`);
      assert.ok(a.length > 3, JSON.stringify(c));
    }
  } finally {
    hf.close();
    gg.close();
  }
});

test("perplexity on the held-out slice stays at or below the recorded value", T, async () => {
  const text = fs.readFileSync(path.join(DIR, "heldout.txt"), "utf8");
  for (const [where, want] of [[HF, recorded.hf_f16.perplexity], [GGUF, recorded.gguf_q8_0.perplexity]] as const) {
    const model = await loadModel(where);
    try {
      const ids = model.tokenizer.encode(text, { addSpecial: false, parseSpecial: true });
      const r = await perplexity(model, backend(), ids, recorded.window);
      // Room only for summation-order differences between backends and thread counts.
      assert.ok(r.perplexity <= want * 1.001, `${where}: perplexity ${r.perplexity} > recorded ${want}`);
      // PyTorch measured the same windows on the f32 weights at the end of training.
      assert.ok(Math.abs(r.perplexity / recorded.pytorch_f32.perplexity - 1) < 0.02, `${where}: ${r.perplexity} vs PyTorch ${recorded.pytorch_f32.perplexity}`);
    } finally {
      model.close();
    }
  }
});

test("radixlm perplexity measures the bundled model (the default) on the held-out slice", T, () => {
  const r = cli(["perplexity", "--file", path.join(DIR, "heldout.txt"), "--window", String(recorded.window), "--json"], {}, 240_000);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { perplexity: number; scored_tokens: number; window: number };
  assert.ok(got.perplexity <= recorded.gguf_q8_0.perplexity * 1.001, `${got.perplexity} > ${recorded.gguf_q8_0.perplexity}`);
  assert.equal(got.window, recorded.window);
  const bad = cli(["perplexity", "--file", "/nonexistent.txt"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^radixlm: error: \/nonexistent.txt: no such file/);
});
