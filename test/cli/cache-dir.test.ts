// serve --cache-dir: a pool too small for the prompts keeps evicted prefixes on disk and loads
// them back (the disk tier's counts in /get_server_info), and answers as without it.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { get, post, spawnServe } from "../server/harness.js";

test("serve --cache-dir loads evicted prefixes back from disk", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-cache-dir-"));
  const plain = await spawnServe(["--max-total-tokens", "2048"]);
  const child = await spawnServe(["--max-total-tokens", "96", "--cache-dir", dir, "--cache-disk-size", String(64 << 20)]);
  try {
    const prefix = (k: number): number[] => Array.from({ length: 40 }, (_, i) => ((i * 7 + k * 13) % 200) + 5);
    for (const [i, k] of [0, 1, 2, 0, 1, 2].entries()) {
      const body = { input_ids: [...prefix(k), 300 + i], sampling_params: { max_new_tokens: 4, temperature: 0, ignore_eos: true } };
      const a = await post(`${child.url}/generate`, body);
      const b = await post(`${plain.url}/generate`, body);
      assert.equal(a.status, 200);
      assert.equal(a.body.output_ids.length, 4);
      assert.deepEqual(a.body.output_ids, b.body.output_ids, `prompt ${i}`);
      await new Promise((r) => setTimeout(r, 150)); // the writer stores what it left
    }
    const info = await get(`${child.url}/get_server_info`);
    assert.ok(info.body.disk_tier.loadedTokens >= 40, JSON.stringify(info.body.disk_tier));
    assert.ok(fs.readdirSync(dir).some((f) => f.endsWith(".kv")));
  } finally {
    child.kill("SIGTERM");
    plain.kill("SIGTERM");
    await Promise.all([child.exit, plain.exit]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
