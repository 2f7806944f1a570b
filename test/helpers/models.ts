// Test models made on the fly in a temp folder (never downloaded, never committed).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeTestModel, type TestModelOptions } from "../../src/model/test-model.js";

let root: string | null = null;

export function tempDir(): string {
  if (!root) {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-test-"));
    process.on("exit", () => fs.rmSync(root!, { recursive: true, force: true }));
  }
  return root;
}

const made = new Map<string, Promise<string>>();

/** Makes (once per process) a model with these options and returns its path. */
export function testModel(name: string, opts: Omit<TestModelOptions, "out">): Promise<string> {
  let p = made.get(name);
  if (!p) {
    const out = path.join(tempDir(), opts.format === "hf" ? name : `${name}.gguf`);
    p = makeTestModel({ ...opts, out }).then((r) => r.path);
    made.set(name, p);
  }
  return p;
}

export const SHARED_TESTDATA = path.resolve(process.cwd(), "../shared/testdata");
