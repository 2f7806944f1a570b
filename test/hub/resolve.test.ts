// --model from where users keep models, with no network: Hugging Face cache folders, their
// snapshots, repo ids looked up in the cache (environment precedence, revisions, missing refs),
// and folders holding GGUF files.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveModel } from "../../src/hub/resolve.js";
import { hubCacheDir, hubSettings } from "../../src/hub/settings.js";
import { parseRepoRef } from "../../src/hub/repo-ref.js";
import { HubError } from "../../src/hub/errors.js";
import { loadModel } from "../../src/model/load.js";
import { makeTestModel } from "../../src/model/test-model.js";
import { filesOf } from "../helpers/fake-hub.js";
import { commitOf, layOutCache } from "../helpers/hub-cache.js";
import { tempDir, testModel } from "../helpers/models.js";

const C1 = commitOf("one");
const C2 = commitOf("two");

function freshHome(name: string): { home: string; cache: string } {
  const home = path.join(tempDir(), name);
  return { home, cache: path.join(home, "hub") };
}

async function message(p: Promise<unknown>): Promise<string> {
  let msg = "";
  await assert.rejects(p, (err: unknown) => {
    msg = (err as Error).message;
    return err instanceof Error;
  });
  return msg;
}

test("repo references parse as huggingface_hub and node-llama-cpp write them", () => {
  assert.deepEqual(parseRepoRef("Qwen/Qwen2.5-0.5B-Instruct"),
    { text: "Qwen/Qwen2.5-0.5B-Instruct", repo: "Qwen/Qwen2.5-0.5B-Instruct", file: null, quant: null, revision: null, download: false });
  assert.deepEqual(parseRepoRef("hf:org/name/sub/m-00001-of-00002.gguf@v1.0"),
    { text: "hf:org/name/sub/m-00001-of-00002.gguf@v1.0", repo: "org/name", file: "sub/m-00001-of-00002.gguf", quant: null, revision: "v1.0", download: true });
  assert.equal(parseRepoRef("hf:org/name:Q4_K_M")?.quant, "Q4_K_M");
  assert.equal(parseRepoRef("hf:org/name:Q4_K_M@main")?.revision, "main");
  for (const bad of ["model.gguf", "/abs/path", "./org/name", "org/../x", "hf:org", "org/name@", "org/name/a/../b", "-x/y"]) {
    assert.equal(parseRepoRef(bad), null, bad);
  }
});

test("the cache folder follows huggingface_hub's environment precedence", () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: "/a/hub", HF_HOME: "/b", XDG_CACHE_HOME: "/c" }), "/a/hub");
  assert.equal(hubCacheDir({ HUGGINGFACE_HUB_CACHE: "/old", HF_HOME: "/b" }), "/old");
  assert.equal(hubCacheDir({ HF_HOME: "/b", XDG_CACHE_HOME: "/c" }), "/b/hub");
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: "/c" }), "/c/huggingface/hub");
  assert.equal(hubCacheDir({}), path.join(os.homedir(), ".cache", "huggingface", "hub"));
  assert.equal(hubCacheDir({ HF_HOME: "~/hf" }), path.join(os.homedir(), "hf", "hub"));
  const s = hubSettings({ HF_ENDPOINT: "http://mirror.example/", HF_HUB_OFFLINE: "1", HF_TOKEN: "hf_x" });
  assert.deepEqual([s.endpoint, s.offline, s.token], ["http://mirror.example", true, "hf_x"]);
  // the token `huggingface-cli login` saves
  const { home } = freshHome("token-home");
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, "token"), "hf_saved\n");
  assert.equal(hubSettings({ HF_HOME: home }).token, "hf_saved");
  assert.equal(hubSettings({ HF_HOME: home, HF_TOKEN: "hf_env" }).token, "hf_env");
});

