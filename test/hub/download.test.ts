// hf: references downloaded from a hub on 127.0.0.1 that speaks the real hub's URL layout:
// the cache left as huggingface_hub leaves it, resumed transfers, hash checks, auth, offline
// reuse, GGUF choice and split GGUF repos, and each failure as one line.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { resolveModel, type ResolveOptions } from "../../src/hub/resolve.js";
import { Engine } from "../../src/engine/engine.js";
import { loadModel } from "../../src/model/load.js";
import { makeTestModel } from "../../src/model/test-model.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { FakeHub, filesOf, gitOid, type HubFile } from "../helpers/fake-hub.js";
import { tempDir, testModel } from "../helpers/models.js";
import { logitsByChunks, range } from "../helpers/run.js";

let hubPromise: Promise<FakeHub> | null = null;
const hub = (): Promise<FakeHub> => (hubPromise ??= FakeHub.start());
after(async () => {
  if (hubPromise) await (await hubPromise).stop();
});

let homes = 0;
/** A fresh HF_HOME pointed at the fake hub (and the options a test resolves with). */
async function setup(extra: Record<string, string> = {}): Promise<{ home: string; opts: ResolveOptions }> {
  const home = path.join(tempDir(), `hf-home-${++homes}`);
  return { home, opts: { env: { HF_HOME: home, HF_ENDPOINT: (await hub()).url, ...extra }, retries: 0 } };
}

