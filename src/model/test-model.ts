// Writes random-weight models in real formats and real shapes, deterministic by seed, so
// that tests and benchmarks never download anything. The same seed gives the same weights
// in either format: the GGUF writer only re-lays them out as GGUF expects.
import fs from "node:fs";
import path from "node:path";
import { trackTensors, writeGGUF, readGGUFMetadata, isGGUFFile, type GGUFWriteValue, type TensorToWrite, type WriteProgress } from "../formats/gguf.js";
import { writeGGUFSplit } from "../formats/gguf-split.js";
import { writeSafetensors } from "../formats/safetensors.js";
import { byteSize, isFloatType, type WeightType } from "../formats/dtype.js";
import { quantize } from "../formats/quant.js";
import { bf16ToF32Array, f16ToF32Array, f32ToBf16Array, f32ToF16Array } from "../formats/f16.js";
import { loadTokenizerFile, loadTokenizerJson } from "../tokenizer/load.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { mulberry32, hashString } from "../util/random.js";
import { ropeInvFreq } from "../kernels/rope.js";
import { CHATML_TEMPLATE } from "../tokenizer/chat-template.js";
import { smollm3RopeLayers } from "./llama.js";
import { gemmaMultipliers } from "./gemma.js";
import { ggufRopeInterleaved, ggufTokenizerValues, permuteForInterleaved, specTensorType } from "./gguf-layout.js";
import { archByName, knownArchitectures, type TensorSpec } from "./registry.js";
import type { ModelConfig } from "./config.js";
import { presetShape, type PresetName } from "./presets.js";
import { buildTestTokenizer, TEST_SPECIAL_TOKENS } from "./test-tokenizer.js";
import { ggufEmbedding, hfEmbeddingName, writeHFEmbedding, type TestEmbedding } from "./test-embedding.js";

export type ShapeOverrides = Partial<Pick<ModelConfig,
  "vocabSize" | "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads" | "numKvHeads" | "headDim" | "ropeTheta" | "tieWordEmbeddings" |
  "ropeDim" | "ropeScaling" | "maxPositionEmbeddings" | "moe">>;

export interface TestModelOptions {
  readonly out: string;
  readonly format: "hf" | "gguf";
  readonly dtype: WeightType;
  readonly arch?: string;
  readonly preset?: PresetName;
  readonly sizes?: ShapeOverrides;
  /** A tokenizer.json, an HF folder or a (vocab-only) GGUF; the vocab size follows it. */
  readonly tokenizer?: string;
  readonly seed?: number;
  /** Split HF safetensors into shards of about this many bytes (with an index). */
  readonly maxShardBytes?: number;
  /**
   * Write a GGUF as a split model (gguf-split's layout) of at most this many tensors per part;
   * `out` is then the path without `-00001-of-0000N.gguf` and the result's path the first part.
   */
  readonly splitMaxTensors?: number;
  /** Per-layer sliding windows (0: none), in place of the preset's (whose first numLayers are taken). */
  readonly attentionWindows?: readonly number[];
  /** Make it an embedding model or a reranker (test-embedding.ts). */
  readonly embedding?: TestEmbedding;
  /** Called after each tensor of a GGUF is made (for a progress bar). */
  readonly onTensor?: (p: WriteProgress) => void;
}

export interface TestModelResult {
  readonly path: string;
  readonly config: ModelConfig;
  readonly bytes: number;
}

interface TokenizerParts {
  tokenizer: Tokenizer;
  hfTokenizer: Record<string, unknown>;
  hfConfig: Record<string, unknown>;
  gguf: Record<string, GGUFWriteValue>;
  vocabSize: number;
  bosId: number | null;
  eosIds: number[];
}

