// Where the bundled demo model lives: models/demo in the package, found from this file's own
// location (dist/ or dist-test/), so `radixlm serve` without --model works from any directory.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The served model name when the bundled model is used. */
export const DEMO_MODEL_NAME = "radixlm-demo";
export const DEMO_GGUF = "radixlm-demo-q8_0.gguf";
export const DEMO_HF_DIR = "hf";

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: unknown }).name;
      if (name === "radixlm") return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find the radixlm package folder (for the bundled model)");
    dir = up;
  }
}

/** models/demo: the HF folder, the q8_0 GGUF, the held-out text and its recorded perplexity. */
export function demoModelDir(): string {
  return path.join(packageRoot(), "models", "demo");
}

/** The model `generate` and `serve` use without --model: the bundled q8_0 GGUF. */
export function defaultModelPath(): string {
  return path.join(demoModelDir(), DEMO_GGUF);
}
