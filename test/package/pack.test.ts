// The package as users get it: `npm pack`, then a fresh project installs the tarball with
// no compiler on PATH and no network, and uses it: `import { Engine } from "radixlm"`,
// `radixlm/lang`, `npx radixlm generate`. The native addon comes from the prebuilt binary;
// without one for the platform it runs on the TypeScript fallback, and with
// npm_config_build_from_source the install compiles it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bareBin, run, writeConsumer, type Run } from "./consumer.js";

const T = { timeout: 600_000 };
const ROOT = process.cwd();
const PLATFORM = `${process.platform}-${process.arch}`;
const PREBUILT = ["linux-x64", "linux-arm64"].includes(PLATFORM);
const SKIP = PREBUILT ? false : `prebuilt binaries are made for linux-x64 and linux-arm64, not ${PLATFORM}`;

interface Packed {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly { readonly path: string }[];
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A copy of the checkout without its builds, so that packing (which rebuilds dist/) leaves the checkout alone. */
function stage(dir: string): void {
  const skip = new Set(["node_modules", "dist", "dist-test", "build", ".git"]);
  for (const e of fs.readdirSync(ROOT)) if (!skip.has(e)) fs.cpSync(path.join(ROOT, e), path.join(dir, e), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
}

describe("npm pack, then install into a fresh project", { skip: SKIP }, () => {
  let tmp: string;
  let packed: Packed;
  let tgz: string;
  let app: string;
  let bin: string;
  let install: Run;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-pack-"));
    const src = path.join(tmp, "src");
    fs.mkdirSync(src);
    stage(src);
    const r = ok(run("npm", ["pack", "--json", "--pack-destination", tmp], src), "npm pack");
    packed = (JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as Packed[])[0]!;
    tgz = path.join(tmp, packed.filename);
    bin = bareBin(path.join(tmp, "bin"));
    app = path.join(tmp, "app");
    writeConsumer(app, tgz, path.join(ROOT, "package-lock.json"));
    install = run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], app, { PATH: bin });
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("the tarball holds the code, the native sources and prebuilds, the demo GGUF, the dashboard's page, README and LICENSE; nothing else", T, (t) => {
    const files = packed.files.map((f) => f.path);
    t.diagnostic(`${packed.filename}: ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${files.length} files`);
    for (const f of ["package.json", "README.md", "LICENSE", "bin/radixlm.js", "dist/index.js", "dist/index.d.ts", "dist/lang/index.js", "dist/cli/main.js",
      "binding.gyp", "native/addon.cc", "native/kernels.h", "native/kernels-k-tile.inc", "prebuilds/linux-x64/radixlm.napi.glibc.node",
      "prebuilds/linux-arm64/radixlm.napi.glibc.node", "models/demo/radixlm-demo-q8_0.gguf", "web/dashboard/index.html", "web/dashboard/app.js"]) {
      assert.ok(files.includes(f), `${f} is missing from the tarball`);
    }
    const allowed = /^(package\.json|README\.md|LICENSE|bin\/[^/]+\.js|dist\/.+\.(js|d\.ts)|binding\.gyp|native\/[^/]+\.(cc|h|inc)|prebuilds\/(SOURCES|[a-z0-9]+-[a-z0-9]+\/[^/]+\.node)|models\/demo\/radixlm-demo-q8_0\.gguf|web\/dashboard\/[a-z-]+\.(html|js|css))$/;
    assert.deepEqual(files.filter((f) => !allowed.test(f)), []);
    // dist/ was built fresh by prepack: nothing left over from sources that are gone
    const built = new Set(files.filter((f) => f.startsWith("dist/") && f.endsWith(".js")).map((f) => f.slice(5, -3)));
    const sources = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(path.join(ROOT, "src", dir), { withFileTypes: true })) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) walk(rel);
        else if (e.name.endsWith(".ts")) sources.add(rel.slice(0, -3));
      }
    };
    walk("");
    assert.deepEqual([...built].filter((f) => !sources.has(f)), []);
    assert.deepEqual([...sources].filter((f) => !built.has(f)), []);
  });

  test("installs offline with no compiler on PATH, from the prebuilt binary", T, (t) => {
    ok(install, "npm ci of the tarball");
    t.diagnostic(`install: ${(install.ms / 1000).toFixed(1)} s`);
    assert.doesNotMatch(install.stderr, /^radixlm: no prebuilt|gyp ERR/m);
    assert.ok(!fs.existsSync(path.join(app, "node_modules/radixlm/build")), "nothing was compiled");
    const r = ok(run("node", ["--input-type=module", "-e", 'const m = await import("radixlm"); console.log(m.loadedAddonPath());'], app, { PATH: bin }), "import");
    assert.equal(r.stdout.trim(), path.join(fs.realpathSync(app), "node_modules/radixlm/prebuilds", PLATFORM, "radixlm.napi.glibc.node"));
  });

  test("import { Engine } from \"radixlm\", radixlm/lang, radixlm/demo-model and radixlm/package.json", T, () => {
    ok(install, "npm ci of the tarball");
    const script = `
      import { createRequire } from "node:module";
      import { fileURLToPath } from "node:url";
      import { Engine, loadModel, selectBackend } from "radixlm";
      import { Program } from "radixlm/lang";
      const require = createRequire(import.meta.url);
      const modelPath = fileURLToPath(import.meta.resolve("radixlm/demo-model"));
      const engine = await Engine.create({ model: await loadModel(modelPath), backend: selectBackend("auto", 1) });
      const r = await engine.complete({ prompt: "Once upon a time", params: { maxNewTokens: 8, temperature: 0 } });
      await engine.close();
      console.log(JSON.stringify({ version: require("radixlm/package.json").version, program: typeof Program, tokens: r.samples[0].tokenIds.length, text: r.samples[0].text }));
    `;
    const r = ok(run("node", ["--input-type=module", "-e", script], app, { PATH: bin }), "the script");
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { version: string; program: string; tokens: number; text: string };
    const own = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(out.version, own.version);
    assert.equal(out.program, "function");
    assert.equal(out.tokens, 8);
    assert.ok(out.text.trim().length > 0);
    assert.equal(r.stderr.trim(), "");
  });

  test("npx radixlm generate runs the demo model, with nothing to build first", T, (t) => {
    ok(install, "npm ci of the tarball");
    const r = ok(run("npx", ["--no", "radixlm", "generate", "--prompt", "Once upon a time", "--max-tokens", "16", "--temperature", "0"], app, { PATH: bin }), "npx radixlm generate");
    t.diagnostic(`first npx radixlm generate: ${(r.ms / 1000).toFixed(2)} s`);
    assert.ok(r.stdout.trim().length > 0, "it printed the generated text");
    assert.equal(r.stderr.trim(), "");
  });

  test("without a binary for this platform, it warns once and runs on the TypeScript fallback", T, () => {
    ok(install, "npm ci of the tarball");
    const pkg = path.join(app, "node_modules/radixlm");
    const other = path.join(tmp, "moved-prebuild");
    fs.renameSync(path.join(pkg, "prebuilds", PLATFORM), other);
    try {
      const r = ok(run("npx", ["--no", "radixlm", "generate", "--prompt", "Once upon a time", "--max-tokens", "4", "--temperature", "0"], app, { PATH: bin }), "npx radixlm generate");
      assert.ok(r.stdout.trim().length > 0);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^radixlm: warning: native addon unavailable \\(No native build was found for platform=${process.platform} arch=${process.arch} .*\\); using the TypeScript fallback$`));
    } finally {
      fs.renameSync(other, path.join(pkg, "prebuilds", PLATFORM));
    }
  });

  test("npm_config_build_from_source: the install compiles the addon and uses it", T, (t) => {
    const app2 = path.join(tmp, "app-from-source");
    writeConsumer(app2, tgz, path.join(ROOT, "package-lock.json"));
    const r = ok(run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], app2, { npm_config_build_from_source: "true" }), "npm ci building from source");
    t.diagnostic(`install compiling the addon: ${(r.ms / 1000).toFixed(1)} s`);
    const loaded = ok(run("node", ["--input-type=module", "-e", 'const m = await import("radixlm"); console.log(m.loadedAddonPath());'], app2), "import");
    assert.equal(loaded.stdout.trim(), path.join(fs.realpathSync(app2), "node_modules/radixlm/build/Release/radixlm_native.node"));
  });
});
