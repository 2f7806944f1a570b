// Errors that name the real problem, each as one exact first line and exit code 2: a GGUF cut
// short says where, a server that is not there is named before anything that follows from it,
// an unknown command suggests the closest, and help prints numeric defaults as numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { tempDir, testModel } from "../helpers/models.js";
import { readGGUF } from "../../src/formats/gguf.js";

function firstLine(r: { code: number | null; stderr: string }): string {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  return r.stderr.split("\n")[0]!;
}

function cut(good: Buffer, n: number, name: string): string {
  const p = path.join(tempDir(), name);
  fs.writeFileSync(p, good.subarray(0, n));
  return p;
}

test("a truncated GGUF says it is truncated at byte N, and while reading what", async () => {
  const file = await testModel("llama-gguf-f32", { arch: "llama", format: "gguf", dtype: "f32", seed: 7 });
  const good = fs.readFileSync(file);
  const tiny = cut(good, 10, "ten-bytes.gguf");
  assert.equal(firstLine(cli(["info", "--model", tiny])), `radixlm: error: ${tiny}: truncated at byte 10 while reading the header (a GGUF header takes at least 24 bytes)`);

  const header = cut(good, 2000, "cut-header.gguf");
  assert.match(firstLine(cli(["info", "--model", header])),
    new RegExp(`^radixlm: error: ${header}: truncated at byte 2000 while reading the header \\("tokenizer\\.ggml\\.tokens": an array of \\d+ elements needs at least \\d+ bytes, the file has \\d+ left\\)$`));

  // Cut inside the last tensor's data: the message names it, where it starts and how long the file should be.
  const last = [...(await readGGUF(file)).tensors.values()].sort((a, b) => b.offset - a.offset)[0]!;
  const n = good.length - 100;
  const data = cut(good, n, "cut-data.gguf");
  assert.equal(firstLine(cli(["info", "--model", data])),
    `radixlm: error: ${data}: truncated at byte ${n} while reading tensor data: tensor "${last.name}" (${last.byteLength} bytes at ${last.offset}) lies beyond the end of the file, which should be ${good.length} bytes long`);
  assert.ok(firstLine(cli(["generate", "--model", data, "--prompt", "hi"])).startsWith(`radixlm: error: ${data}: truncated at byte ${n} while reading tensor data: `));
});

test("bench serve against an address where nothing listens: connection refused, no tokenizer complaint, no table", () => {
  for (const extra of [[], ["--tokenizer", path.resolve("models/demo/radixlm-demo-q8_0.gguf")]]) {
    const r = cli(["bench", "serve", "--base-url", "http://127.0.0.1:1", ...extra]);
    assert.equal(firstLine(r), "radixlm: error: cannot reach http://127.0.0.1:1: connection refused (is the server running?)");
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal(r.stdout, "", "no table of zeros");
  }
});

test("an unknown command or option suggests the closest one, on one line", () => {
  assert.equal(firstLine(cli(["genrate"])), "radixlm: error: unknown command 'genrate' (Did you mean generate?)");
  assert.equal(firstLine(cli(["generate", "--max-tokenz", "3"])), "radixlm: error: unknown option '--max-tokenz' (Did you mean --max-tokens?)");
  assert.equal(firstLine(cli(["bench", "offlin"])), "radixlm: error: unknown command 'offlin' (Did you mean offline?)");
});

test("help prints numeric defaults as numbers, not strings", () => {
  const serve = cli(["serve", "--help"]);
  assert.equal(serve.code, 0);
  assert.match(serve.stdout, /--port <n>\s+port \(0: any free port\) \(default: 30000\)/);
  assert.match(serve.stdout, /\(default: "127\.0\.0\.1"\)/, "strings stay quoted");
  for (const cmd of [["serve"], ["generate"], ["perplexity"], ["make-test-model"], ["bench", "model"], ["bench", "offline"], ["bench", "serve"]]) {
    const h = cli([...cmd, "--help"]);
    assert.equal(h.code, 0, cmd.join(" "));
    assert.doesNotMatch(h.stdout.replace(/\s+/g, " "), /\(default: "(-?\d+(\.\d+)?|inf)"\)/, `${cmd.join(" ")} --help`);
  }
  assert.match(cli(["bench", "serve", "--help"]).stdout.replace(/\s+/g, " "), /\(default: inf\)/);
});
