import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressBar } from "../../src/bench/progress.js";

test("the progress bar draws on a terminal and stays silent elsewhere", () => {
  const tty: string[] = [];
  const bar = new ProgressBar(4, { isTTY: true, write: (s) => tty.push(s) > 0 });
  bar.tick(true);
  bar.tick(false);
  bar.close();
  assert.match(tty[0]!, /^\r\x1b\[K\[#{8}\.{22}\] 1\/4 requests /);
  assert.match(tty[1]!, /^\r\x1b\[K\[#{15}\.{15}\] 2\/4 requests, 1 failed /);
  assert.equal(tty[tty.length - 1], "\r\x1b[K", "the line is cleared at the end");

  const piped: string[] = [];
  const quiet = new ProgressBar(4, { isTTY: false, write: (s) => piped.push(s) > 0 });
  quiet.tick(true);
  quiet.close();
  assert.deepEqual(piped, []);
  assert.match(quiet.line(), /1\/4 requests/);
});
