#pragma once
// The native model runner: a llama-family model (llama/mistral, qwen2 with QKV bias, qwen3
// with per-head Q/K RMSNorm) described by weight views into the mapped model file, a KV
// pool allocated here, and the forward pass of one step over a batch of sequences.
//
// Batch invariance: every value of a row is computed by the same operations in the same
// order whatever else is in the step and however many threads run it. Matmul guarantees
// this per (row, output); the ops here work per row or per (token, head) pair.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "matmul.h"
#include "ops.h"
#include "repack.h"
#include "thread-chooser.h"
#include "thread-pool.h"

namespace rlm {

struct LayerDesc {
  std::vector<float> attn_norm, ffn_norm;
  std::vector<float> q_bias, k_bias, v_bias;  // empty when absent
  std::vector<float> q_norm, k_norm;          // empty when absent (qwen3 has them)
  std::vector<float> post_attn_norm, post_ffn_norm;  // empty when absent (Gemma: on each branch's output)
  WeightView q, k, v, o, gate, up, down;
  bool rope = true;  // false: Q and K go unrotated (SmolLM3's every 4th layer)
  int64_t window = 0;  // sliding window: a row sees its last `window` positions (0: all)
  // A mixture of experts in place of gate/up/down (ModelDesc's n_expert > 0): the router
  // [n_expert, hidden] and each expert's matrices.
  WeightView router;
  std::vector<WeightView> exp_gate, exp_up, exp_down;
  // Qwen2-MoE's shared expert (ModelDesc's shared_ffn > 0): its gate vector and its MLP.
  std::vector<float> shared_gate_inp;
  WeightView shared_gate, shared_up, shared_down;
};

struct ModelDesc {
  int64_t vocab = 0, hidden = 0, ffn = 0;
  int heads = 0, kv_heads = 0, head_dim = 0;
  double eps = 1e-5;
  bool interleaved = false;            // RoPE layout: GGUF llama files pair 2i with 2i+1
  std::vector<double> inv_freq;        // rope_dim / 2 entries, scaling already applied
  int rope_dim = 0;                    // dims of each head rotated, the first ones (partial rotary); set to head_dim when 0
  double rope_scale = 1.0;             // rotated values are multiplied by it (LongRoPE's attention factor)
  std::vector<double> inv_freq_local;  // empty, or those of the sliding-window layers (Gemma 3)
  bool gelu = false;                   // the MLP's gate: GELU (tanh form, Gemma's GeGLU) instead of SiLU
  float final_softcap = 0.0f;          // Gemma 2: logits become softcap * tanh(logit / softcap); 0: none
  WeightView embed, output;            // output may alias embed (tied embeddings)
  std::vector<float> output_norm;
  std::vector<LayerDesc> layers;
  // Granite's multipliers (backend.ts Multipliers); attn_scale 0: 1/sqrt(head_dim).
  float embed_scale = 1.0f, attn_scale = 0.0f, residual_scale = 1.0f, logit_scale = 1.0f;
  float attn_softcap = 0.0f;  // Gemma 2: scores become softcap * tanh(score / softcap); 0: none
  // Mixture of experts (runner-moe.cc): experts per layer (0: a dense MLP), run per token,
  // each one's MLP width, and whether the chosen experts' weights are renormalized to sum 1.
  int n_expert = 0, n_expert_used = 0;
  int64_t expert_ffn = 0, shared_ffn = 0;
  bool norm_topk = false;
};

/** One step, flattened: sequence s owns rows [seq_start[s], seq_start[s] + seq_count[s]). */
struct StepInput {
  std::vector<int32_t> tokens, positions;
  std::vector<int32_t> seq_start, seq_count;
  std::vector<int64_t> slot_offset;    // where sequence s's slot list starts in `slots`
  std::vector<int32_t> slots;          // each sequence's kvSlots, one after another
  std::vector<int32_t> logit_rows;
  // Rows whose final hidden state (after the output norm, before the output matrix) is
  // wanted: what embedding models pool.
  std::vector<int32_t> hidden_rows;
};

class Runner {
 public:
  Runner(ModelDesc desc, int64_t kv_capacity, bool kv_f16, int threads);
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /** Checks the step against the model and the pool; returns an error message or "". */
  std::string check(const StepInput& in) const;

  /**
   * Runs the step; writes logit_rows.size() x vocab floats to `logits` and
   * hidden_rows.size() x hidden floats to `hidden`. Steps of up to 32 rows run on as many of
   * the pool's threads as measured fastest for their size (thread-chooser.h).
   */
  void forward(const StepInput& in, float* logits, float* hidden = nullptr);

