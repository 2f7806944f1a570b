// npm test's reporter: tests skipped for want of the shared test data are summed up in one
// line at the end instead of one line each; other skips and failures are shown as ever, and a
// failure still makes the run exit non-zero.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/models.js";

const REPORTER = path.resolve(process.cwd(), "dist-test/test/helpers/shared-data-reporter.js");

function runTests(source: string): { code: number | null; out: string } {
  const file = path.join(tempDir(), "sample.test.mjs");
  fs.writeFileSync(file, source);
  // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_TEST_CONTEXT"));
  const r = spawnSync(process.execPath, ["--test", `--test-reporter=${REPORTER}`, file], { encoding: "utf8", timeout: 60_000, env });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout };
}

const SAMPLE = `
import { test, describe } from "node:test";
test("plain", () => {});
test("needs templates", { skip: "no shared chat templates" }, () => {});
test("needs vocab", (t) => t.skip("shared test data not found (expected ../shared/testdata/vocab from the project root)"));
describe("a suite", () => {
  test("needs more data", { skip: "no shared test data at /x" }, () => {});
  test("inner ok", () => {});
});
describe("a skipped suite", { skip: "chat templates not found at /y (the shared test data is absent)" }, () => { test("z", () => {}); });
test("needs zeromq", { skip: "zeromq is not installed" }, () => {});
`;

test("skips for missing shared data: one summary line, not one line each", () => {
  const r = runTests(SAMPLE);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /needs templates|needs vocab|needs more data|a skipped suite/, "no line per skipped test");
  assert.match(r.out, /✔ plain/);
  assert.match(r.out, /✔ inner ok/);
  assert.match(r.out, /﹣ needs zeromq .*# zeromq is not installed/, "other skips are listed as ever");
  const summary = r.out.split("\n").filter((l) => l.includes("shared test data is absent"));
  assert.deepEqual(summary, ["ℹ 4 tests skipped: the shared test data is absent; put it at ../shared/testdata (beside this checkout, as ../shared/testdata/README.md describes) to run them"]);
  assert.ok(r.out.trimEnd().endsWith(summary[0]!), "at the very end");
});

test("a failing test still fails the run, and no summary without such skips", () => {
  const r = runTests(`import { test } from "node:test";\ntest("ok", () => {});\ntest("broken", () => { throw new Error("boom"); });\n`);
  assert.equal(r.code, 1);
  assert.match(r.out, /✖ broken/);
  assert.match(r.out, /boom/);
  assert.doesNotMatch(r.out, /shared test data/);
});
