// Mixture-of-experts layers as configs and files spell them. GGUF stacks each layer's
// experts into 3D tensors (ffn_gate_exps [experts, ffn, hidden], ...), as llama.cpp's
// converter writes them; HF folders keep one matrix per expert, which the loader stacks
// under the same names (`@e` marks expert e of a stack; see load.ts).
import type { MoeConfig } from "../kernels/backend.js";
import type { GGUFWriteValue } from "../formats/gguf.js";
import type { TensorSpec } from "./arch.js";
import { ConfigFields } from "./config-fields.js";

/** HF's names of one layer's experts and router, after "model.layers.N.", by family. */
export interface HFExpertNames {
  /** The router: [experts, hidden]. */
  readonly router: string;
  /** Expert e's gate, up and down matrices: a pattern with `{e}`. */
  readonly gate: string;
  readonly up: string;
  readonly down: string;
}

export const QWEN_MOE_NAMES: HFExpertNames = {
  router: "mlp.gate.weight", gate: "mlp.experts.{e}.gate_proj.weight", up: "mlp.experts.{e}.up_proj.weight", down: "mlp.experts.{e}.down_proj.weight",
};
export const MIXTRAL_NAMES: HFExpertNames = {
  router: "block_sparse_moe.gate.weight", gate: "block_sparse_moe.experts.{e}.w1.weight", up: "block_sparse_moe.experts.{e}.w3.weight",
  down: "block_sparse_moe.experts.{e}.w2.weight",
};

const STACKS = { gate: "ffn_gate_exps.weight", up: "ffn_up_exps.weight", down: "ffn_down_exps.weight" } as const;

/** The internal name (with `@e` for expert e of a stack) of an HF name after "model.layers.N.", or null. */
export function internalExpertName(names: HFExpertNames, rest: string): string | null {
  if (rest === names.router) return "ffn_gate_inp.weight";
  for (const k of ["gate", "up", "down"] as const) {
    const [before, after] = names[k].split("{e}") as [string, string];
    if (rest.startsWith(before) && rest.endsWith(after)) {
      const e = rest.slice(before.length, rest.length - after.length);
      if (/^\d+$/.test(e)) return `${STACKS[k]}@${Number(e)}`;
    }
  }
  return null;
}

/** The HF name (after "model.layers.N.") of an internal expert tensor, expert e of a stack; null if not one. */
export function hfExpertName(names: HFExpertNames, internal: string, e = 0): string | null {
  if (internal === "ffn_gate_inp.weight") return names.router;
  for (const k of ["gate", "up", "down"] as const) if (internal === STACKS[k]) return names[k].replace("{e}", String(e));
  return null;
}

/** One layer's expert tensors under prefix `b` ("blk.3."). */
export function moeTensorSpecs(b: string, hidden: number, moe: MoeConfig): TensorSpec[] {
  const out: TensorSpec[] = [
    { name: b + "ffn_gate_inp.weight", shape: [moe.experts, hidden], isVector: false, keepFloat: true },
    { name: b + STACKS.gate, shape: [moe.experts, moe.expertFfn, hidden], isVector: false },
    { name: b + STACKS.up, shape: [moe.experts, moe.expertFfn, hidden], isVector: false },
    { name: b + STACKS.down, shape: [moe.experts, hidden, moe.expertFfn], isVector: false },
  ];
  if (moe.sharedFfn !== undefined) {
    const f = moe.sharedFfn;
    out.push({ name: b + "ffn_gate_inp_shexp.weight", shape: [hidden], isVector: true });
    out.push({ name: b + "ffn_gate_shexp.weight", shape: [f, hidden], isVector: false });
    out.push({ name: b + "ffn_up_shexp.weight", shape: [f, hidden], isVector: false });
    out.push({ name: b + "ffn_down_shexp.weight", shape: [hidden, f], isVector: false });
  }
  return out;
}

/** Qwen2-MoE's shared expert, HF's names after "model.layers.N." to internal ones. */
export const QWEN2_SHARED: Readonly<Record<string, string>> = {
  "mlp.shared_expert_gate.weight": "ffn_gate_inp_shexp.weight",
  "mlp.shared_expert.gate_proj.weight": "ffn_gate_shexp.weight",
  "mlp.shared_expert.up_proj.weight": "ffn_up_shexp.weight",
  "mlp.shared_expert.down_proj.weight": "ffn_down_shexp.weight",
};

