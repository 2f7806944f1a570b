// Perplexity of a text under a model, through a backend's own forward pass: the text's tokens
// are cut into windows of `window` tokens, each run as a fresh sequence from position 0, and
// every token after the first of its window is scored (as the demo model's training script
// scores its held-out loss). A broken loader, tokenizer or kernel shows up as a higher value.
import type { Backend, KVDType } from "../kernels/backend.js";
import type { LoadedModel } from "./load.js";

export interface PerplexityResult {
  readonly perplexity: number;
  /** Mean negative log-likelihood per scored token (nats). */
  readonly nll: number;
  readonly scoredTokens: number;
  readonly windows: number;
}

export async function perplexity(
  model: LoadedModel,
  backend: Backend,
  ids: readonly number[],
  window: number,
  kvDtype: KVDType = "f32",
  /** Called after each window with the result so far (for a progress bar). */
  onWindow?: (soFar: PerplexityResult, totalWindows: number) => void,
): Promise<PerplexityResult> {
  if (!Number.isInteger(window) || window < 2) throw new Error(`window must be an integer >= 2, got ${window}`);
  if (window > model.config.maxPositionEmbeddings) {
    throw new Error(`window ${window} exceeds the model's context length ${model.config.maxPositionEmbeddings}`);
  }
  if (ids.length < 2) throw new Error("the text needs at least 2 tokens");
  const vocab = model.config.vocabSize;
  const runner = backend.createRunner(model, { capacity: window, dtype: kvDtype });
  let total = 0;
  let scored = 0;
  let windows = 0;
  try {
    // Window w feeds tokens [s, s+n) and scores tokens [s+1, s+n] against them.
    for (let s = 0; s + 1 < ids.length; s += window) {
      const n = Math.min(window, ids.length - 1 - s);
      const tokens = Int32Array.from(ids.slice(s, s + n));
      const positions = Int32Array.from({ length: n }, (_, i) => i);
      const logits = await runner.forward({
        tokens, positions,
        seqs: [{ start: 0, count: n, kvSlots: positions }],
        logitRows: positions,
      });
      for (let i = 0; i < n; i++) {
        const row = logits.subarray(i * vocab, (i + 1) * vocab);
        let max = -Infinity;
        for (const x of row) if (x > max) max = x;
        let sum = 0;
        for (const x of row) sum += Math.exp(x - max);
        total += max + Math.log(sum) - row[ids[s + i + 1]!]!;
        scored++;
      }
      windows++;
      onWindow?.({ perplexity: Math.exp(total / scored), nll: total / scored, scoredTokens: scored, windows }, Math.ceil((ids.length - 1) / window));
    }
  } finally {
    runner.close();
  }
  const nll = total / scored;
  return { perplexity: Math.exp(nll), nll, scoredTokens: scored, windows };
}
