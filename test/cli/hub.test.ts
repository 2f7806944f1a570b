// The CLI's --model from the hub: an hf: reference downloaded from a local hub (HF_ENDPOINT)
// into HF_HOME, then the same model by repo id and by cache folder, and failures as one line.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { cli } from "../helpers/cli.js";
import { cliAsync } from "../bench/cli-async.js";
import { FakeHub, filesOf } from "../helpers/fake-hub.js";
import { tempDir, testModel } from "../helpers/models.js";

let hubPromise: Promise<FakeHub> | null = null;
const hub = (): Promise<FakeHub> => (hubPromise ??= FakeHub.start());
after(async () => {
  if (hubPromise) await (await hubPromise).stop();
});

test("generate --model hf:org/name downloads into HF_HOME and generates what the local folder does", async () => {
  const h = await hub();
  const dir = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const commit = h.publish("org/cli-tiny", filesOf(dir));
  const env = { HF_HOME: path.join(tempDir(), "cli-hf-home"), HF_ENDPOINT: h.url };
  const args = ["--prompt", "The quick brown fox", "--max-tokens", "6"];
  const r = await cliAsync(["generate", "--model", "hf:org/cli-tiny", ...args], 120_000, env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /radixlm: downloaded org\/cli-tiny \(/);
  const local = cli(["generate", "--model", dir, ...args]);
  assert.equal(r.stdout, local.stdout);
  assert.ok(r.stdout.trim().length > 0);

  // then from the cache, without the hub: by repo id, by hf: reference, by cache folder
  const offline = { ...env, HF_ENDPOINT: "http://127.0.0.1:1" };
  const byId = cli(["generate", "--model", "org/cli-tiny", ...args], offline);
  assert.equal(byId.code, 0, byId.stderr);
  assert.equal(byId.stdout, local.stdout);
  assert.equal(cli(["generate", "--model", "hf:org/cli-tiny", ...args], offline).stdout, local.stdout);
  const info = cli(["info", "--model", path.join(env.HF_HOME, "hub", "models--org--cli-tiny"), "--json"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { path: string }).path, path.join(env.HF_HOME, "hub", "models--org--cli-tiny", "snapshots", commit));
  const tok = cli(["tokenize", "--model", "org/cli-tiny", "--text", "Hello"], offline);
  assert.deepEqual(JSON.parse(tok.stdout), JSON.parse(cli(["tokenize", "--model", dir, "--text", "Hello"]).stdout));
});

test("--model failures from the hub and the cache are one line and exit 2", async () => {
  const h = await hub();
  h.publish("org/cli-private", filesOf(await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 })), { token: "hf_cli" });
  const env = { HF_HOME: path.join(tempDir(), "cli-hf-fail"), HF_ENDPOINT: h.url };
  const missing = cli(["info", "--model", "org/not-cached"], env);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr,
    `radixlm: error: org/not-cached: no such file or folder, and not in the Hugging Face cache (looked in ${path.join(env.HF_HOME, "hub", "models--org--not-cached")}); to download it, use hf:org/not-cached\n`);
  const denied = await cliAsync(["info", "--model", "hf:org/cli-private"], 60_000, env);
  assert.equal(denied.code, 2);
  assert.match(denied.stderr, /^radixlm: error: hf:org\/cli-private: the hub answered 401 for .*; set HF_TOKEN to a token that can read it\n$/);
  const allowed = await cliAsync(["info", "--model", "hf:org/cli-private", "--json"], 60_000, { ...env, HF_TOKEN: "hf_cli" });
  assert.equal(allowed.code, 0, allowed.stderr);
});

test("--quiet downloads without a word on stderr", async () => {
  const h = await hub();
  const dir = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  h.publish("org/cli-quiet", filesOf(dir));
  const env = { HF_HOME: path.join(tempDir(), "cli-quiet-home"), HF_ENDPOINT: h.url };
  const r = await cliAsync(["--quiet", "info", "--model", "hf:org/cli-quiet"], 120_000, env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /architecture\s+llama/);
});
