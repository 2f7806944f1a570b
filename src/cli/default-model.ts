// Where the bundled demo model lives: models/demo in the package, found from this file's own
// location (dist/ or dist-test/), so `radixlm serve` without --model works from any directory.
import path from "node:path";
import { packageRoot } from "../util/package-root.js";

/** The served model name when the bundled model is used. */
export const DEMO_MODEL_NAME = "radixlm-demo";
export const DEMO_GGUF = "radixlm-demo-q8_0.gguf";
export const DEMO_HF_DIR = "hf";

/** models/demo: the q8_0 GGUF; in a checkout also the HF folder, the held-out text and its recorded perplexity (the package ships the GGUF only). */
export function demoModelDir(): string {
  return path.join(packageRoot(), "models", "demo");
}

/** The model `generate` and `serve` use without --model: the bundled q8_0 GGUF. */
export function defaultModelPath(): string {
  return path.join(demoModelDir(), DEMO_GGUF);
}
