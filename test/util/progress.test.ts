// The one progress helper: a bar redrawn in place on a terminal, nothing in a pipe or when quiet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress, progressLine, setQuiet, type ProgressStream } from "../../src/util/progress.js";

function stream(isTTY: boolean): ProgressStream & { text(): string } {
  const parts: string[] = [];
  return { isTTY, write: (s) => parts.push(s) > 0, text: () => parts.join("") };
}

test("on a terminal the bar is drawn, redrawn as it moves, and its line cleared at the end", () => {
  const out = stream(true);
  const bar = new Progress("bench serve", 4, { unit: "requests", out });
  bar.increment(1);
  bar.increment(1, "1 failed");
  assert.match(bar.line(), /^radixlm: bench serve \[#{12}\.{12}\] 2\/4 requests 50% \d+\.\ds( ETA \S+)? 1 failed$/);
  bar.stop();
  const text = out.text();
  assert.match(text, /radixlm: bench serve \[\.{24}\] 0\/4 requests 0%/, "drawn at the start");
  assert.match(text, /radixlm: bench serve \[#{12}\.{12}\] 2\/4 requests 50% .*1 failed/, "the last state drawn by stop");
  assert.ok(text.endsWith("\r\x1b[K"), "the line is cleared at the end");
});

test("in a pipe, or when quiet, nothing is written", () => {
  const piped = stream(false);
  const a = new Progress("x", 3, { out: piped });
  a.increment(2);
  a.stop();
  assert.equal(piped.text(), "");
  assert.equal(a.drawing, false);
  assert.match(a.line(), /2\/3 66%/, "the text is still there for whoever asks");

  setQuiet(true);
  try {
    const tty = stream(true);
    const b = new Progress("x", 3, { out: tty });
    b.increment(3);
    b.stop();
    assert.equal(tty.text(), "");
  } finally {
    setQuiet(false);
  }
});

test("bytes print as sizes with a rate, and an ETA while unfinished", () => {
  assert.equal(progressLine("converting", 5e6, 2e7, 2, { unit: "bytes", rate: true, status: "3/10 tensors" }),
    "radixlm: converting [######..................] 5.0 MB/20.0 MB 25% 2.5 MB/s 2.0s ETA 6s 3/10 tensors");
  assert.equal(progressLine("perplexity", 10, 10, 75, { unit: "windows" }), "radixlm: perplexity [########################] 10/10 windows 100% 1m15s");
});

test("work done before the job began (a resumed download) counts toward done, not the rate", () => {
  // 8 MB of 10 were on disk; 1 MB more came in 1 s: 1 MB/s, and 1 MB left at that rate.
  const line = progressLine("downloading x", 9e6, 10e6, 1, { unit: "bytes", rate: true, base: 8e6 });
  assert.match(line, /9\.0 MB\/10\.0 MB 90% 1\.0 MB\/s 1\.0s ETA 1s/);
});
