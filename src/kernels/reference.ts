// The reference backend: the whole llama-family forward pass in plain TypeScript over a
// KV cache addressed by token slots. It is the oracle the native kernels are checked against.
import { dequantize } from "../formats/quant.js";
import { f16ToF32, f32ToF16 } from "../formats/f16.js";
import { validatePlan, windowStart, type Backend, type ForwardConfig, type KVCacheOptions, type ModelRunner, type RunnerModel, type StepPlan } from "./backend.js";
import { ropeTables } from "./rope.js";
import { expertOf, layerMatrices, routeTopK, type WeightTensor } from "./tensor.js";
import { addInPlace, attendHead, embeddingRow, geluTanhMul, matmul, rmsNorm, rope, scaleInPlace, siluMul, softcapInPlace, type KVRead } from "./reference-ops.js";

interface Layer {
  attnNorm: Float32Array;
  q: WeightTensor; k: WeightTensor; v: WeightTensor; o: WeightTensor;
  qBias: Float32Array | null; kBias: Float32Array | null; vBias: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  ffnNorm: Float32Array;
  postAttnNorm: Float32Array | null; postFfnNorm: Float32Array | null;
  gate: WeightTensor | null; up: WeightTensor | null; down: WeightTensor | null;
  /** A mixture of experts in place of gate/up/down: the router and the stacked experts. */
  router: WeightTensor | null; gateExps: WeightTensor | null; upExps: WeightTensor | null; downExps: WeightTensor | null;
  /** Qwen2-MoE's shared expert. */
  sharedGateInp: Float32Array | null; sharedGate: WeightTensor | null; sharedUp: WeightTensor | null; sharedDown: WeightTensor | null;
}

const readF32: KVRead = (s, i) => s[i]!;
const readF16: KVRead = (s, i) => f16ToF32(s[i]!);

function vector(t: WeightTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return dequantize(t.type, t.bytes, n);
}

class ReferenceRunner implements ModelRunner {
  private readonly c: ForwardConfig;
  private readonly layers: Layer[];
  private readonly embed: WeightTensor;
  private readonly output: WeightTensor;
  private readonly outputNorm: Float32Array;
  private readonly invFreq: Float64Array;
  private readonly invFreqLocal: Float64Array | null;
  private readonly mscale: number;
  private readonly kCache: (Float32Array | Uint16Array)[];
  private readonly vCache: (Float32Array | Uint16Array)[];
  private readonly read: KVRead;
  private closed = false;

  constructor(model: RunnerModel, readonly kv: KVCacheOptions) {
    const c = model.config;
    const w = model.weights;
    this.c = c;
    this.embed = w.get("token_embd.weight");
    this.output = w.has("output.weight") ? w.get("output.weight") : this.embed;
    this.outputNorm = vector(w.get("output_norm.weight"));
    const tables = ropeTables(c, w, kv.capacity);
    this.invFreq = tables.invFreq;
    this.invFreqLocal = tables.invFreqLocal;
    this.mscale = tables.mscale;
    const opt = (name: string): Float32Array | null => (w.has(name) ? vector(w.get(name)) : null);
    const opt3 = (name: string): WeightTensor | null => (c.moe && w.has(name) ? w.get(name) : null);
    this.layers = [];
    for (let i = 0; i < c.numLayers; i++) {
      const b = `blk.${i}.`;
      const m = layerMatrices(w, b, c.numHeads * c.headDim, c.numKvHeads * c.headDim, c.moe !== undefined);
      this.layers.push({
        attnNorm: vector(w.get(b + "attn_norm.weight")),
        q: m.q, k: m.k, v: m.v, o: m.o,
        qBias: opt(b + "attn_q.bias"), kBias: opt(b + "attn_k.bias"), vBias: opt(b + "attn_v.bias"),
        qNorm: opt(b + "attn_q_norm.weight"), kNorm: opt(b + "attn_k_norm.weight"),
        ffnNorm: vector(w.get(b + "ffn_norm.weight")),
        postAttnNorm: opt(b + "post_attention_norm.weight"), postFfnNorm: opt(b + "post_ffw_norm.weight"),
        gate: m.gate, up: m.up, down: m.down,
        router: opt3(b + "ffn_gate_inp.weight"), gateExps: opt3(b + "ffn_gate_exps.weight"),
        upExps: opt3(b + "ffn_up_exps.weight"), downExps: opt3(b + "ffn_down_exps.weight"),
        sharedGateInp: opt(b + "ffn_gate_inp_shexp.weight"), sharedGate: opt3(b + "ffn_gate_shexp.weight"),
        sharedUp: opt3(b + "ffn_up_shexp.weight"), sharedDown: opt3(b + "ffn_down_shexp.weight"),
      });
    }
    const kvDim = c.numKvHeads * c.headDim;
    const make = (): Float32Array | Uint16Array =>
      kv.dtype === "f32" ? new Float32Array(kv.capacity * kvDim) : new Uint16Array(kv.capacity * kvDim);
    this.kCache = this.layers.map(make);
    this.vCache = this.layers.map(make);
    this.read = kv.dtype === "f32" ? readF32 : readF16;
  }

