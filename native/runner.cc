// The forward pass of one step (see runner.h), the same computation as the TypeScript
// reference in src/kernels/reference.ts: new K/V go into the pool first, and attention then
// reads them back from it, so a chunked prefill sees exactly the values a whole one does.
#include "runner.h"

#include <cmath>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>

#include "file-pages.h"

namespace rlm {

// Below this many rows, the per-row steps (norms, RoPE) run on the calling thread instead
// of waking the pool.
constexpr int64_t kInlineRows = 4;

void Runner::FreeDeleter::operator()(void* p) const { std::free(p); }

Runner::Runner(ModelDesc desc, int64_t kv_capacity, bool kv_f16, int threads)
    : m_(std::move(desc)),
      capacity_(kv_capacity),
      kv_f16_(kv_f16),
      q_dim_(static_cast<int64_t>(m_.heads) * m_.head_dim),
      kv_dim_(static_cast<int64_t>(m_.kv_heads) * m_.head_dim),
      kv_bytes_(static_cast<size_t>(kv_capacity) * m_.layers.size() * static_cast<size_t>(kv_dim_) * 2 *
                (kv_f16 ? 2 : 4)),
      pool_(threads),
      chooser_(threads) {
  // calloc: large blocks come from fresh zero pages, so the pool costs memory only as used.
  void* p = std::calloc(kv_bytes_ > 0 ? kv_bytes_ : 1, 1);
  if (p == nullptr) throw std::bad_alloc();
  kv_.reset(static_cast<uint8_t*>(p));
  repack_weights();
}

// Repacks, one matrix at a time, those the active path reads repacked, and releases each
// original's file pages as soon as its copy is made: memory never holds the weights twice,
// only one matrix of them for a moment. A tied output matrix is repacked too and the
// embedding lookups read their rows back out of the groups (dequantize_row).
void Runner::repack_weights() {
  const Simd simd = simd_active();
  std::vector<WeightView*> todo;
  for (LayerDesc& L : m_.layers) {
    for (WeightView* w : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down, &L.router, &L.shared_gate, &L.shared_up, &L.shared_down}) {
      if (w->data != nullptr) todo.push_back(w);
    }
    for (auto* list : {&L.exp_gate, &L.exp_up, &L.exp_down}) {
      for (WeightView& w : *list) todo.push_back(&w);
    }
  }
  const bool tied = m_.output.data == m_.embed.data;
  todo.push_back(&m_.output);
  size_t total = 0;
  std::vector<WeightView*> packs;
  for (WeightView* w : todo) {
    if (w->layout != Layout::Rows || !repack_wanted(w->type, simd)) continue;
    packs.push_back(w);
    total += rlm::packed_bytes(*w);
  }
  if (packs.empty()) return;
  packed_ = PackBuffer(total);
  uint8_t* at = packed_.data();
  for (WeightView* w : packs) {
    const WeightView packed = repack_rows16(*w, at, &pool_, true);
    released_bytes_ += release_file_pages(w->data, w->row_bytes * static_cast<size_t>(w->rows));
    at += rlm::packed_bytes(*w);
    *w = packed;
  }
  packed_bytes_ = total;
  if (tied) m_.embed = m_.output;
}

uint8_t* Runner::kv_block(int layer, int which) const {
  const size_t block = static_cast<size_t>(capacity_) * static_cast<size_t>(kv_dim_) * (kv_f16_ ? 2 : 4);
  return kv_.get() + (static_cast<size_t>(layer) * 2 + static_cast<size_t>(which)) * block;
}

KVView Runner::kv_view(int layer) const {
  KVView v;
  v.k = kv_block(layer, 0);
  v.v = kv_block(layer, 1);
  v.f16 = kv_f16_;
  v.stride = m_.head_dim;
  return v;
}

int64_t Runner::kv_head_offset(int head) const { return static_cast<int64_t>(head) * capacity_ * m_.head_dim; }