async function message(p: Promise<unknown>): Promise<string> {
  let msg = "";
  await assert.rejects(p, (err: unknown) => {
    msg = (err as Error).message;
    return err instanceof Error;
  });
  assert.equal(msg.split("\n").length, 1, msg);
  return msg;
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** The tiny HF model, with weights of other formats and an onnx/ folder beside it, as many repos have. */
async function hfRepoFiles(): Promise<HubFile[]> {
  const dir = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  return [
    ...filesOf(dir),
    { path: "pytorch_model.bin", data: Buffer.alloc(1000, 1), lfs: true },
    { path: "onnx/model.onnx", data: Buffer.alloc(1000, 2), lfs: true },
    { path: "README.md", data: Buffer.from("# tiny\n"), lfs: false },
  ];
}

test("hf:org/name downloads the model's files into the standard cache layout, and the engine runs it", async () => {
  const h = await hub();
  const files = await hfRepoFiles();
  const commit = h.publish("org/tiny-hf", files);
  const { home, opts } = await setup();
  const lines: string[] = [];
  const dir = await resolveModel("hf:org/tiny-hf", { ...opts, progress: { write: (s) => (lines.push(s), true) } });
  const folder = path.join(home, "hub", "models--org--tiny-hf");
  assert.equal(dir, path.join(folder, "snapshots", commit));
  assert.equal(fs.readFileSync(path.join(folder, "refs", "main"), "utf8"), commit);
  const weights = files.find((f) => f.path === "model.safetensors")!;
  const config = files.find((f) => f.path === "config.json")!;
  // LFS files by sha256, the rest by git hash, linked relatively from the snapshot
  assert.equal(fs.readlinkSync(path.join(dir, "model.safetensors")), `../../blobs/${sha256(weights.data)}`);
  assert.equal(fs.readlinkSync(path.join(dir, "config.json")), `../../blobs/${gitOid(config.data)}`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  assert.ok(!fs.readdirSync(path.join(folder, "blobs")).some((b) => b.endsWith(".incomplete")));
  assert.equal(h.dataRequests("org/tiny-hf", "pytorch_model.bin").length + h.dataRequests("org/tiny-hf", "onnx/model.onnx").length, 0);
  // progress on a log: plain lines, and a summary
  assert.match(lines[0]!, /^radixlm: downloading org\/tiny-hf \S+ \[[#.]+\] \d+% /);
  assert.match(lines.at(-1)!, /^radixlm: downloaded org\/tiny-hf \(\d+(\.\d)? [KM]?B in \d+\.\ds\)\n$/);

  const engine = await Engine.create({ model: dir, backend: referenceBackend, maxTotalTokens: 64 });
  try {
    const r = await engine.complete({ prompt: "Hello", params: { maxNewTokens: 2, ignoreEos: true } });
    assert.equal(r.samples[0]!.tokenIds.length, 2);
  } finally {
    await engine.close();
  }

  // a second run takes it from the cache: refs/main first, nothing asked of the hub
  const before = h.requests.length;
  assert.equal(await resolveModel("hf:org/tiny-hf", opts), dir);
  assert.equal(await resolveModel("org/tiny-hf", opts), dir);
  assert.equal(h.requests.length, before);
});

test("a broken transfer resumes with a Range request, in the next run or within the same one", async () => {
  const h = await hub();
  const files = await hfRepoFiles();
  h.publish("org/resume", files);
  const weights = files.find((f) => f.path === "model.safetensors")!;
  const cutAt = Math.floor(weights.data.length / 3);
  h.cuts.set("model.safetensors", { after: cutAt, times: 1 });
  const { home, opts } = await setup();
  const folder = path.join(home, "hub", "models--org--resume");
  const part = path.join(folder, "blobs", `${sha256(weights.data)}.incomplete`);
  const err = await message(resolveModel("hf:org/resume", opts));
  assert.match(err, new RegExp(`^hf:org/resume: model\\.safetensors: the download broke off at .* of .* \\(.*\\); run again to resume from ${part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
  assert.equal(fs.statSync(part).size, cutAt);
  assert.ok(!fs.existsSync(path.join(folder, "snapshots")), "nothing is linked before every file is in");

  const dir = await resolveModel("hf:org/resume", opts);
  const resumed = h.cdnRequests("org/resume", "model.safetensors").map((q) => q.range);
  assert.deepEqual(resumed, [undefined, `bytes=${cutAt}-`]);
  assert.ok(fs.readFileSync(path.join(dir, "model.safetensors")).equals(weights.data));
  assert.ok(!fs.existsSync(part));

  // with retries left, the same run goes on where the connection broke
  h.publish("org/resume-now", files);
  h.cuts.set("model.safetensors", { after: cutAt, times: 1 });
  const again = await setup();
  const dir2 = await resolveModel("hf:org/resume-now", { ...again.opts, retries: 2 });
  assert.ok(fs.readFileSync(path.join(dir2, "model.safetensors")).equals(weights.data));
  assert.deepEqual(h.cdnRequests("org/resume-now", "model.safetensors").map((q) => q.range), [undefined, `bytes=${cutAt}-`]);
});

test("a transfer that stalls is broken off after the stall timeout", async () => {
  const h = await hub();
  const files = await hfRepoFiles();
  h.publish("org/stall", files);
  h.stalls.set("model.safetensors", 100);
  try {
    const { opts } = await setup();
    assert.match(await message(resolveModel("hf:org/stall", { ...opts, stallTimeoutSeconds: 0.3 })),
      /^hf:org\/stall: model\.safetensors: the download broke off at 100 B of .* \(no data for 0\.3s\); run again to resume/);
  } finally {
    h.stalls.delete("model.safetensors");
  }
});

test("a corrupted byte fails the sha256 check, leaves nothing in snapshots, and a rerun starts afresh", async () => {
  const h = await hub();
  const files = await hfRepoFiles();
  h.publish("org/corrupt", files);
  const weights = files.find((f) => f.path === "model.safetensors")!;
  h.corrupt.add("model.safetensors");
  const { home, opts } = await setup();
  const folder = path.join(home, "hub", "models--org--corrupt");
  try {
    const err = await message(resolveModel("hf:org/corrupt", opts));
    assert.match(err, new RegExp(`^hf:org/corrupt: model\\.safetensors: the downloaded data does not match the hub's sha256 \\(expected ${sha256(weights.data)}, got [0-9a-f]{64}\\); the partial file was deleted`));
    assert.ok(!fs.existsSync(path.join(folder, "snapshots")));
    assert.ok(!fs.existsSync(path.join(folder, "blobs", sha256(weights.data))));
    assert.ok(!fs.readdirSync(path.join(folder, "blobs")).some((b) => b.endsWith(".incomplete")));
  } finally {
    h.corrupt.delete("model.safetensors");
  }
  // a small (non-LFS) file is checked against its git hash
  h.corrupt.add("tokenizer.json");
  try {
    assert.match(await message(resolveModel("hf:org/corrupt", opts)), /^hf:org\/corrupt: tokenizer\.json: the downloaded data does not match the hub's git hash/);
  } finally {
    h.corrupt.delete("tokenizer.json");
  }
  const dir = await resolveModel("hf:org/corrupt", opts);
  assert.ok(fs.readFileSync(path.join(dir, "model.safetensors")).equals(weights.data));
});

test("missing repos, revisions and files are one line each", async () => {
  const h = await hub();
  h.publish("org/gguf-two", [
    ...filesOf(await testModel("tiny-gguf-q8", { arch: "qwen2", format: "gguf", dtype: "q8_0", seed: 2 }), { "tiny-gguf-q8.gguf": "tiny-Q8_0.gguf" }),
    ...filesOf(await testModel("tiny-gguf-f16", { arch: "qwen2", format: "gguf", dtype: "f16", seed: 2 }), { "tiny-gguf-f16.gguf": "tiny-F16.gguf" }),
  ]);
  const { opts } = await setup({ HF_TOKEN: "hf_anything" });
  assert.equal(await message(resolveModel("hf:org/no-such-repo", opts)),
    `hf:org/no-such-repo: ${h.url} has no model repo org/no-such-repo at revision main (404: Repository not found)`);
  assert.equal(await message(resolveModel("hf:org/gguf-two@v9", opts)),
    `hf:org/gguf-two@v9: ${h.url} has no model repo org/gguf-two at revision v9 (404: Revision Not Found)`);
  assert.equal(await message(resolveModel("hf:org/gguf-two/tiny-Q4_0.gguf", opts)),
    "hf:org/gguf-two/tiny-Q4_0.gguf: org/gguf-two has no file tiny-Q4_0.gguf at revision main (its GGUF files: tiny-F16.gguf, tiny-Q8_0.gguf)");
  assert.equal(await message(resolveModel("hf:org/gguf-two", opts)),
    "hf:org/gguf-two: holds 2 GGUF models; name one: hf:org/gguf-two/tiny-F16.gguf, hf:org/gguf-two/tiny-Q8_0.gguf");
  assert.equal(await message(resolveModel("hf:org/gguf-two:Q5_K_M", opts)),
    "hf:org/gguf-two:Q5_K_M: no GGUF file has \"Q5_K_M\" in its name (there are: hf:org/gguf-two/tiny-F16.gguf, hf:org/gguf-two/tiny-Q8_0.gguf)");
  // the tag picks one file, and only that one is fetched
  const file = await resolveModel("hf:org/gguf-two:q8_0", opts);
  assert.equal(path.basename(file), "tiny-Q8_0.gguf");
  assert.equal(h.dataRequests("org/gguf-two", "tiny-F16.gguf").length, 0);
  assert.equal((await loadModel(file)).format, "gguf");
  // the hub cannot be reached (a port that was just free)
  const gone = await FakeHub.start();
  const goneUrl = gone.url;
  await gone.stop();
  const dead = await setup({ HF_ENDPOINT: goneUrl });
  assert.equal(await message(resolveModel("hf:org/gguf-two", dead.opts)),
    `hf:org/gguf-two: cannot reach the hub at ${goneUrl} (ECONNREFUSED); check the connection or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`);
});

test("a hub that lists paths stepping out of the snapshot gets nothing written outside the cache", async () => {
  const h = await hub();
  const gguf = filesOf(await testModel("tiny-gguf-q8", { arch: "qwen2", format: "gguf", dtype: "q8_0", seed: 2 }))[0]!.data;
  h.publish("org/escape", [
    { path: "../escape-Q8_0.gguf", data: gguf, lfs: true },
    { path: "sub/../../up-Q8_0.gguf", data: gguf, lfs: true },
    { path: "ok-Q8_0.gguf", data: gguf, lfs: true },
  ]);
  const { home, opts } = await setup();
  // the unsafe names are not offered, as if the hub had not listed them
  assert.equal(await message(resolveModel("hf:org/escape:escape", opts)),
    "hf:org/escape:escape: no GGUF file has \"escape\" in its name (there are: hf:org/escape/ok-Q8_0.gguf)");
  const file = await resolveModel("hf:org/escape", opts);
  assert.equal(path.basename(file), "ok-Q8_0.gguf");
  const hubDir = path.join(home, "hub");
  const outside = fs.readdirSync(path.dirname(home)).filter((f) => /escape|up-Q8/.test(f));
  assert.deepEqual(outside, []);
  assert.deepEqual(fs.readdirSync(hubDir), ["models--org--escape"]);
});

test("a private repo needs HF_TOKEN, and is fetched with it", async () => {
  const h = await hub();
  h.publish("org/private", await hfRepoFiles(), { token: "hf_secret" });
  const anon = await setup();
  assert.equal(await message(resolveModel("hf:org/private", anon.opts)),
    "hf:org/private: the hub answered 401 for model repo org/private at revision main: the repo is private or gated (or does not exist); set HF_TOKEN to a token that can read it");
  const wrong = await setup({ HF_TOKEN: "hf_wrong" });
  assert.match(await message(resolveModel("hf:org/private", wrong.opts)), /^hf:org\/private: the hub refused the token in HF_TOKEN \(401\)/);
  const ok = await setup({ HF_TOKEN: "hf_secret" });
  const dir = await resolveModel("hf:org/private", ok.opts);
  assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
  assert.ok(h.dataRequests("org/private", "model.safetensors").some((q) => q.authorization === "Bearer hf_secret"));
});

test("offline: HF_HUB_OFFLINE never touches the network, and a stopped hub leaves the cache usable", async () => {
  const h = await FakeHub.start();
  const files = await hfRepoFiles();
  const commit = h.publish("org/offline", files);
  const { opts } = await setup();
  const env = { ...opts.env, HF_ENDPOINT: h.url };
  const dir = await resolveModel("hf:org/offline", { ...opts, env });
  assert.ok(dir.endsWith(commit));
  await h.stop();
  assert.equal(await resolveModel("hf:org/offline", { ...opts, env }), dir);
  assert.equal(await resolveModel(`hf:org/offline@${commit}`, { ...opts, env }), dir);
  const n = h.requests.length;
  assert.match(await message(resolveModel("hf:org/other", { ...opts, env: { ...env, HF_HUB_OFFLINE: "1" } })),
    /^hf:org\/other: not in the Hugging Face cache \(looked in .*models--org--other\), and HF_HUB_OFFLINE is set$/);
  assert.equal(h.requests.length, n);
});

test("a full disk is one line naming the file being written", async () => {
  const h = await hub();
  const files = await hfRepoFiles();
  h.publish("org/full", files);
  const weights = files.find((f) => f.path === "model.safetensors")!;
  const { home, opts } = await setup();
  const blobs = path.join(home, "hub", "models--org--full", "blobs");
  fs.mkdirSync(blobs, { recursive: true });
  // /dev/full answers every write with ENOSPC
  const part = path.join(blobs, `${sha256(weights.data)}.incomplete`);
  fs.symlinkSync("/dev/full", part);
  assert.match(await message(resolveModel("hf:org/full", opts)),
    /^hf:org\/full: model\.safetensors: no space left on the device writing .*\.incomplete \(.* still to come\); free some space, or set HF_HUB_CACHE to another disk/);
});

test("a split GGUF downloads all its parts and runs exactly as the unsplit file", async () => {
  const h = await hub();
  const whole = await testModel("split-dl-whole", { arch: "llama", format: "gguf", dtype: "q8_0", seed: 12 });
  const split = await makeTestModel({ arch: "llama", format: "gguf", dtype: "q8_0", seed: 12, out: path.join(tempDir(), "dl-split", "tiny-Q8_0.gguf"), splitMaxTensors: 7 });
  const parts = fs.readdirSync(path.dirname(split.path)).sort();
  assert.ok(parts.length >= 2);
  h.publish("org/split", [
    ...filesOf(path.dirname(split.path)),
    ...filesOf(whole, { "split-dl-whole.gguf": "other-F32.gguf" }),
  ]);
  const { opts } = await setup();
  const first = await resolveModel(`hf:org/split/${parts[0]}`, opts);
  assert.equal(path.basename(first), parts[0]);
  for (const p of parts) assert.ok(fs.existsSync(path.join(path.dirname(first), p)), p);
  assert.equal(h.dataRequests("org/split", "other-F32.gguf").length, 0);
  // naming a later part, or the tag, finds the same (cached) model
  assert.equal(await resolveModel(`hf:org/split/${parts.at(-1)}`, opts), first);
  assert.equal(await resolveModel("hf:org/split:Q8_0", opts), first);

  const tokens = [5, 300, 17, 900, 42, 7];
  const logitsOf = async (file: string): Promise<Float32Array[]> => {
    const m = await loadModel(file);
    const runner = referenceBackend.createRunner(m, { capacity: 16, dtype: "f32" });
    try {
      return await logitsByChunks(runner, tokens, tokens.length, range(0, tokens.length));
    } finally {
      runner.close();
      m.close();
    }
  };
  const a = await logitsOf(first);
  const b = await logitsOf(whole);
  a.forEach((row, i) => assert.deepEqual(row, b[i], `position ${i}`));
  const gen = async (model: string): Promise<number[]> => {
    const e = await Engine.create({ model, backend: referenceBackend, maxTotalTokens: 64 });
    try {
      return (await e.complete({ inputIds: tokens, params: { maxNewTokens: 4, ignoreEos: true } })).samples[0]!.tokenIds;
    } finally {
      await e.close();
    }
  };
  assert.deepEqual(await gen(first), await gen(whole));
});

test("a terminal gets the shared bar, redrawn in place, with the file it fetches", async () => {
  const h = await hub();
  h.publish("org/tty", await hfRepoFiles());
  const { opts } = await setup();
  let out = "";
  await resolveModel("hf:org/tty", { ...opts, progress: { isTTY: true, write: (s) => ((out += s), true) } });
  assert.match(out, /radixlm: downloading org\/tty \[[#.]{24}\] [\d.]+ [KM]?B\/6\.\d MB \d+% .*model\.safetensors/);
  assert.match(out, /\r\x1b\[Kradixlm: downloaded org\/tty/);
});