  int threads() const { return pool_.size(); }
  /** Threads one-row decode steps run on now (thread-chooser.h). */
  int decode_threads() const { return chooser_.decode(); }
  size_t kv_bytes() const { return kv_bytes_; }
  /** Bytes of one token's K and V over all layers, as export_kv lays them out. */
  size_t kv_token_bytes() const;
  /** "" when every slot is in the pool, else what is wrong. */
  std::string check_slots(const int32_t* slots, size_t n) const;
  /**
   * Copies the K and V of `n` slots out (token-major: per slot, per layer, K then V, kv_heads x
   * head_dim values in the pool's dtype), and back in. Safe beside a forward pass that uses
   * other slots (runner-kv.cc).
   */
  void export_kv(const int32_t* slots, size_t n, uint8_t* out) const;
  void import_kv(const int32_t* slots, size_t n, const uint8_t* in);
  /** Bytes of the matrices repacked at construction, and of their file pages released. */
  size_t packed_bytes() const { return packed_bytes_; }
  size_t released_bytes() const { return released_bytes_; }
  const ModelDesc& model() const { return m_; }

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };

  void repack_weights();
  void passes(const StepInput& in, float* logits, float* hidden);
  void balance_attention_blocks();
  size_t attention_scratch_floats(int64_t max_len) const;  // per thread (runner-attention.cc)
  // `hidden_out[i]`: the output row of hidden_rows[i] (null: i).
  void pass(const StepInput& in, float* logits, float* hidden, const int64_t* hidden_out);
  void reserve(int64_t n, int64_t m, int64_t max_len);
  void rows(int64_t n, const std::function<void(int64_t)>& fn);
  void attention(const StepInput& in, int64_t n, int layer);
  void find_attention_blocks(const StepInput& in, int64_t n);
  void layer(const StepInput& in, int64_t n, int li);
  void mixture(const LayerDesc& L, int64_t n, float* out);  // runner-moe.cc
  uint8_t* kv_block(int layer, int which) const;  // which: 0 = K, 1 = V
  KVView kv_view(int layer) const;
  int64_t kv_head_offset(int head) const;  // values from a K or V block's start to kv head `head`'s rows

  ModelDesc m_;
  int64_t capacity_;
  bool kv_f16_;
  int64_t q_dim_, kv_dim_;
  size_t kv_bytes_;
  // [layer][K|V][kv head][slot][head_dim]: one kv head's rows of consecutive slots are
  // contiguous, so attention streams them (a head's slice of a [slot][kv_dim] row is a
  // strided read, and a decode step's attention was bound by its latency).
  std::unique_ptr<uint8_t, FreeDeleter> kv_;
  ThreadPool pool_;
  StepThreads chooser_;
  MatmulScratch mm_;
  PackBuffer packed_;  // the repacked matrices m_'s views point into
  size_t packed_bytes_ = 0, released_bytes_ = 0;

  // Activations, grown on demand and reused from step to step.
  int64_t cap_rows_ = 0, cap_logit_rows_ = 0, cap_len_ = 0;
  std::vector<float> x_, xn_, q_, k_, v_, att_, proj_, gate_, up_, last_;
  std::vector<double> angles_;        // per row: head_dim/2 (cos, sin) pairs
  std::vector<double> angles_local_;  // the same from inv_freq_local, when the model has it
  std::vector<int32_t> row_seq_;      // sequence of each row
  std::vector<float> scores_;         // per thread: attend scratch
  std::vector<int64_t> blocks_;       // attention: first row of each block of rows, then n
  std::vector<int64_t> block_shared_; // per block: positions its rows read from the same slots (-1: one slot list)
  // Mixture of experts: router logits, each row's experts and weights in rank order, the
  // rows gathered per expert and their products, and the shared expert's.
  std::vector<float> router_logits_, route_w_, xe_, ge_, ue_, de_, sg_, su_, sd_;
  std::vector<int32_t> route_e_;
  std::vector<int64_t> expert_rows_, fill_, pos_;  // expert e's pairs at [expert_rows_[e], [e + 1]); pair p gathered at pos_[p]
  std::vector<MatmulInput> jobs_;

  // A step of more rows than kMaxPassRows runs as several passes (see forward()).
  StepInput sub_;
  std::vector<float> sub_logits_;
  std::vector<int64_t> out_index_, hidden_index_;
};

}  // namespace rlm
