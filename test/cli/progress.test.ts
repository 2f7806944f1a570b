// Long commands draw a progress bar on a terminal (a pseudo-terminal made by util-linux's
// `script`), and write nothing of it in a pipe or with --quiet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/models.js";

const BIN = path.resolve(process.cwd(), "bin/radixlm.js");
const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;

/** The CLI on a pseudo-terminal: stdout and stderr together, as the terminal shows them. */
function onTerminal(args: string[]): { code: number | null; out: string } {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const r = spawnSync("script", ["-qfec", quoted, "/dev/null"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, COLUMNS: "160" } });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout };
}

test("make-test-model and convert draw a bar on a terminal, cleared before the summary line", { skip: !hasScript && "no `script` (util-linux) here" }, () => {
  const dir = tempDir();
  const made = onTerminal(["make-test-model", "--out", path.join(dir, "a.gguf"), "--dtype", "q8_0"]);
  assert.equal(made.code, 0, made.out);
  assert.match(made.out, /radixlm: writing tiny q8_0 \[#{24}\] [\d.]+ MB\/[\d.]+ MB 100% .*21\/21 tensors/);
  assert.match(made.out, /\r\x1b\[Kwrote .*a\.gguf: llama gguf q8_0/, "the bar's line is cleared, then the summary");

  const conv = onTerminal(["convert", "--model", path.join(dir, "a.gguf"), "--out", path.join(dir, "b.gguf"), "--dtype", "q4_K"]);
  assert.equal(conv.code, 0, conv.out);
  assert.match(conv.out, /radixlm: converting to q4_K \[#{24}\] [\d.]+ [KMG]?B\/[\d.]+ [KMG]?B 100% [\d.]+ [KMG]?B\/s .*tensors/);

  const quiet = onTerminal(["--quiet", "make-test-model", "--out", path.join(dir, "c.gguf")]);
  assert.equal(quiet.code, 0, quiet.out);
  assert.doesNotMatch(quiet.out, /radixlm: writing/);
  assert.match(quiet.out, /^wrote /);
  const quietAfter = onTerminal(["make-test-model", "--out", path.join(dir, "d.gguf"), "-q"]);
  assert.doesNotMatch(quietAfter.out, /radixlm: writing/, "--quiet after the command name too");
});

test("in a pipe no progress is written: stderr stays empty", () => {
  const dir = tempDir();
  const made = cli(["make-test-model", "--out", path.join(dir, "a.gguf"), "--dtype", "q8_0"]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(made.stderr, "");
  const conv = cli(["convert", "--model", path.join(dir, "a.gguf"), "--out", path.join(dir, "b.gguf")]);
  assert.equal(conv.code, 0, conv.stderr);
  assert.equal(conv.stderr, "");
});

test("perplexity and bench offline draw their bars on a terminal: windows with the running perplexity, phases of the runs", { skip: !hasScript && "no `script` (util-linux) here" }, () => {
  const text = path.join(tempDir(), "text.txt");
  fs.writeFileSync(text, fs.readFileSync(path.resolve("models/demo/heldout.txt"), "utf8").slice(0, 2000));
  const ppl = onTerminal(["perplexity", "--file", text, "--window", "64"]);
  assert.equal(ppl.code, 0, ppl.out);
  assert.match(ppl.out, /radixlm: perplexity \[#{24}\] (\d+)\/\1 windows 100% .*running perplexity \d+\.\d{3}/);
  assert.match(ppl.out, /\r\x1b\[Kperplexity \d+\.\d{4} \(/);

  const off = onTerminal(["bench", "offline", "--groups", "1", "--prompts-per-group", "2", "--output-len", "4"]);
  assert.equal(off.code, 0, off.out);
  for (const phase of ["run 1/2: cache on", "run 2/2: cache off", "measuring the kernels for the bound"]) {
    assert.match(off.out, new RegExp(`radixlm: bench offline \\[[#.]{24}\\] \\d+/5 steps \\d+% .*${phase}`), phase);
  }
  assert.match(off.out, /\r\x1b\[Krun +reqs +time s +out tok\/s/);

  // --compare speculative: each round's three runs, by name.
  const spec = onTerminal(["bench", "offline", "--workload", "edit", "--groups", "1", "--prompts-per-group", "2", "--compare", "speculative", "--rounds", "1"]);
  assert.equal(spec.code, 0, spec.out);
  for (const phase of ["run 1/3: off", "run 2/3: ngram", "run 3/3: bound"]) {
    assert.match(spec.out, new RegExp(`radixlm: bench offline \\[[#.]{24}\\] \\d+/6 requests \\d+% .*${phase}`), phase);
  }

  const piped = cli(["bench", "offline", "--groups", "1", "--prompts-per-group", "2", "--output-len", "4"]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.doesNotMatch(piped.stderr, /bench offline \[/);
});