std::string Runner::check(const StepInput& in) const {
  const int64_t n = static_cast<int64_t>(in.tokens.size());
  const size_t nseq = in.seq_start.size();
  if (n == 0) return "the step has no tokens";
  if (static_cast<int64_t>(in.positions.size()) != n) return "positions and tokens differ in length";
  if (in.seq_count.size() != nseq || in.slot_offset.size() != nseq + 1) return "malformed sequence arrays";
  if (in.slot_offset[0] != 0 || in.slot_offset[nseq] != static_cast<int64_t>(in.slots.size())) return "malformed slot offsets";
  for (int64_t r = 0; r < n; r++) {
    if (in.tokens[r] < 0 || in.tokens[r] >= m_.vocab) {
      return "token id " + std::to_string(in.tokens[r]) + " is outside the vocabulary (" + std::to_string(m_.vocab) + ")";
    }
  }
  int64_t covered = 0;
  for (size_t s = 0; s < nseq; s++) {
    const int64_t len = in.slot_offset[s + 1] - in.slot_offset[s];
    const int64_t count = in.seq_count[s];
    if (in.seq_start[s] != covered || count <= 0 || count > len || covered + count > n) return "sequences must cover the tokens in order";
    for (int64_t j = 0; j < count; j++) {
      if (in.positions[covered + j] != len - count + j) return "positions do not match the slot list";
    }
    covered += count;
  }
  if (covered != n) return "sequences do not cover every token";
  for (int32_t slot : in.slots) {
    if (slot < 0 || slot >= capacity_) return "KV slot " + std::to_string(slot) + " out of range";
  }
  for (int32_t r : in.logit_rows) {
    if (r < 0 || r >= n) return "logit row " + std::to_string(r) + " out of range";
  }
  for (int32_t r : in.hidden_rows) {
    if (r < 0 || r >= n) return "hidden row " + std::to_string(r) + " out of range";
  }
  return "";
}

void Runner::reserve(int64_t n, int64_t m, int64_t max_len) {
  const size_t T = static_cast<size_t>(pool_.size());
  if (n > cap_rows_) {
    const size_t N = static_cast<size_t>(n);
    x_.resize(N * m_.hidden);
    xn_.resize(N * m_.hidden);
    proj_.resize(N * m_.hidden);
    q_.resize(N * q_dim_);
    att_.resize(N * q_dim_);
    k_.resize(N * kv_dim_);
    v_.resize(N * kv_dim_);
    gate_.resize(N * m_.ffn);
    up_.resize(N * m_.ffn);
    angles_.resize(N * m_.head_dim);
    if (!m_.inv_freq_local.empty()) angles_local_.resize(N * m_.head_dim);
    row_seq_.resize(N);
    cap_rows_ = n;
  }
  if (m > cap_logit_rows_) {
    last_.resize(static_cast<size_t>(m) * m_.hidden);
    cap_logit_rows_ = m;
  }
  if (max_len > cap_len_) {
    scores_.resize(T * attention_scratch_floats(max_len));
    cap_len_ = max_len;
  }
}

void Runner::rows(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= kInlineRows) {
    for (int64_t r = 0; r < n; r++) fn(r);  // a few rows: skip the pool's barrier; the arithmetic is the same
    return;
  }
  pool_.run(n, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; r++) fn(r);
  });
}

