// Test models made on the fly in a temp folder (never downloaded, never committed).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeTestModel, type TestModelOptions } from "../../src/model/test-model.js";
import { buildTestTokenizer } from "../../src/model/test-tokenizer.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chat-template.js";

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

/**
 * A tokenizer.json for test models that rerank: the test tokenizer with a vocabulary big
 * enough to hold "yes" and "no", taking whole words before merges (HF's ignore_merges, as
 * Llama 3's does), so that each is one token.
 */
export function yesNoTokenizer(): string {
  const dir = path.join(tempDir(), "yes-no-tokenizer");
  const file = path.join(dir, "tokenizer.json");
  if (fs.existsSync(file)) return file;
  const files = buildTestTokenizer(16384, CHATML_TEMPLATE);
  (files.tokenizer.model as Record<string, unknown>).ignore_merges = true;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(files.config));
  fs.writeFileSync(file, JSON.stringify(files.tokenizer));
  return file;
}
