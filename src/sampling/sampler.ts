// Picks the next token from one row of logits. Each request owns its random stream, so
// the same seed gives the same tokens whatever else shares the batch.
import { mulberry32 } from "../util/random.js";
import type { SamplingParams } from "./params.js";

export class Sampler {
  private readonly random: () => number;
  private order: Int32Array = new Int32Array(0);
  private probs: Float64Array = new Float64Array(0);

  constructor(readonly params: SamplingParams) {
    this.random = mulberry32(params.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  sample(logits: Float32Array): number {
    const p = this.params;
    if (p.temperature === 0) return argmax(logits);
    const n = logits.length;
    if (this.order.length !== n) {
      this.order = new Int32Array(n);
      this.probs = new Float64Array(n);
    }
    // Candidates in descending logit order (ties by id), cut to top-k.
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => logits[b]! - logits[a]! || a - b);
    const k = p.topK > 0 ? Math.min(p.topK, n) : n;
    const max = logits[order[0]!]!;
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp((logits[order[i]!]! - max) / p.temperature);
      this.probs[i] = e;
      sum += e;
    }
    // Nucleus: the smallest prefix whose mass reaches top_p.
    let keep = k;
    if (p.topP < 1) {
      let cum = 0;
      for (let i = 0; i < k; i++) {
        cum += this.probs[i]! / sum;
        if (cum >= p.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    let kept = 0;
    for (let i = 0; i < keep; i++) kept += this.probs[i]!;
    let u = this.random() * kept;
    for (let i = 0; i < keep; i++) {
      u -= this.probs[i]!;
      if (u < 0) return order[i]!;
    }
    return order[keep - 1]!;
  }
}

export function argmax(x: Float32Array): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}
