// Converts a model (an HF folder, or a GGUF) into a GGUF file of a chosen weight type, as
// llama.cpp's converter lays it out: Q/K rows of llama models permuted for interleaved RoPE,
// norm vectors kept in f32, the tokenizer, chat template and sampling defaults in the metadata. The bundled
// demo model's q8_0 GGUF is made this way from its safetensors folder.
import fs from "node:fs";
import path from "node:path";
import { trackTensors, writeGGUF, type GGUFWriteValue, type TensorToWrite, type WriteProgress } from "../formats/gguf.js";
import { byteSize, type WeightType } from "../formats/dtype.js";
import { dequantize, quantize } from "../formats/quant.js";
import { loadModel } from "./load.js";
import { archByName } from "./registry.js";
import type { ModelConfig } from "./config.js";
import { generationDefaultsToGGUF } from "./generation-defaults.js";
import { ggufRopeInterleaved, ggufTokenizerValues, permuteForInterleaved, specTensorType } from "./gguf-layout.js";

export interface ConvertOptions {
  readonly src: string;
  readonly out: string;
  readonly dtype: WeightType;
  /** general.name in the output (default: the source's file or folder name). */
  readonly name?: string;
  /** Called after each tensor is converted (for a progress bar). */
  readonly onTensor?: (p: WriteProgress) => void;
}

export interface ConvertResult {
  readonly path: string;
  readonly config: ModelConfig;
  readonly bytes: number;
}

export async function convertToGGUF(opts: ConvertOptions): Promise<ConvertResult> {
  const model = await loadModel(opts.src);
  try {
    const spec = archByName(model.config.arch);
    if (!spec) throw new Error(`unknown architecture ${model.config.arch}`);
    const src = model.config;
    const config: ModelConfig = { ...src, ropeLayout: ggufRopeInterleaved(src.arch) ? "interleaved" : "neox" };
    const specs = spec.tensors(config).filter((s) => model.weights.has(s.name));
    for (const s of specs) {
      const cols = s.shape[s.shape.length - 1]!;
      if (!s.isVector) byteSize(specTensorType(s, opts.dtype), cols); // throws on a partial block
    }
    const tensors: TensorToWrite[] = specs.map((s) => {
      const type: WeightType = specTensorType(s, opts.dtype);
      return {
        name: s.name, type, shape: s.shape,
        data: () => {
          const w = model.weights.get(s.name);
          const n = s.shape.reduce((a, b) => a * b, 1);
          let v = dequantize(w.type, w.bytes, n);
          // Only a neox-layout source needs the permutation; a GGUF llama source already has it.
          if (src.ropeLayout === "neox" && config.ropeLayout === "interleaved" && /attn_[qk]\.weight$/.test(s.name)) {
            const heads = s.name.includes("attn_q") ? config.numHeads : config.numKvHeads;
            v = permuteForInterleaved(v, heads, config.headDim, s.shape[1]!);
          }
          return quantize(type, v);
        },
      };
    });
    const meta: Record<string, GGUFWriteValue> = {
      ...spec.toGGUF(config),
      "general.name": opts.name ?? path.basename(path.resolve(opts.src)).replace(/\.gguf$/, ""),
      "general.quantization_version": 2,
      ...ggufTokenizerValues(model.tokenizer.toGGUFMetadata()),
      // The sampling defaults of generation_config.json, as llama.cpp's converter writes them.
      ...generationDefaultsToGGUF(model.generationDefaults),
    };
    if (model.chatTemplate !== null) meta["tokenizer.chat_template"] = model.chatTemplate;
    fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
    writeGGUF(opts.out, meta, opts.onTensor ? trackTensors(tensors, opts.onTensor) : tensors);
    return { path: opts.out, config, bytes: fs.statSync(opts.out).size };
  } finally {
    model.close();
  }
}