  get kvTokenBytes(): number {
    return 2 * this.layers.length * this.c.numKvHeads * this.c.headDim * (this.kv.dtype === "f32" ? 4 : 2);
  }

  /** A slot's row of one layer's K or V cache, as bytes. */
  private kvRow(cache: Float32Array | Uint16Array, slot: number): Uint8Array {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.kv.capacity) throw new Error(`KV slot ${slot} out of range`);
    const kvDim = this.c.numKvHeads * this.c.headDim;
    const e = cache.BYTES_PER_ELEMENT;
    return new Uint8Array(cache.buffer, cache.byteOffset + slot * kvDim * e, kvDim * e);
  }

  async exportKv(slots: Int32Array): Promise<Uint8Array> {
    if (this.closed) throw new Error("runner is closed");
    const out = new Uint8Array(slots.length * this.kvTokenBytes);
    let o = 0;
    for (const slot of slots) {
      for (let li = 0; li < this.layers.length; li++) {
        for (const cache of [this.kCache[li]!, this.vCache[li]!]) {
          const row = this.kvRow(cache, slot);
          out.set(row, o);
          o += row.length;
        }
      }
    }
    return out;
  }

  async importKv(slots: Int32Array, bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new Error("runner is closed");
    if (bytes.length !== slots.length * this.kvTokenBytes) throw new Error("importKv: bytes must be slots.length x the KV bytes per token");
    let o = 0;
    for (const slot of slots) {
      for (let li = 0; li < this.layers.length; li++) {
        for (const cache of [this.kCache[li]!, this.vCache[li]!]) {
          const row = this.kvRow(cache, slot);
          row.set(bytes.subarray(o, o + row.length));
          o += row.length;
        }
      }
    }
  }

  async forward(plan: StepPlan, _into?: Float32Array, hidden?: Float32Array): Promise<Float32Array> {
    if (this.closed) throw new Error("runner is closed");
    validatePlan(plan, this.kv.capacity, this.c.hiddenSize, hidden);
    return this.compute(plan, hidden);
  }

  private compute(plan: StepPlan, hidden: Float32Array | undefined): Float32Array {
    const c = this.c;
    const n = plan.tokens.length;
    const h = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numHeads * hd;
    const kvDim = c.numKvHeads * hd;
    const ffn = c.intermediateSize;
    const groups = c.numHeads / c.numKvHeads;
    const mul = c.multipliers;
    const scale = mul ? mul.attention : 1 / Math.sqrt(hd);
    const interleaved = c.ropeLayout === "interleaved";
    const ropeDim = c.ropeDim ?? hd;
    const scratch = new Float32Array(Math.max(h, qDim, ffn));

    const x = new Float32Array(n * h);
    for (let r = 0; r < n; r++) embeddingRow(x.subarray(r * h, (r + 1) * h), this.embed, plan.tokens[r]!);
    if (mul) scaleInPlace(x, mul.embedding);

    const xn = new Float32Array(n * h);
    const q = new Float32Array(n * qDim);
    const k = new Float32Array(n * kvDim);
    const v = new Float32Array(n * kvDim);
    const att = new Float32Array(n * qDim);
    const proj = new Float32Array(n * h);
    const gate = new Float32Array(n * ffn);
    const up = new Float32Array(n * ffn);
    const maxLen = Math.max(...plan.seqs.map((s) => s.kvSlots.length));
    const scores = new Float64Array(maxLen);
    const acc = new Float64Array(hd);

    this.layers.forEach((L, li) => {
      rmsNorm(x, 0, n, h, L.attnNorm, c.rmsNormEps, xn, 0);
      matmul(q, xn, n, L.q, L.qBias, scratch);
      matmul(k, xn, n, L.k, L.kBias, scratch);
      matmul(v, xn, n, L.v, L.vBias, scratch);
      const rotate = c.ropeLayers?.[li] ?? true;
      const window = c.attentionWindows?.[li] ?? 0;
      const invFreq = window > 0 && this.invFreqLocal ? this.invFreqLocal : this.invFreq;
      for (let r = 0; r < n; r++) {
        const pos = plan.positions[r]!;
        // Norms of the whole projection (OLMoE) first; per-head norms (Qwen3, Gemma 3) in the loop.
        if (L.qNorm && L.qNorm.length === qDim && qDim !== hd) rmsNorm(q, r * qDim, 1, qDim, L.qNorm, c.rmsNormEps);
        if (L.kNorm && L.kNorm.length === kvDim && kvDim !== hd) rmsNorm(k, r * kvDim, 1, kvDim, L.kNorm, c.rmsNormEps);
        for (let hh = 0; hh < c.numHeads; hh++) {
          const off = r * qDim + hh * hd;
          if (L.qNorm && L.qNorm.length === hd) rmsNorm(q, off, 1, hd, L.qNorm, c.rmsNormEps);
          if (rotate) rope(q, off, ropeDim, pos, invFreq, interleaved, this.mscale);
        }
        for (let hh = 0; hh < c.numKvHeads; hh++) {
          const off = r * kvDim + hh * hd;
          if (L.kNorm && L.kNorm.length === hd) rmsNorm(k, off, 1, hd, L.kNorm, c.rmsNormEps);
          if (rotate) rope(k, off, ropeDim, pos, invFreq, interleaved, this.mscale);
        }
      }
      const kc = this.kCache[li]!;
      const vc = this.vCache[li]!;
      for (const s of plan.seqs) {
        for (let j = 0; j < s.count; j++) {
          const r = s.start + j;
          const slot = s.kvSlots[plan.positions[r]!]!;
          storeRow(kc, slot * kvDim, k, r * kvDim, kvDim);
          storeRow(vc, slot * kvDim, v, r * kvDim, kvDim);
        }
      }
      for (const s of plan.seqs) {
        for (let j = 0; j < s.count; j++) {
          const r = s.start + j;
          const pos = plan.positions[r]!;
          const lo = windowStart(pos, window);
          for (let hh = 0; hh < c.numHeads; hh++) {
            const kvOff = Math.floor(hh / groups) * hd;
            attendHead(att, r * qDim + hh * hd, q, r * qDim + hh * hd, hd, kc, vc, this.read,
              s.kvSlots, lo, pos + 1, kvDim, kvOff, scale, c.attnSoftcap ?? 0, scores, acc);
          }
        }
      }
      matmul(proj, att, n, L.o, null, scratch);
      if (L.postAttnNorm) rmsNorm(proj, 0, n, h, L.postAttnNorm, c.rmsNormEps);
      if (mul) scaleInPlace(proj, mul.residual);
      addInPlace(x, proj, n * h);
      rmsNorm(x, 0, n, h, L.ffnNorm, c.rmsNormEps, xn, 0);
      if (c.moe) {
        this.mixture(L, xn, n, proj);
      } else {
        matmul(gate, xn, n, L.gate!, null, scratch);
        matmul(up, xn, n, L.up!, null, scratch);
        if (c.activation === "gelu_tanh") geluTanhMul(gate, up, n * ffn);
        else siluMul(gate, up, n * ffn);
        matmul(proj, gate, n, L.down!, null, scratch);
      }
      if (L.postFfnNorm) rmsNorm(proj, 0, n, h, L.postFfnNorm, c.rmsNormEps);
      if (mul) scaleInPlace(proj, mul.residual);
      addInPlace(x, proj, n * h);
    });

    const hr = plan.hiddenRows ?? new Int32Array(0);
    for (let i = 0; i < hr.length; i++) rmsNorm(x, hr[i]! * h, 1, h, this.outputNorm, c.rmsNormEps, hidden!, i * h);
    const m = plan.logitRows.length;
    const last = new Float32Array(m * h);
    for (let i = 0; i < m; i++) rmsNorm(x, plan.logitRows[i]! * h, 1, h, this.outputNorm, c.rmsNormEps, last, i * h);
    const logits = new Float32Array(m * c.vocabSize);
    matmul(logits, last, m, this.output, null, scratch);
    if (mul) for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / mul.logit;
    if (c.finalSoftcap) softcapInPlace(logits, c.finalSoftcap);
    return logits;
  }

  /** out = each row's experts' MLPs, weighted by the router (routeTopK), added in rank order. */
  private mixture(L: Layer, xn: Float32Array, n: number, out: Float32Array): void {
    const c = this.c;
    const moe = c.moe!;
    const h = c.hiddenSize;
    const f = moe.expertFfn;
    const logits = new Float32Array(moe.experts);
    const scratch = new Float32Array(Math.max(h, f));
    const g = new Float32Array(f);
    const u = new Float32Array(f);
    const d = new Float32Array(h);
    for (let r = 0; r < n; r++) {
      const x = xn.subarray(r * h, (r + 1) * h);
      matmul(logits, x, 1, L.router!, null, scratch);
      const route = routeTopK(logits, moe.used, moe.normTopK);
      const acc = new Float64Array(h);
      route.experts.forEach((e, j) => {
        matmul(g, x, 1, expertOf(L.gateExps!, e), null, scratch);
        matmul(u, x, 1, expertOf(L.upExps!, e), null, scratch);
        siluMul(g, u, f);
        matmul(d, g, 1, expertOf(L.downExps!, e), null, scratch);
        for (let i = 0; i < h; i++) acc[i] = acc[i]! + route.weights[j]! * d[i]!;
      });
      if (L.sharedGateInp) {
        const fs = moe.sharedFfn!;
        const sg = new Float32Array(fs);
        const su = new Float32Array(fs);
        const ss = new Float32Array(Math.max(h, fs));
        matmul(sg, x, 1, L.sharedGate!, null, ss);
        matmul(su, x, 1, L.sharedUp!, null, ss);
        siluMul(sg, su, fs);
        matmul(d, sg, 1, L.sharedDown!, null, ss);
        let dot = 0;
        for (let i = 0; i < h; i++) dot += L.sharedGateInp[i]! * x[i]!;
        const gate = 1 / (1 + Math.exp(-dot));
        for (let i = 0; i < h; i++) acc[i] = acc[i]! + gate * d[i]!;
      }
      for (let i = 0; i < h; i++) out[r * h + i] = acc[i]!;
    }
  }

  close(): void {
    this.closed = true;
  }
}

function storeRow(dst: Float32Array | Uint16Array, dOff: number, src: Float32Array, sOff: number, n: number): void {
  if (dst instanceof Float32Array) {
    dst.set(src.subarray(sOff, sOff + n), dOff);
  } else {
    for (let i = 0; i < n; i++) dst[dOff + i] = f32ToF16(src[sOff + i]!);
  }
}

export const referenceBackend: Backend = {
  name: "reference",
  createRunner: (model, kv) => new ReferenceRunner(model, kv),
};
