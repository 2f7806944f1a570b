// What a model family provides: config parsing both ways and its tensor naming.
import type { ModelConfig } from "./config.js";
import type { GGUFValue, GGUFWriteValue } from "../formats/gguf.js";

/** A tensor a model of this config must have, in the internal (GGUF-style) naming. */
export interface TensorSpec {
  readonly name: string;
  /** Row-major, outermost first. */
  readonly shape: readonly number[];
  /** Norm weights and biases: stored as f32 in quantized GGUF files, as llama.cpp does. */
  readonly isVector: boolean;
  /** May be absent (rope_freqs: GGUF's form of llama3 scaling, which HF derives from config). */
  readonly optional?: boolean;
  /** A matrix kept in a float type when the others are quantized (the experts' router, as llama.cpp's quantizer keeps it). */
  readonly keepFloat?: boolean;
}

/** What the weight files hold, to bound the config's counts before anything is built from them. */
export interface WeightsExtent {
  readonly tensorCount: number;
  /** The shape of a tensor (by internal name) when the files have it. */
  shapeOf(name: string): readonly number[] | undefined;
}

export interface ArchSpec {
  /** Registry name, also the GGUF `general.architecture`. */
  readonly name: string;
  /** `architectures` entries of HF config.json that map to this family. */
  readonly hfArchitectures: readonly string[];
  /** The config, every field checked for type and range; errors name the file's own keys. */
  fromHF(config: Record<string, unknown>, path: string, extent: WeightsExtent): ModelConfig;
  fromGGUF(metadata: Readonly<Record<string, GGUFValue>>, path: string, extent: WeightsExtent): ModelConfig;
  /** The config as the file's tensors settle it (tied embeddings, biases, q/k norms present). */
  settle(config: ModelConfig, tensorNames: readonly string[]): ModelConfig;
  toHF(config: ModelConfig): Record<string, unknown>;
  toGGUF(config: ModelConfig): Record<string, GGUFWriteValue>;
  tensors(config: ModelConfig): TensorSpec[];
  /**
   * Added to the norm vectors of HF checkpoints (Gemma stores w and scales by 1 + w; its GGUF
   * files hold 1 + w, as llama.cpp's converter writes them); absent: 0.
   */
  readonly hfNormShift?: number;
  /** Vectors an HF config gives that GGUF files keep as tensors (Phi-3's LongRoPE factors). */
  hfConfigTensors?(config: ModelConfig): { readonly name: string; readonly data: Float32Array }[];
  /** HF's name of expert e's matrix in a stacked tensor (ffn_gate_exps...), or null for other tensors. */
  hfStackName?(internal: string, e: number): string | null;
  /** Internal tensor name for an HF name, or null for tensors we don't use. */
  internalName(hfName: string): string | null;
  hfName(internal: string): string;
}
