// `radixlm serve --tool-call-parser`: an unknown name is one clear usage line (exit 2) that
// lists the formats, before the server starts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli } from "../helpers/cli.js";
import { testModel } from "../helpers/models.js";

test("serve --tool-call-parser with an unknown name: a usage error listing the formats", async () => {
  const model = await testModel("tool-call-parser-cli", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 });
  const r = cli(["serve", "--model", model, "--port", "0", "--tool-call-parser", "xml"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.trim(), /^radixlm: error: --tool-call-parser must be auto, hermes, llama3, mistral, qwen3-coder, pythonic, got "xml"$/);
});
