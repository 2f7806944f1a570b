// A layer's mixture of experts (see runner.h): each row's router logits, a softmax over all
// experts, the n_expert_used most probable; then expert by expert, the rows routed to it are
// gathered and run through its MLP together, so a prefill reads each expert's weights once
// and a decode step reads only the chosen experts'.
//
// Batch invariance: a row's router logits and each expert's output for it are matmul rows
// (the same bits whatever else is in the product); its experts' outputs are added in the
// row's own rank order, never in the order experts happen to be run.
#include "runner.h"

#include <algorithm>
#include <cmath>

namespace rlm {

void Runner::mixture(const LayerDesc& L, int64_t n, float* out) {
  const int64_t h = m_.hidden, f = m_.expert_ffn;
  const int E = m_.n_expert, k = m_.n_expert_used;
  const size_t N = static_cast<size_t>(n);
  if (router_logits_.size() < N * E) router_logits_.resize(N * E);
  if (route_e_.size() < N * k) route_e_.resize(N * k), route_w_.resize(N * k);
  if (xe_.size() < N * h) xe_.resize(N * h), de_.resize(N * h);
  if (ge_.size() < N * f) ge_.resize(N * f), ue_.resize(N * f);
  if (expert_out_.size() < N * k * h) expert_out_.resize(N * k * h);
  const float* xn = xn_.data();

  matmul(L.router, xn, n, router_logits_.data(), pool_, mm_);
  rows(n, [&](int64_t r) {
    // Softmax in double, in expert order; the top k by probability, ties to the lower index.
    const float* lg = router_logits_.data() + r * E;
    double mx = -INFINITY;
    for (int e = 0; e < E; e++) mx = std::max(mx, static_cast<double>(lg[e]));
    double sum = 0;
    for (int e = 0; e < E; e++) sum += std::exp(static_cast<double>(lg[e]) - mx);
    int32_t* sel = route_e_.data() + r * k;
    float* w = route_w_.data() + r * k;
    double chosen = 0;
    double p[64];
    for (int j = 0; j < k; j++) {
      int best = -1;
      for (int e = 0; e < E; e++) {
        bool taken = false;
        for (int i = 0; i < j; i++) taken = taken || sel[i] == e;
        if (!taken && (best < 0 || lg[e] > lg[best])) best = e;
      }
      sel[j] = best;
      p[j] = std::exp(static_cast<double>(lg[best]) - mx) / sum;
      chosen += p[j];
    }
    for (int j = 0; j < k; j++) w[j] = static_cast<float>(m_.norm_topk ? p[j] / chosen : p[j]);
  });

  // Expert by expert, its rows in row order.
  for (int e = 0; e < E; e++) {
    expert_rows_.clear();
    for (int64_t r = 0; r < n; r++) {
      for (int j = 0; j < k; j++) {
        if (route_e_[r * k + j] == e) expert_rows_.push_back(r * k + j);
      }
    }
    const int64_t m = static_cast<int64_t>(expert_rows_.size());
    if (m == 0) continue;
    for (int64_t i = 0; i < m; i++) std::copy_n(xn + (expert_rows_[i] / k) * h, h, xe_.data() + i * h);
    const MatmulJob gate_up[2] = {{&L.exp_gate[e], ge_.data()}, {&L.exp_up[e], ue_.data()}};
    matmul_group(gate_up, 2, xe_.data(), m, pool_, mm_);
    rows(m, [&](int64_t i) { silu_mul(ge_.data() + i * f, ue_.data() + i * f, f); });
    matmul(L.exp_down[e], ge_.data(), m, de_.data(), pool_, mm_);
    for (int64_t i = 0; i < m; i++) std::copy_n(de_.data() + i * h, h, expert_out_.data() + expert_rows_[i] * h);
  }
  // Qwen2-MoE's shared expert runs on every row, scaled by sigmoid(shared_gate_inp . x).
  const int64_t fs = m_.shared_ffn;
  if (fs > 0) {
    if (ge_.size() < N * fs) ge_.resize(N * fs), ue_.resize(N * fs);
    const MatmulJob gate_up[2] = {{&L.shared_gate, ge_.data()}, {&L.shared_up, ue_.data()}};
    matmul_group(gate_up, 2, xn, n, pool_, mm_);
    rows(n, [&](int64_t r) { silu_mul(ge_.data() + r * fs, ue_.data() + r * fs, fs); });
    matmul(L.shared_down, ge_.data(), n, de_.data(), pool_, mm_);
  }
  rows(n, [&](int64_t r) {
    float* o = out + r * h;
    for (int64_t i = 0; i < h; i++) o[i] = 0.0f;
    for (int j = 0; j < k; j++) {
      const float w = route_w_[r * k + j];
      const float* v = expert_out_.data() + (r * k + j) * h;
      for (int64_t i = 0; i < h; i++) o[i] += w * v[i];
    }
    if (fs > 0) {
      double dot = 0;
      for (int64_t i = 0; i < h; i++) dot += static_cast<double>(L.shared_gate_inp[i]) * xn[r * h + i];
      const float g = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
      const float* v = de_.data() + r * h;
      for (int64_t i = 0; i < h; i++) o[i] += g * v[i];
    }
  });
}

}  // namespace rlm