test("an HF cache folder resolves to refs/main's snapshot, or the only or newest one without refs", async () => {
  const hf = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const { cache } = freshHome("cache-folder");
  const folder = layOutCache(cache, "org/tiny", C1, filesOf(hf), { main: C1 });
  layOutCache(cache, "org/tiny", C2, filesOf(hf));
  const snap1 = path.join(folder, "snapshots", C1);
  const snap2 = path.join(folder, "snapshots", C2);
  assert.equal(await resolveModel(folder), snap1);
  // the snapshot folder itself is an HF folder
  assert.equal(await resolveModel(snap2), snap2);
  // without refs/: the newest snapshot
  fs.rmSync(path.join(folder, "refs"), { recursive: true });
  fs.utimesSync(snap1, new Date(), new Date(Date.now() - 60_000));
  assert.equal(await resolveModel(folder), snap2);
  fs.rmSync(snap1, { recursive: true });
  assert.equal(await resolveModel(folder), snap2);
  // and it loads, through the symlinks, as the folder it came from
  const m = await loadModel(await resolveModel(folder));
  const ref = await loadModel(hf);
  assert.deepEqual(m.tokenizer.encode("Hello world"), ref.tokenizer.encode("Hello world"));
  assert.equal(m.weights.size, ref.weights.size);
  m.close();
  ref.close();

  const empty = path.join(cache, "models--org--empty");
  fs.mkdirSync(path.join(empty, "snapshots"), { recursive: true });
  assert.match(await message(resolveModel(empty)), /models--org--empty: a Hugging Face cache folder with no snapshot in it/);
});

test("a repo id is looked up in the cache, by revision, with the environment's precedence", async () => {
  const hf = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const a = freshHome("repo-id-a");
  const b = freshHome("repo-id-b");
  const folderA = layOutCache(a.cache, "org/tiny", C1, filesOf(hf), { main: C1, "v1.0": C1 });
  const folderB = layOutCache(b.cache, "org/tiny", C2, filesOf(hf), { main: C2 });
  assert.equal(await resolveModel("org/tiny", { env: { HF_HOME: a.home } }), path.join(folderA, "snapshots", C1));
  // HF_HUB_CACHE wins over HF_HOME
  assert.equal(await resolveModel("org/tiny", { env: { HF_HOME: a.home, HF_HUB_CACHE: b.cache } }), path.join(folderB, "snapshots", C2));
  // revisions: a tag through refs/, a commit by its snapshot
  assert.equal(await resolveModel("org/tiny@v1.0", { env: { HF_HOME: a.home } }), path.join(folderA, "snapshots", C1));
  assert.equal(await resolveModel(`org/tiny@${C2}`, { env: { HF_HOME: b.home } }), path.join(folderB, "snapshots", C2));
  assert.equal(await message(resolveModel("org/tiny@v2", { env: { HF_HOME: a.home } })),
    `org/tiny@v2: no such file or folder, and not in the Hugging Face cache (looked in ${folderA} for revision v2); to download it, use hf:org/tiny@v2`);
  const missing = path.join(a.cache, "models--org--other");
  const err = await message(resolveModel("org/other", { env: { HF_HOME: a.home } }));
  assert.equal(err, `org/other: no such file or folder, and not in the Hugging Face cache (looked in ${missing}); to download it, use hf:org/other`);
  // refs/main missing: the only snapshot
  fs.rmSync(path.join(folderB, "refs"), { recursive: true });
  assert.equal(await resolveModel("org/tiny", { env: { HF_HUB_CACHE: b.cache } }), path.join(folderB, "snapshots", C2));
  // a snapshot missing a shard is not taken for the model
  fs.rmSync(path.join(folderB, "snapshots", C2, "model.safetensors"));
  assert.match(await message(resolveModel("org/tiny", { env: { HF_HUB_CACHE: b.cache } })), /not in the Hugging Face cache/);
  // anything else that is neither a path nor a repo id
  assert.equal(await message(resolveModel("no-such-model.gguf")), "no-such-model.gguf: no such file or folder");
  assert.equal(await message(resolveModel("models/no-such.gguf")), "models/no-such.gguf: no such file or folder");
});

test("a local path wins over a repo id of the same name", async () => {
  const hf = await testModel("llama-hf-f32", { arch: "llama", format: "hf", dtype: "f32", seed: 7 });
  const { home, cache } = freshHome("path-wins");
  layOutCache(cache, "org/tiny", C1, filesOf(hf), { main: C1 });
  const cwd = path.join(tempDir(), "path-wins-cwd");
  fs.mkdirSync(path.join(cwd, "org"), { recursive: true });
  fs.cpSync(hf, path.join(cwd, "org", "tiny"), { recursive: true });
  const before = process.cwd();
  process.chdir(cwd);
  try {
    assert.equal(await resolveModel("org/tiny", { env: { HF_HOME: home } }), "org/tiny");
  } finally {
    process.chdir(before);
  }
});

