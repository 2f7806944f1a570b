// --speculative and --speculative-max-draft on the command line: checked, and outputs the same
// with speculation on and off.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli } from "../helpers/cli.js";

const T = { timeout: 120_000 };

test("generate: the same text with --speculative ngram and off, and the --stats line counts accepted drafts", T, () => {
  const prompt = "Once upon a time, there was a little cat named Lily. Once upon a time, there was";
  // ngram is the default.
  const on = cli(["generate", "--prompt", prompt, "--max-tokens", "40", "--temperature", "0", "--stats"]);
  assert.equal(on.code, 0, on.stderr);
  const off = cli(["generate", "--prompt", prompt, "--max-tokens", "40", "--temperature", "0", "--stats", "--speculative", "off"]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(on.stdout, off.stdout);
  assert.match(on.stderr, /\d+ of \d+ drafted tokens accepted/);
  assert.doesNotMatch(off.stderr, /drafted/);
});

test("bad --speculative values are usage errors that name the flag", T, () => {
  for (const [args, message] of [
    [["--speculative", "eagle"], /--speculative must be ngram or off, got "eagle"/],
    [["--speculative-max-draft", "0"], /--speculative-max-draft must be an integer >= 1, got "0"/],
    [["--speculative-max-draft", "65"], /--speculative-max-draft must be at most 64, got 65/],
  ] as const) {
    for (const cmd of [["generate", "--prompt", "Hi"], ["serve", "--port", "0"]]) {
      const r = cli([...cmd, ...args]);
      assert.equal(r.code, 2, `${cmd[0]} ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  }
});