function checkUsed(r: ConfigFields, key: string, used: number, experts: number): number {
  if (used > experts) throw r.fail(key, `${used} experts per token, but the model has ${experts}`);
  return used;
}

/**
 * Qwen3-MoE / Qwen2-MoE's config: num_experts, num_experts_per_tok, moe_intermediate_size,
 * norm_topk_prob. Layers that keep a dense MLP (mlp_only_layers, decoder_sparse_step > 1)
 * are refused: every layer here is a mixture.
 */
export function hfQwenMoe(r: ConfigFields): MoeConfig {
  const only = r.raw("mlp_only_layers");
  if (Array.isArray(only) && only.length > 0) throw r.fail("mlp_only_layers", "layers with a dense MLP between mixture layers are not supported");
  if (r.int("decoder_sparse_step", { min: 1, fallback: 1 }) !== 1) throw r.fail("decoder_sparse_step", "only 1 (every layer a mixture) is supported");
  const experts = r.int("num_experts", { min: 1, max: 4096 });
  return {
    experts,
    used: checkUsed(r, "num_experts_per_tok", r.int("num_experts_per_tok", { min: 1 }), experts),
    expertFfn: r.int("moe_intermediate_size", { min: 1 }),
    normTopK: r.raw("norm_topk_prob") === true,
  };
}

/** Qwen2-MoE's: Qwen3-MoE's fields and the shared expert's width (shared_expert_intermediate_size). */
export function hfQwen2Moe(r: ConfigFields): MoeConfig {
  return { ...hfQwenMoe(r), sharedFfn: r.int("shared_expert_intermediate_size", { min: 1 }) };
}

/** OLMoE's: num_experts, num_experts_per_tok, the experts' width as intermediate_size, norm_topk_prob. */
export function hfOlmoe(r: ConfigFields): MoeConfig {
  const clip = r.raw("clip_qkv");
  if (clip !== undefined && clip !== null) throw r.fail("clip_qkv", "clipping Q, K and V is not supported");
  const experts = r.int("num_experts", { min: 1, max: 4096 });
  return {
    experts,
    used: checkUsed(r, "num_experts_per_tok", r.int("num_experts_per_tok", { min: 1 }), experts),
    expertFfn: r.int("intermediate_size", { min: 1 }),
    normTopK: r.raw("norm_topk_prob") === true,
  };
}

/** Mixtral's: num_local_experts, num_experts_per_tok; the experts' width is intermediate_size; weights renormalized. */
export function hfMixtralMoe(r: ConfigFields): MoeConfig {
  const experts = r.int("num_local_experts", { min: 1, max: 4096 });
  return {
    experts,
    used: checkUsed(r, "num_experts_per_tok", r.int("num_experts_per_tok", { min: 1, fallback: 2 }), experts),
    expertFfn: r.int("intermediate_size", { min: 1 }),
    normTopK: true,
  };
}

/**
 * GGUF's `{arch}.expert_count`, `expert_used_count`, `expert_feed_forward_length` (the
 * plain feed_forward_length where absent, as Mixtral's llama files have it); undefined
 * when the file has no experts. Whether the weights are renormalized is the family's, as
 * llama.cpp fixes it per architecture.
 */
export function ggufMoe(r: ConfigFields, p: string, normTopK: boolean): MoeConfig | undefined {
  if (!r.has(p + "expert_count") || r.int(p + "expert_count", { min: 0 }) === 0) return undefined;
  const experts = r.int(p + "expert_count", { min: 1, max: 4096 });
  const ffnKey = r.has(p + "expert_feed_forward_length") ? p + "expert_feed_forward_length" : p + "feed_forward_length";
  const sharedKey = p + "expert_shared_feed_forward_length";
  return {
    experts,
    used: checkUsed(r, p + "expert_used_count", r.int(p + "expert_used_count", { min: 1 }), experts),
    expertFfn: r.int(ffnKey, { min: 1 }),
    normTopK,
    ...(r.has(sharedKey) ? { sharedFfn: r.int(sharedKey, { min: 1 }) } : {}),
  };
}

export function ggufMoeKeys(p: string, moe: MoeConfig): Record<string, GGUFWriteValue> {
  return {
    [`${p}.expert_count`]: moe.experts,
    [`${p}.expert_used_count`]: moe.used,
    [`${p}.expert_feed_forward_length`]: moe.expertFfn,
    ...(moe.sharedFfn !== undefined ? { [`${p}.expert_shared_feed_forward_length`]: moe.sharedFfn } : {}),
  };
}