void Runner::layer(const StepInput& in, int64_t n, int li) {
  const LayerDesc& L = m_.layers[li];
  const int64_t h = m_.hidden;
  const int hd = m_.head_dim;
  float* x = x_.data();
  float* xn = xn_.data();
  rows(n, [&](int64_t r) { rms_norm(x + r * h, L.attn_norm.data(), h, m_.eps, xn + r * h); });
  const MatmulJob qkv[3] = {{&L.q, q_.data()}, {&L.k, k_.data()}, {&L.v, v_.data()}};
  matmul_group(qkv, 3, xn, n, pool_, mm_);

  uint8_t* k_store = kv_block(li, 0);
  uint8_t* v_store = kv_block(li, 1);
  const size_t elem = kv_f16_ ? 2 : 4;
  rows(n, [&](int64_t r) {
    float* qr = q_.data() + r * q_dim_;
    float* kr = k_.data() + r * kv_dim_;
    float* vr = v_.data() + r * kv_dim_;
    if (!L.q_bias.empty()) add_in_place(qr, L.q_bias.data(), q_dim_);
    if (!L.k_bias.empty()) add_in_place(kr, L.k_bias.data(), kv_dim_);
    if (!L.v_bias.empty()) add_in_place(vr, L.v_bias.data(), kv_dim_);
    const bool local = L.window > 0 && !m_.inv_freq_local.empty();
    const double* ang = (local ? angles_local_ : angles_).data() + r * hd;
    // Norms of the whole projection (OLMoE) first; per-head norms (Qwen3, Gemma 3) in the loops.
    const bool q_whole = static_cast<int64_t>(L.q_norm.size()) == q_dim_ && q_dim_ != hd;
    const bool k_whole = static_cast<int64_t>(L.k_norm.size()) == kv_dim_ && kv_dim_ != hd;
    if (q_whole) rms_norm(qr, L.q_norm.data(), q_dim_, m_.eps, qr);
    if (k_whole) rms_norm(kr, L.k_norm.data(), kv_dim_, m_.eps, kr);
    for (int hh = 0; hh < m_.heads; hh++) {
      float* head = qr + static_cast<int64_t>(hh) * hd;
      if (!L.q_norm.empty() && !q_whole) rms_norm(head, L.q_norm.data(), hd, m_.eps, head);
      if (L.rope) rope(head, m_.rope_dim, ang, m_.interleaved);
    }
    for (int hh = 0; hh < m_.kv_heads; hh++) {
      float* head = kr + static_cast<int64_t>(hh) * hd;
      if (!L.k_norm.empty() && !k_whole) rms_norm(head, L.k_norm.data(), hd, m_.eps, head);
      if (L.rope) rope(head, m_.rope_dim, ang, m_.interleaved);
    }
    const int32_t s = row_seq_[r];
    const int64_t slot = in.slots[in.slot_offset[s] + in.positions[r]];
    for (int hh = 0; hh < m_.kv_heads; hh++) {
      const size_t off = static_cast<size_t>(kv_head_offset(hh) + slot * hd) * elem;
      store_kv_row(kr + static_cast<int64_t>(hh) * hd, k_store + off, hd, kv_f16_);
      store_kv_row(vr + static_cast<int64_t>(hh) * hd, v_store + off, hd, kv_f16_);
    }
  });
  attention(in, n, li);

  float* proj = proj_.data();
  matmul(L.o, att_.data(), n, proj, pool_, mm_);
  const float rs = m_.residual_scale;
  rows(n, [&](int64_t r) {
    if (!L.post_attn_norm.empty()) rms_norm(proj + r * h, L.post_attn_norm.data(), h, m_.eps, proj + r * h);
    if (rs != 1.0f) scale_in_place(proj + r * h, rs, h);
    add_in_place(x + r * h, proj + r * h, h);
    rms_norm(x + r * h, L.ffn_norm.data(), h, m_.eps, xn + r * h);
  });
  if (m_.n_expert > 0) {
    mixture(L, n, proj);
  } else {
    const MatmulJob gate_up[2] = {{&L.gate, gate_.data()}, {&L.up, up_.data()}};
    matmul_group(gate_up, 2, xn, n, pool_, mm_);
    rows(n, [&](int64_t r) {
      if (m_.gelu) gelu_tanh_mul(gate_.data() + r * m_.ffn, up_.data() + r * m_.ffn, m_.ffn);
      else silu_mul(gate_.data() + r * m_.ffn, up_.data() + r * m_.ffn, m_.ffn);
    });
    matmul(L.down, gate_.data(), n, proj, pool_, mm_);
  }
  rows(n, [&](int64_t r) {
    if (!L.post_ffn_norm.empty()) rms_norm(proj + r * h, L.post_ffn_norm.data(), h, m_.eps, proj + r * h);
    if (rs != 1.0f) scale_in_place(proj + r * h, rs, h);
    add_in_place(x + r * h, proj + r * h, h);
  });
}

namespace {

// Rows computed in one pass. Larger steps (long prefill chunks) are cut into passes of this
// many rows: the activations then stay small (and in cache) while the weights, re-read
// once per pass, are a small cost next to a prefill's arithmetic. A pass is exactly a
// smaller step, and results do not depend on how rows are batched, so the logits are the
// same bits either way.
constexpr int64_t kMaxPassRows = 128;

}  // namespace