/** The canonical (HF layout) values of one tensor. */
function randomTensor(spec: TensorSpec, config: ModelConfig, seed: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.name === "rope_factors_short.weight" || spec.name === "rope_factors_long.weight") {
    const s = config.ropeScaling;
    const f = s?.type === "longrope" ? (spec.name.includes("short") ? s.shortFactor : s.longFactor) : undefined;
    if (!f) throw new Error(`${spec.name}: the config has no LongRoPE factors`);
    return Float32Array.from(f);
  }
  if (spec.name === "rope_freqs.weight") {
    const plain = ropeInvFreq({ ...config, ropeScaling: null });
    const scaled = ropeInvFreq(config);
    for (let i = 0; i < n; i++) out[i] = plain[i]! / scaled[i]!;
    return out;
  }
  const rnd = mulberry32(hashString(spec.name, seed));
  const isNorm = spec.name.includes("norm");
  const isBias = spec.name.endsWith(".bias");
  const cols = spec.shape[spec.shape.length - 1]!;
  // Gemma scales its embedding up by sqrt(hidden); its rows are that much smaller, or the
  // residual stream would be the input token alone.
  const embedAmp = config.postNorms ? 1 / Math.sqrt(config.hiddenSize) : 1;
  const amp = isNorm ? 0.1 : isBias ? 0.1 : spec.name === "token_embd.weight" ? embedAmp : Math.sqrt(3 / cols);
  // Norms scale by about 1: Gemma's HF norms hold w for a scale of 1 + w.
  const center = isNorm ? 1 - (archByName(config.arch)?.hfNormShift ?? 0) : 0;
  for (let i = 0; i < n; i++) out[i] = center + amp * (2 * rnd() - 1);
  return out;
}

function encode(t: WeightType, v: Float32Array): Uint8Array {
  switch (t) {
    case "f32": return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    case "f16": { const h = f32ToF16Array(v); return new Uint8Array(h.buffer, h.byteOffset, h.byteLength); }
    case "bf16": { const h = f32ToBf16Array(v); return new Uint8Array(h.buffer, h.byteOffset, h.byteLength); }
    default: return quantize(t, v);
  }
}

function roundTo(t: "f16" | "bf16", v: Float32Array): Float32Array {
  return t === "f16" ? f16ToF32Array(f32ToF16Array(v)) : bf16ToF32Array(f32ToBf16Array(v));
}

async function tokenizerParts(opts: TestModelOptions, defaultVocab: number): Promise<TokenizerParts> {
  if (!opts.tokenizer) {
    const files = buildTestTokenizer(defaultVocab, CHATML_TEMPLATE);
    const tok = loadTokenizerJson(files.tokenizer, files.config);
    const eos = TEST_SPECIAL_TOKENS.filter((s) => s !== "<|im_start|>").map((s) => tok.tokenToId(s)).filter((x): x is number => x !== undefined);
    return {
      tokenizer: tok, hfTokenizer: files.tokenizer, hfConfig: files.config,
      gguf: { ...ggufTokenizerValues(tok.toGGUFMetadata()), "tokenizer.chat_template": CHATML_TEMPLATE },
      vocabSize: defaultVocab, bosId: null, eosIds: eos,
    };
  }
  const src = opts.tokenizer;
  const tok = await loadTokenizerFile(src);
  let template: string | null = null;
  if (isGGUFFile(src)) {
    const t = (await readGGUFMetadata(src))["tokenizer.chat_template"];
    template = typeof t === "string" ? t : null;
  } else {
    const dir = fs.statSync(src).isDirectory() ? src : path.dirname(src);
    const cfgPath = path.join(dir, "tokenizer_config.json");
    if (fs.existsSync(cfgPath)) {
      const t = (JSON.parse(fs.readFileSync(cfgPath, "utf8")) as Record<string, unknown>).chat_template;
      template = typeof t === "string" ? t : null;
    }
  }
  template ??= CHATML_TEMPLATE;
  const hf = tok.toTokenizerJson();
  return {
    tokenizer: tok,
    hfTokenizer: hf.tokenizer as Record<string, unknown>,
    hfConfig: { ...(hf.config as Record<string, unknown>), chat_template: template },
    gguf: { ...ggufTokenizerValues(tok.toGGUFMetadata()), "tokenizer.chat_template": template },
    vocabSize: tok.vocabSize,
    bosId: tok.bosId ?? null,
    eosIds: [...tok.eosIds],
  };
}