test("a snapshot or folder of GGUF files gives its one model, or names the choices", async () => {
  const q8 = await testModel("tiny-gguf-q8", { arch: "qwen2", format: "gguf", dtype: "q8_0", seed: 2 });
  const f16 = await testModel("tiny-gguf-f16", { arch: "qwen2", format: "gguf", dtype: "f16", seed: 2 });
  const { home, cache } = freshHome("gguf-snap");
  const one = layOutCache(cache, "org/one-gguf", C1, filesOf(q8, { "tiny-gguf-q8.gguf": "tiny-Q8_0.gguf" }), { main: C1 });
  const snapOne = path.join(one, "snapshots", C1);
  assert.equal(await resolveModel(one), path.join(snapOne, "tiny-Q8_0.gguf"));
  assert.equal(await resolveModel(snapOne), path.join(snapOne, "tiny-Q8_0.gguf"));
  assert.equal(await resolveModel("org/one-gguf", { env: { HF_HOME: home } }), path.join(snapOne, "tiny-Q8_0.gguf"));

  const two = layOutCache(cache, "org/two-gguf", C1, [
    ...filesOf(q8, { "tiny-gguf-q8.gguf": "tiny-Q8_0.gguf" }),
    ...filesOf(f16, { "tiny-gguf-f16.gguf": "tiny-F16.gguf" }),
    { path: "mmproj-tiny-F16.gguf", data: Buffer.from("not a language model"), lfs: true },
  ], { main: C1 });
  const snapTwo = path.join(two, "snapshots", C1);
  assert.equal(await message(resolveModel(two)),
    `${snapTwo}: holds 2 GGUF models; name one: ${path.join(snapTwo, "tiny-F16.gguf")}, ${path.join(snapTwo, "tiny-Q8_0.gguf")}`);
  // a quantization tag or a file name picks one
  const env = { HF_HOME: home };
  assert.equal(await resolveModel("org/two-gguf:q8_0", { env }), path.join(snapTwo, "tiny-Q8_0.gguf"));
  assert.equal(await resolveModel("org/two-gguf/tiny-F16.gguf", { env }), path.join(snapTwo, "tiny-F16.gguf"));
  assert.match(await message(resolveModel("org/two-gguf:Q4_K_M", { env })), /org\/two-gguf:Q4_K_M: no GGUF file has "Q4_K_M" in its name \(there are: .*tiny-F16\.gguf, .*tiny-Q8_0\.gguf\)/);
  const m = await loadModel(await resolveModel("org/two-gguf:Q8_0", { env }));
  assert.equal(m.format, "gguf");
  m.close();
});

test("a split GGUF in a snapshot resolves to its first part from any part", async () => {
  const split = await makeTestModel({ arch: "llama", format: "gguf", dtype: "f32", seed: 9, out: path.join(tempDir(), "snap-split.gguf"), splitMaxTensors: 6 });
  const dir = path.dirname(split.path);
  const parts = fs.readdirSync(dir).filter((f) => f.startsWith("snap-split-")).map((f) => path.join(dir, f));
  const { cache } = freshHome("split-snap");
  const folder = layOutCache(cache, "org/split", C1, parts.flatMap((p) => filesOf(p)), { main: C1 });
  const snap = path.join(folder, "snapshots", C1);
  const first = path.join(snap, path.basename(split.path));
  assert.equal(await resolveModel(folder), first);
  assert.equal(await resolveModel(path.join(snap, path.basename(parts.sort().at(-1)!))), first);
  const m = await loadModel(first);
  m.close();
});

test("errors from resolution are HubErrors or FormatErrors with one line", async () => {
  const err = await resolveModel("org/nothing-here", { env: { HF_HOME: freshHome("none").home } }).catch((e: unknown) => e);
  assert.ok(err instanceof HubError);
  assert.equal((err as Error).message.split("\n").length, 1);
});
