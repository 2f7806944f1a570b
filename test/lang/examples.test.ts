import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { modelPath, start } from "../server/harness.js";

const run = promisify(execFile);
const examples = ["few-shot-classification", "tree-of-thought", "react-agent", "json-extraction"];

for (const name of examples) {
  test(`examples/${name}.mjs runs on a test model and reports its cache hit rate, with the cache on and off`, async () => {
    const model = await modelPath();
    const on = await run(process.execPath, [`examples/${name}.mjs`, "--model", model], { timeout: 120_000 });
    const rate = /cache hit rate: ([\d.]+)% of prompt tokens; wall time [\d.]+ s/.exec(on.stdout);
    assert.ok(rate, on.stdout);
    assert.ok(Number(rate[1]) > 30, `hit rate ${rate[1]}%`);
    const off = await run(process.execPath, [`examples/${name}.mjs`, "--model", model, "--no-cache"], { timeout: 120_000 });
    assert.match(off.stdout, /cache hit rate: 0\.0% of prompt tokens/);
  });
}

test("an example gives the same output through --endpoint as in-process", async () => {
  const model = await modelPath();
  const srv = await start();
  try {
    const local = await run(process.execPath, ["examples/json-extraction.mjs", "--model", model], { timeout: 120_000 });
    const remote = await run(process.execPath, ["examples/json-extraction.mjs", "--endpoint", srv.url, "--model", model], { timeout: 120_000 });
    const results = (out: string): string[] => out.split("\n").filter((l) => l.startsWith("  -> "));
    assert.equal(results(local.stdout).length, 4);
    assert.deepEqual(results(remote.stdout), results(local.stdout));
    assert.match(remote.stdout, /cache hit rate: [\d.]+% of prompt tokens/);
  } finally {
    await srv.close();
  }
});
