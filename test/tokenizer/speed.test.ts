// Throughput floor: at least 1 MB of varied text per second, byte-level and SentencePiece alike
// (npm run bench:tokenizer prints the actual figures).
import assert from "node:assert/strict";
import { test } from "node:test";
import { referenceVocab, variedText } from "../../src/tokenizer/vocab-testdata.js";

const MIN_MB_PER_S = 1;

for (const name of ["gpt-2", "qwen2", "llama-spm"]) {
  test(`${name} encodes >= ${MIN_MB_PER_S} MB/s`, async (t) => {
    const v = referenceVocab(name);
    if (typeof v === "string") return t.skip(v);
    const tok = await v.load();
    const text = variedText(1_000_000, v.cases.map((c) => c.text));
    tok.encode(text.slice(0, 20_000));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const ids = tok.encode(text);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // Other test files run beside this one: count the CPU time we got when it is below the wall time.
    const seconds = Math.min(wall, (cpu.user + cpu.system) / 1e6);
    const mbps = Buffer.byteLength(text) / 1e6 / seconds;
    t.diagnostic(`${name}: ${mbps.toFixed(2)} MB/s (${(Buffer.byteLength(text) / 1e6 / wall).toFixed(2)} by wall clock), ${ids.length} tokens`);
    assert.ok(mbps >= MIN_MB_PER_S, `${name}: ${mbps.toFixed(2)} MB/s`);
  });
}
