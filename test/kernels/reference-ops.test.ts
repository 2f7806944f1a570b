// Hand-checked cases of the reference kernels the native ones are measured against: GELU's
// tanh form (GeGLU), soft-capping, and the sliding window's mask.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attendHead, geluTanhMul, softcapInPlace } from "../../src/kernels/reference-ops.js";
import { windowStart } from "../../src/kernels/backend.js";
import { routeTopK } from "../../src/kernels/tensor.js";

const close = (a: number, b: number, tol = 1e-6): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test("GeGLU: gelu (tanh form) of the gate times the up projection, at known values", () => {
  // PyTorch's gelu(x, approximate="tanh"): 1 -> 0.841192, -1 -> -0.158808, 2 -> 1.954598, 0 -> 0.
  const gate = Float32Array.from([1, -1, 2, 0, 1]);
  const up = Float32Array.from([1, 1, 1, 5, 3]);
  geluTanhMul(gate, up, 5);
  const want = [0.841192, -0.158808, 1.954598, 0, 3 * 0.841192];
  for (let i = 0; i < 5; i++) assert.ok(close(gate[i]!, want[i]!, 2e-6), `${i}: ${gate[i]} != ${want[i]}`);
});

test("soft-capping: cap * tanh(x / cap), near the identity for small x, never past the cap", () => {
  const x = Float32Array.from([0.5, 100, -100, 0]);
  softcapInPlace(x, 50);
  assert.ok(close(x[0]!, 50 * Math.tanh(0.01)) && close(x[0]!, 0.5, 1e-4));
  assert.ok(close(x[1]!, 50 * Math.tanh(2)) && x[1]! < 50);
  assert.equal(x[2], -x[1]!);
  assert.equal(x[3], 0);
});

test("sliding window: a token sees itself and the window - 1 before it; weights outside are 0", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((p) => windowStart(p, 3)), [0, 0, 0, 1, 2, 7]);
  assert.equal(windowStart(100, 0), 0);
  // One head of dim 1 over 4 positions: K = 0 everywhere (equal scores), V = position + 1.
  const k = new Float32Array(4);
  const v = Float32Array.from([1, 2, 3, 4]);
  const out = new Float32Array(1);
  const slots = Int32Array.from([0, 1, 2, 3]);
  const run = (lo: number): number => {
    attendHead(out, 0, Float32Array.from([1]), 0, 1, k, v, (s, i) => s[i]!, slots, lo, 4, 1, 0, 1, 0, new Float64Array(4), new Float64Array(1));
    return out[0]!;
  };
  assert.ok(close(run(0), 2.5)); // (1 + 2 + 3 + 4) / 4
  assert.ok(close(run(2), 3.5)); // window 2 at position 3: (3 + 4) / 2
  assert.ok(close(run(3), 4));
});

test("routing: softmax over all experts, the k most probable, ties to the lower index, renormalized or not", () => {
  // Logits ln 1, ln 2, ln 3, ln 4: probabilities 0.1, 0.2, 0.3, 0.4.
  const logits = [1, 2, 3, 4].map(Math.log);
  const a = routeTopK(logits, 2, false);
  assert.deepEqual(a.experts, [3, 2]);
  assert.ok(close(a.weights[0]!, 0.4) && close(a.weights[1]!, 0.3));
  const b = routeTopK(logits, 2, true);
  assert.ok(close(b.weights[0]!, 0.4 / 0.7) && close(b.weights[1]!, 0.3 / 0.7));
  // Ties: equal logits go to the lower index, whatever their order of appearance.
  assert.deepEqual(routeTopK([0.5, 2, 0.5, 2, 0.5], 3, true).experts, [1, 3, 0]);
  assert.deepEqual(routeTopK([0, 0, 0, 0], 2, true).weights, [0.5, 0.5]);
});
