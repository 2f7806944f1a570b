// Which native binary loads: a build from source in build/Release first, then the prebuilt
// binary for this platform and architecture (node-gyp-build's rules, over real files); and
// the prebuilds in the repository were built from the native sources as they are now.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { addonPath } from "../../src/native/addon.js";

const ROOT = process.cwd();
const PLATFORM = `${process.platform}-${process.arch}`;

test("the prebuilds were built from the native sources as they are (else: npm run prebuilds)", async () => {
  const { sourcesHash } = (await import(pathToFileURL(path.join(ROOT, "tools/prebuilds/sources.mjs")).href)) as { sourcesHash(root: string): string };
  const recorded = fs.readFileSync(path.join(ROOT, "prebuilds/SOURCES"), "utf8").trim();
  assert.equal(recorded, sourcesHash(ROOT), "binding.gyp or native/ changed since the prebuilds were made: run `npm run prebuilds` and commit them");
  for (const p of ["linux-x64", "linux-arm64"]) assert.ok(fs.existsSync(path.join(ROOT, "prebuilds", p, "radixlm.napi.glibc.node")), `prebuilds/${p} is missing`);
});

/** A package folder holding the given files (empty ones: only their names matter here). */
function layout(files: readonly string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-addon-"));
  fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "radixlm" }));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), "");
  }
  return root;
}

test("a build from source wins over a prebuild; the prebuild for this platform over others", () => {
  const mine = `prebuilds/${PLATFORM}/radixlm.napi.glibc.node`;
  const others = ["prebuilds/darwin-arm64/radixlm.napi.node", "prebuilds/win32-x64/radixlm.napi.node", `prebuilds/${process.platform}-${process.arch === "x64" ? "arm64" : "x64"}/radixlm.napi.glibc.node`];
  const both = layout(["build/Release/radixlm_native.node", mine, ...others]);
  assert.equal(addonPath(both), path.join(both, "build/Release/radixlm_native.node"));
  const prebuilt = layout([mine, ...others]);
  assert.equal(addonPath(prebuilt), path.join(prebuilt, mine));
});

test("no prebuild for this platform, or only one for another libc or another Node ABI: none is picked", () => {
  const cases = [
    [] as string[],
    ["prebuilds/darwin-arm64/radixlm.napi.node", `prebuilds/${process.platform}-${process.arch === "x64" ? "arm64" : "x64"}/radixlm.napi.glibc.node`],
    [`prebuilds/${PLATFORM}/radixlm.napi.musl.node`],
    [`prebuilds/${PLATFORM}/radixlm.abi1.node`],
  ];
  for (const files of cases) {
    const root = layout(files);
    assert.throws(() => addonPath(root), new RegExp(`No native build was found for platform=${process.platform} arch=${process.arch} `), files.join(", "));
  }
  // a binary for this Node's own ABI is taken over the N-API one
  const abi = layout([`prebuilds/${PLATFORM}/radixlm.abi${process.versions.modules}.node`, `prebuilds/${PLATFORM}/radixlm.napi.glibc.node`]);
  assert.equal(addonPath(abi), path.join(abi, `prebuilds/${PLATFORM}/radixlm.abi${process.versions.modules}.node`));
});
