// Small helpers to drive a ModelRunner directly.
import type { ModelRunner, StepPlan } from "../../src/kernels/backend.js";

export interface SeqChunk {
  tokens: number[];
  /** Tokens of this sequence already in the KV cache. */
  cached: number;
  /** Slot of every position 0..cached+tokens.length-1. */
  slots: Int32Array;
}

export function buildPlan(chunks: SeqChunk[], lastOnly = true): StepPlan {
  const tokens: number[] = [];
  const positions: number[] = [];
  const logitRows: number[] = [];
  const seqs = chunks.map((c) => {
    const start = tokens.length;
    c.tokens.forEach((t, j) => {
      tokens.push(t);
      positions.push(c.cached + j);
      if (!lastOnly || j === c.tokens.length - 1) logitRows.push(start + j);
    });
    return { start, count: c.tokens.length, kvSlots: c.slots.subarray(0, c.cached + c.tokens.length) };
  });
  return { tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqs, logitRows: Int32Array.from(logitRows) };
}

export function range(start: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => start + i);
}

/** Logits of every position of `tokens`, prefilled in chunks of `chunk`. */
export async function logitsByChunks(runner: ModelRunner, tokens: number[], chunk: number, slots: Int32Array): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < tokens.length; s += chunk) {
    const part = tokens.slice(s, s + chunk);
    const logits = await runner.forward(buildPlan([{ tokens: part, cached: s, slots }], false));
    const v = logits.length / part.length;
    for (let j = 0; j < part.length; j++) out.push(logits.slice(j * v, (j + 1) * v));
  }
  return out;
}

export function maxRelError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / (den || 1);
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
