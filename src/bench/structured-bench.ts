// Structured-output figures: the per-token cost of a grammar mask (xgrammar matcher, with
// the qwen vocabulary of about 150k tokens), grammar compile times, and JSON decoding
// throughput with jump-forward and token by token. Run: node dist/bench/structured-bench.js
import os from "node:os";
import path from "node:path";
import { Engine } from "../engine/engine.js";
import { loadModel, type LoadedModel } from "../model/load.js";
import { makeTestModel } from "../model/test-model.js";
import { runnerAddon, nativeBackend } from "../kernels/native.js";
import { referenceBackend } from "../kernels/reference.js";
import { qwen3TokenizerFiles } from "../tokenizer/vocab-testdata.js";
import { Constraint } from "../structured/constraint.js";
import { summarize } from "./stats.js";

const SCHEMA = {
  type: "object",
  properties: {
    id: { type: "string", pattern: "^ORD-[0-9]{4}$" },
    status: { enum: ["pending", "shipped", "delivered", "cancelled"] },
    customer: { type: "object", properties: { name: { type: "string", maxLength: 16 }, vip: { type: "boolean" } }, required: ["name", "vip"] },
    items: {
      type: "array", minItems: 1, maxItems: 3,
      items: { type: "object", properties: { sku: { type: "string", pattern: "^[A-Z]{3}[0-9]{2}$" }, quantity: { type: "integer", minimum: 1, maximum: 99 } }, required: ["sku", "quantity"] },
    },
  },
  required: ["id", "status", "customer", "items"],
};
const DOC = { id: "ORD-1234", status: "shipped", customer: { name: "Ada Lovelace", vip: true }, items: [{ sku: "ABC12", quantity: 3 }, { sku: "XYZ99", quantity: 12 }] };

async function maskCost(m: LoadedModel, e: Engine): Promise<void> {
  let t0 = performance.now();
  const grammar = await e.compileGrammar({ kind: "json_schema", schema: SCHEMA });
  console.log(`vocab ${m.config.vocabSize}: first compile (TokenizerInfo + grammar) ${(performance.now() - t0).toFixed(0)} ms`);
  t0 = performance.now();
  await e.compileGrammar({ kind: "json_schema", schema: { ...SCHEMA, title: "another" } });
  console.log(`  compile of a second schema ${(performance.now() - t0).toFixed(0)} ms; cached lookup:`);
  t0 = performance.now();
  await e.compileGrammar({ kind: "json_schema", schema: SCHEMA });
  console.log(`  ${(performance.now() - t0).toFixed(3)} ms`);
  const ids = m.tokenizer.encode(JSON.stringify(DOC), { addSpecial: false });
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const c = new Constraint(grammar);
    for (const id of ids) {
      const s = performance.now();
      await c.prepare();
      times.push(performance.now() - s);
      c.accept(id);
    }
    c.dispose();
  }
  const sm = summarize(times);
  // Forced positions (a single allowed token) cost microseconds; the rest run xgrammar's mask.
  const computed = times.filter((t) => t > 0.05);
  const sc = summarize(computed.length > 0 ? computed : [0]);
  console.log(`  masks computed by xgrammar (not forced): ${computed.length} of ${times.length}: mean ${sc.mean.toFixed(3)} ms, p50 ${sc.p50.toFixed(3)}, p99 ${sc.p99.toFixed(3)}`);
  console.log(`  per-token mask (prepare: from the grammar worker, through shared memory), ${times.length} tokens: mean ${sm.mean.toFixed(3)} ms, p50 ${sm.p50.toFixed(3)}, p99 ${sm.p99.toFixed(3)}, max ${Math.max(...times).toFixed(3)}`);
}

async function throughput(m: LoadedModel, e: Engine, label: string): Promise<void> {
  const grammar = await e.compileGrammar({ kind: "json_schema", schema: SCHEMA });
  for (const jumpForward of [false, true, false, true]) {
    const steps0 = e.stats().steps;
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      e.complete({ prompt: `order ${i}:`, params: { temperature: 1, seed: i, maxNewTokens: 300 }, grammar, jumpForward })));
    const s = (performance.now() - t0) / 1000;
    const tokens = rs.reduce((a, r) => a + r.samples[0]!.tokenIds.length, 0);
    const ok = rs.filter((r) => r.samples[0]!.finishReason === "stop").length;
    const steps = e.stats().steps - steps0;
    console.log(`${label} ${jumpForward ? "jump-forward " : "token by token"}: ${tokens} tokens in ${s.toFixed(2)} s = ${(tokens / s).toFixed(0)} tok/s, ${steps} steps = ${(steps / s).toFixed(0)} steps/s, ${ok}/8 finished`);
  }
}

async function main(): Promise<void> {
  const addon = runnerAddon();
  const backend = addon ? nativeBackend(addon, Math.max(1, os.availableParallelism() - 1)) : referenceBackend;
  const dir = os.tmpdir();
  const small = await loadModel((await makeTestModel({ out: path.join(dir, "rlm-bench-structured.gguf"), format: "gguf", dtype: "f32", arch: "llama", seed: 3 })).path);
  const qwen = qwen3TokenizerFiles();
  for (const [label, m] of [["test vocab", small] as const, ...(qwen ? [["qwen vocab", await loadModel((await makeTestModel({
    out: path.join(dir, "rlm-bench-structured-qwen"), format: "hf", dtype: "f32", arch: "qwen2", seed: 3, tokenizer: qwen.tokenizer,
  })).path)] as const] : [])]) {
    const e = await Engine.create({ model: m, backend, maxTotalTokens: 16384 });
    try {
      await maskCost(m, e);
      await throughput(m, e, label);
    } finally {
      await e.close();
    }
  }
}

await main();