void Runner::forward(const StepInput& in, float* logits, float* hidden) {
  const int64_t n = static_cast<int64_t>(in.tokens.size());
  pool_.set_active(chooser_.pick(n));
  const auto t0 = std::chrono::steady_clock::now();
  passes(in, logits, hidden);
  chooser_.record(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

void Runner::passes(const StepInput& in, float* logits, float* hidden) {
  const int64_t n = static_cast<int64_t>(in.tokens.size());
  if (n <= kMaxPassRows) {
    pass(in, logits, hidden, nullptr);
    return;
  }
  const int64_t vocab = m_.vocab;
  for (int64_t a = 0; a < n; a += kMaxPassRows) {
    const int64_t b = std::min(n, a + kMaxPassRows);
    StepInput& sub = sub_;
    sub.tokens.assign(in.tokens.begin() + a, in.tokens.begin() + b);
    sub.positions.assign(in.positions.begin() + a, in.positions.begin() + b);
    sub.seq_start.clear();
    sub.seq_count.clear();
    sub.slot_offset.assign(1, 0);
    sub.slots.clear();
    sub.logit_rows.clear();
    sub.hidden_rows.clear();
    hidden_index_.clear();
    for (size_t i = 0; i < in.hidden_rows.size(); i++) {
      const int32_t r = in.hidden_rows[i];
      if (r < a || r >= b) continue;
      sub.hidden_rows.push_back(static_cast<int32_t>(r - a));
      hidden_index_.push_back(static_cast<int64_t>(i));
    }
    for (size_t s = 0; s < in.seq_start.size(); s++) {
      const int64_t lo = std::max<int64_t>(in.seq_start[s], a);
      const int64_t hi = std::min<int64_t>(in.seq_start[s] + in.seq_count[s], b);
      if (lo >= hi) continue;
      // The sequence's slots up to its last row in this pass: later rows are not written yet.
      const int64_t len = in.positions[hi - 1] + 1;
      sub.seq_start.push_back(static_cast<int32_t>(lo - a));
      sub.seq_count.push_back(static_cast<int32_t>(hi - lo));
      sub.slots.insert(sub.slots.end(), in.slots.begin() + in.slot_offset[s], in.slots.begin() + in.slot_offset[s] + len);
      sub.slot_offset.push_back(static_cast<int64_t>(sub.slots.size()));
    }
    // Output index of each of this pass's logit rows; in the usual (ascending) case they
    // are consecutive and the pass writes straight into place.
    out_index_.clear();
    for (size_t i = 0; i < in.logit_rows.size(); i++) {
      const int32_t r = in.logit_rows[i];
      if (r < a || r >= b) continue;
      sub.logit_rows.push_back(static_cast<int32_t>(r - a));
      out_index_.push_back(static_cast<int64_t>(i));
    }
    const size_t m = out_index_.size();
    bool in_place = true;
    for (size_t k = 0; k < m; k++) in_place = in_place && out_index_[k] == out_index_[0] + static_cast<int64_t>(k);
    if (in_place) {
      pass(sub, m > 0 ? logits + out_index_[0] * vocab : logits, hidden, hidden_index_.data());
      continue;
    }
    if (sub_logits_.size() < m * static_cast<size_t>(vocab)) sub_logits_.resize(m * static_cast<size_t>(vocab));
    pass(sub, sub_logits_.data(), hidden, hidden_index_.data());
    for (size_t k = 0; k < m; k++) std::copy_n(sub_logits_.data() + k * vocab, vocab, logits + out_index_[k] * vocab);
  }
}

void Runner::pass(const StepInput& in, float* logits, float* hidden, const int64_t* hidden_out) {
  const int64_t n = static_cast<int64_t>(in.tokens.size());
  const int64_t m = static_cast<int64_t>(in.logit_rows.size());
  int64_t max_len = 1;
  for (size_t s = 0; s + 1 < in.slot_offset.size(); s++) max_len = std::max(max_len, in.slot_offset[s + 1] - in.slot_offset[s]);
  reserve(n, m, max_len);
  for (size_t s = 0; s < in.seq_start.size(); s++) {
    for (int32_t j = 0; j < in.seq_count[s]; j++) row_seq_[in.seq_start[s] + j] = static_cast<int32_t>(s);
  }
  const int64_t h = m_.hidden;
  rows(n, [&](int64_t r) {
    dequantize_row(m_.embed, in.tokens[r], x_.data() + r * h);
    if (m_.embed_scale != 1.0f) scale_in_place(x_.data() + r * h, m_.embed_scale, h);
    rope_angles(in.positions[r], m_.inv_freq.data(), m_.rope_dim / 2, angles_.data() + r * m_.head_dim);
    if (!m_.inv_freq_local.empty()) {
      rope_angles(in.positions[r], m_.inv_freq_local.data(), m_.rope_dim / 2, angles_local_.data() + r * m_.head_dim);
    }
    if (m_.rope_scale != 1.0) {
      for (int i = 0; i < m_.rope_dim; i++) angles_[r * m_.head_dim + i] *= m_.rope_scale;
    }
  });
  for (int li = 0; li < static_cast<int>(m_.layers.size()); li++) layer(in, n, li);
  // The same norm the logits rows get, so that a row's hidden state is the bits its logits start from.
  rows(static_cast<int64_t>(in.hidden_rows.size()), [&](int64_t i) {
    const int64_t o = hidden_out ? hidden_out[i] : i;
    rms_norm(x_.data() + static_cast<int64_t>(in.hidden_rows[i]) * h, m_.output_norm.data(), h, m_.eps, hidden + o * h);
  });
  if (m == 0) return;
  rows(m, [&](int64_t i) {
    rms_norm(x_.data() + static_cast<int64_t>(in.logit_rows[i]) * h, m_.output_norm.data(), h, m_.eps, last_.data() + i * h);
  });
  matmul(m_.output, last_.data(), m, logits, pool_, mm_);
  if (m_.logit_scale != 1.0f) {
    const float ls = m_.logit_scale;
    const int64_t total = m * m_.vocab;
    for (int64_t i = 0; i < total; i++) logits[i] /= ls;
  }
  if (m_.final_softcap > 0) {
    const float cap = m_.final_softcap;
    rows(m, [&](int64_t i) {
      float* l = logits + i * m_.vocab;
      for (int64_t j = 0; j < m_.vocab; j++) l[j] = cap * std::tanh(l[j] / cap);
    });
  }
}

}  // namespace rlm