/** The RoPE scaling a tensor is GGUF's form of (HF folders derive it from config.json), or null. */
function fromConfigOnly(name: string): "llama3" | "longrope" | null {
  if (name === "rope_freqs.weight") return "llama3";
  return name === "rope_factors_short.weight" || name === "rope_factors_long.weight" ? "longrope" : null;
}

function windowsFor(windows: readonly number[] | undefined, layers: number): { attentionWindows?: readonly number[] } {
  if (!windows) return {};
  if (windows.length < layers) throw new Error(`${windows.length} sliding windows for ${layers} layers`);
  return { attentionWindows: windows.slice(0, layers) };
}

export async function makeTestModel(opts: TestModelOptions): Promise<TestModelResult> {
  const seed = opts.seed ?? 0;
  const base = presetShape(opts.preset ?? "tiny", opts.arch);
  const spec = archByName(base.arch);
  if (!spec) throw new Error(`unknown architecture ${base.arch} (supported: ${knownArchitectures().join(", ")})`);
  if (opts.format === "hf" && !isFloatType(opts.dtype)) {
    throw new Error(`HF folders hold f32, f16 or bf16 weights; ${opts.dtype} needs --format gguf`);
  }
  const sized = { ...base, ...opts.sizes };
  const tok = await tokenizerParts(opts, sized.vocabSize);
  const headDim = opts.sizes?.headDim ?? (opts.sizes?.hiddenSize || opts.sizes?.numHeads ? Math.floor(sized.hiddenSize / sized.numHeads) : sized.headDim);
  const config: ModelConfig = {
    ...sized,
    vocabSize: tok.vocabSize,
    headDim,
    ropeLayout: opts.format === "gguf" && ggufRopeInterleaved(base.arch) ? "interleaved" : "neox",
    ...(base.arch === "smollm3" ? { ropeLayers: smollm3RopeLayers(sized.numLayers) } : {}),
    ...windowsFor(opts.attentionWindows ?? base.attentionWindows, sized.numLayers),
    // Gemma's scalings follow the sizes given.
    ...(sized.postNorms ? { multipliers: gemmaMultipliers(sized.hiddenSize, headDim) } : {}),
    bosTokenId: tok.bosId,
    eosTokenIds: tok.eosIds,
  };
  const specs = spec.tensors(config);
  for (const s of specs) {
    const cols = s.shape[s.shape.length - 1]!;
    if (!s.isVector) byteSize(specTensorType(s, opts.dtype), cols); // throws on a partial block
  }
  fs.mkdirSync(opts.format === "hf" ? opts.out : path.dirname(path.resolve(opts.out)), { recursive: true });

  if (opts.format === "gguf") {
    // rope_freqs is GGUF's form of llama3 scaling: written only for a model that has it.
    const tensors: TensorToWrite[] = specs.filter((s) => fromConfigOnly(s.name) === null || fromConfigOnly(s.name) === config.ropeScaling?.type).map((s) => {
      const type: WeightType = specTensorType(s, opts.dtype);
      return {
        name: s.name, type, shape: s.shape,
        data: () => {
          let v = randomTensor(s, config, seed);
          // Vectors stay f32 in GGUF (as llama.cpp keeps them); give them the values they
          // have in an HF folder of this dtype, so both formats hold the same weights.
          if (s.isVector && (opts.dtype === "f16" || opts.dtype === "bf16")) v = roundTo(opts.dtype, v);
          // GGUF holds Gemma's norms as 1 + w, as llama.cpp's converter writes them.
          const shift = spec.hfNormShift ?? 0;
          if (shift !== 0 && /norm\.weight$/.test(s.name)) v = v.map((x) => x + shift);
          if (ggufRopeInterleaved(config.arch) && /attn_[qk]\.weight$/.test(s.name)) {
            const heads = s.name.includes("attn_q") ? config.numHeads : config.numKvHeads;
            v = permuteForInterleaved(v, heads, config.headDim, s.shape[1]!);
          }
          return encode(type, v);
        },
      };
    });
    const meta: Record<string, GGUFWriteValue> = {
      ...spec.toGGUF(config),
      "general.name": `radixlm test ${opts.preset ?? "tiny"} ${config.arch} ${opts.dtype} seed ${seed}`,
      "general.quantization_version": 2,
      ...tok.gguf,
    };
    if (opts.embedding) {
      const outSpec = specs.find((s) => s.name === (config.tieWordEmbeddings ? "token_embd.weight" : "output.weight"))!;
      const e = ggufEmbedding(opts.embedding, config.arch, tok.tokenizer, config.hiddenSize, () => randomTensor(outSpec, config, seed));
      Object.assign(meta, e.meta);
      tensors.push(...e.tensors);
    }
    if (opts.splitMaxTensors !== undefined) {
      const parts = writeGGUFSplit(opts.out.replace(/\.gguf$/, ""), meta, tensors, opts.splitMaxTensors);
      return { path: parts[0]!, config, bytes: parts.reduce((n, p) => n + fs.statSync(p).size, 0) };
    }
    writeGGUF(opts.out, meta, opts.onTensor ? trackTensors(tensors, opts.onTensor) : tensors);
    return { path: opts.out, config, bytes: fs.statSync(opts.out).size };
  }

  const hfTensors: TensorToWrite[] = specs.filter((s) => fromConfigOnly(s.name) === null).flatMap((s): TensorToWrite[] => {
    // A stack of experts is one matrix per expert in an HF folder.
    const first = spec.hfStackName?.(s.name, 0);
    if (!first) {
      const name = hfEmbeddingName(opts.embedding, spec.hfName(s.name));
      return name === null ? [] : [{ name, type: opts.dtype, shape: s.shape, data: () => encode(opts.dtype, randomTensor(s, config, seed)) }];
    }
    const [experts, rows, cols] = s.shape as [number, number, number];
    return Array.from({ length: experts }, (_, e) => ({
      name: spec.hfStackName!(s.name, e)!, type: opts.dtype, shape: [rows, cols],
      data: () => encode(opts.dtype, randomTensor(s, config, seed).slice(e * rows * cols, (e + 1) * rows * cols)),
    }));
  });
  const shards: TensorToWrite[][] = [[]];
  let used = 0;
  for (const t of hfTensors) {
    const len = byteSize(t.type, t.shape.reduce((a, b) => a * b, 1));
    if (opts.maxShardBytes && used > 0 && used + len > opts.maxShardBytes) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1]!.push(t);
    used += len;
  }
  const dir = opts.out;
  if (shards.length === 1) {
    writeSafetensors(path.join(dir, "model.safetensors"), shards[0]!);
  } else {
    const weightMap: Record<string, string> = {};
    shards.forEach((ts, i) => {
      const file = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
      writeSafetensors(path.join(dir, file), ts);
      for (const t of ts) weightMap[t.name] = file;
    });
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  }
  const hfConfig = spec.toHF(config);
  hfConfig.torch_dtype = { f32: "float32", f16: "float16", bf16: "bfloat16" }[opts.dtype as "f32" | "f16" | "bf16"];
  if (opts.embedding) writeHFEmbedding(opts.embedding, dir, hfConfig);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(hfConfig, null, 2));
  fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({
    ...(config.bosTokenId !== null ? { bos_token_id: config.bosTokenId } : {}),
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
  }, null, 2));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tok.hfTokenizer));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tok.hfConfig, null, 2));
  let bytes = 0;
  for (const f of fs.readdirSync(dir)) if (fs.statSync(path.join(dir, f)).isFile()) bytes += fs.statSync(path.join(dir, f)).size;
  return { path: dir, config, bytes };
}
