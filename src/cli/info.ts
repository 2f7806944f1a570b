// radixlm info: what a model file is.
import type { Command } from "commander";
import { loadModel } from "../model/load.js";
import { activeParameterCount, parameterCount } from "../model/config.js";
import { describeGenerationDefaults, generationDefaultsJson } from "../model/generation-defaults.js";
import { MODEL_HELP, modelPath } from "./model-arg.js";
import type { Multipliers } from "../kernels/backend.js";
import type { ModelConfig } from "../model/config.js";

async function run(o: { model?: string; json?: boolean }): Promise<void> {
  const m = await loadModel(await modelPath(o.model));
  try {
    const c = m.config;
    const types = [...m.weights.typeCounts()].map(([t, n]) => `${t} x${n}`).join(", ");
    const info = {
      path: m.path,
      format: m.format,
      architecture: c.arch,
      parameters: parameterCount(c),
      active_parameters: activeParameterCount(c),
      tensor_types: Object.fromEntries(m.weights.typeCounts()),
      weight_bytes: m.weights.totalBytes(),
      context_length: c.maxPositionEmbeddings,
      layers: c.numLayers,
      hidden_size: c.hiddenSize,
      heads: c.numHeads,
      kv_heads: c.numKvHeads,
      head_dim: c.headDim,
      ffn_size: c.intermediateSize,
      vocab_size: c.vocabSize,
      rope_theta: c.ropeTheta,
      rope_scaling: c.ropeScaling ? c.ropeScaling.type : m.weights.has("rope_freqs.weight") ? "llama3 (rope_freqs)" : null,
      rope_dim: c.ropeDim ?? c.headDim,
      tied_embeddings: c.tieWordEmbeddings,
      qkv_bias: c.qkvBias,
      qk_norm: c.qkNorm,
      multipliers: c.multipliers ?? null,
      layers_without_rope: c.ropeLayers ? c.ropeLayers.flatMap((x, i) => (x ? [] : [i])) : [],
      sliding_windows: c.attentionWindows ?? null,
      local_rope_theta: c.localRopeTheta ?? null,
      activation: c.activation ?? "silu",
      post_norms: c.postNorms === true,
      attn_softcap: c.attnSoftcap ?? null,
      final_softcap: c.finalSoftcap ?? null,
      moe: c.moe ?? null,
      bos_token_id: c.bosTokenId,
      eos_token_ids: c.eosTokenIds,
      chat_template: m.chatTemplate !== null,
      generation_defaults: generationDefaultsJson(m.generationDefaults),
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(info, null, 2) + "\n");
      return;
    }
    const fmtParams = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : `${(n / 1e6).toFixed(1)}M`);
    const lines = [
      `model          ${info.path} (${info.format === "hf" ? "Hugging Face folder" : "GGUF"})`,
      `architecture   ${info.architecture}`,
      `parameters     ${fmtParams(info.parameters)} (${info.parameters})${c.moe ? `, ${fmtParams(info.active_parameters)} active per token` : ""}`,
      `tensor types   ${types}`,
      `weights        ${(info.weight_bytes / 1e6).toFixed(1)} MB`,
      `context length ${info.context_length}`,
      `shape          ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads (${c.numKvHeads} KV) x ${c.headDim}, ffn ${c.intermediateSize}, vocab ${c.vocabSize}`,
      `rope           theta ${c.ropeTheta}${info.rope_scaling ? `, ${describeScaling(c)}` : ""}, ${c.ropeLayout} layout${info.rope_dim !== c.headDim ? `, ${info.rope_dim} of ${c.headDim} dims rotated` : ""}`,
      `features       ${features(c, info.layers_without_rope).join(", ")}`,
      `special tokens bos ${c.bosTokenId ?? "none"}, eos ${c.eosTokenIds.join(", ") || "none"}`,
      `chat template  ${info.chat_template ? "yes" : "no"}`,
      `sampling       ${describeGenerationDefaults(m.generationDefaults) || "no defaults"}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    m.close();
  }
}

export function register(program: Command): void {
  program
    .command("info")
    .description("print a model's architecture, size, tensor types, context length and chat template presence")
    .option("--model <path>", `${MODEL_HELP} (default: the bundled demo model)`)
    .option("--json", "print one JSON object")
    .action(run);
}

function describeMultipliers(m: Multipliers): string {
  // GGUF keeps them as f32: 0.22 reads back as 0.2199999988.
  const f = (x: number): number => Number(x.toPrecision(7));
  return `multipliers: embedding ${f(m.embedding)}, attention ${f(m.attention)}, residual ${f(m.residual)}, logits 1/${f(m.logit)}`;
}

function features(c: ModelConfig, withoutRope: readonly number[]): string[] {
  return [
    c.tieWordEmbeddings ? "tied embeddings" : "untied embeddings",
    c.qkvBias ? "qkv bias" : "",
    c.qkNorm ? "q/k norm" : "",
    c.activation === "gelu_tanh" ? "GeGLU" : "",
    c.postNorms ? "post-norms" : "",
    c.multipliers ? describeMultipliers(c.multipliers) : "",
    withoutRope.length > 0 ? `no RoPE in layers ${withoutRope.join(", ")}` : "",
    c.attentionWindows ? describeWindows(c.attentionWindows) : "",
    c.localRopeTheta !== undefined ? `local RoPE theta ${c.localRopeTheta}` : "",
    c.attnSoftcap !== undefined ? `attention soft-cap ${c.attnSoftcap}` : "",
    c.finalSoftcap !== undefined ? `logit soft-cap ${c.finalSoftcap}` : "",
    c.moe ? `mixture of experts: ${c.moe.experts} of width ${c.moe.expertFfn}, ${c.moe.used} per token${c.moe.normTopK ? ", weights renormalized" : ""}` : "",
  ].filter(Boolean);
}

function describeScaling(c: ModelConfig): string {
  const s = c.ropeScaling;
  if (!s) return "llama3 scaling (rope_freqs)";
  if (s.type === "longrope") return `LongRoPE scaling from ${s.originalMaxPositionEmbeddings} positions (attention factor ${Number(s.attentionFactor.toPrecision(6))})`;
  return `${s.type} scaling (factor ${s.factor})`;
}

function describeWindows(w: readonly number[]): string {
  const sizes = [...new Set(w.filter((x) => x > 0))];
  const full = w.flatMap((x, i) => (x > 0 ? [] : [i]));
  const where = full.length === 0 ? "every layer" : `all layers but ${full.join(", ")}`;
  return `sliding window ${sizes.join("/")} in ${where}`;
}
