// A layer's mixture of experts (see runner.h): each row's router logits, a softmax over all
// experts, the n_expert_used most probable; then the rows routed to each expert are gathered
// and run through its MLP together, so a prefill reads each expert's weights once and a
// decode step reads only the chosen experts'. All the experts' products of a step run in two
// parallel regions (gate and up, then down), not two per expert.
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

  // The (row, rank) pairs grouped by expert, rows in order within each: expert e's are
  // gathered at [first[e], first[e + 1]), and pos_ says where each pair went.
  const int64_t pairs = n * k;
  expert_rows_.assign(static_cast<size_t>(E) + 1, 0);
  for (int64_t p = 0; p < pairs; p++) expert_rows_[route_e_[p] + 1]++;
  for (int e = 0; e < E; e++) expert_rows_[e + 1] += expert_rows_[e];
  if (pos_.size() < static_cast<size_t>(pairs)) pos_.resize(static_cast<size_t>(pairs));
  {
    std::vector<int64_t>& fill = fill_;
    fill.assign(expert_rows_.begin(), expert_rows_.end() - 1);
    for (int64_t p = 0; p < pairs; p++) pos_[p] = fill[route_e_[p]]++;
  }
  if (xe_.size() < static_cast<size_t>(pairs * h)) xe_.resize(static_cast<size_t>(pairs * h)), de_.resize(static_cast<size_t>(pairs * h));
  if (ge_.size() < static_cast<size_t>(pairs * f)) ge_.resize(static_cast<size_t>(pairs * f)), ue_.resize(static_cast<size_t>(pairs * f));
  for (int64_t p = 0; p < pairs; p++) std::copy_n(xn + (p / k) * h, h, xe_.data() + pos_[p] * h);
  // Every chosen expert's gate and up in one parallel region, then every down in another.
  jobs_.clear();
  for (int e = 0; e < E; e++) {
    const int64_t at = expert_rows_[e], m = expert_rows_[e + 1] - at;
    if (m == 0) continue;
    jobs_.push_back(MatmulInput{&L.exp_gate[e], xe_.data() + at * h, m, ge_.data() + at * f});
    jobs_.push_back(MatmulInput{&L.exp_up[e], xe_.data() + at * h, m, ue_.data() + at * f});
  }
  matmul_each(jobs_.data(), static_cast<int>(jobs_.size()), pool_, mm_);
  rows(pairs, [&](int64_t i) { silu_mul(ge_.data() + i * f, ue_.data() + i * f, f); });
  jobs_.clear();
  for (int e = 0; e < E; e++) {
    const int64_t at = expert_rows_[e], m = expert_rows_[e + 1] - at;
    if (m > 0) jobs_.push_back(MatmulInput{&L.exp_down[e], ge_.data() + at * f, m, de_.data() + at * h});
  }
  matmul_each(jobs_.data(), static_cast<int>(jobs_.size()), pool_, mm_);

  // Qwen2-MoE's shared expert runs on every row, scaled by sigmoid(shared_gate_inp . x).
  const int64_t fs = m_.shared_ffn;
  if (fs > 0) {
    if (sg_.size() < N * fs) sg_.resize(N * fs), su_.resize(N * fs);
    if (sd_.size() < N * h) sd_.resize(N * h);
    const MatmulJob gate_up[2] = {{&L.shared_gate, sg_.data()}, {&L.shared_up, su_.data()}};
    matmul_group(gate_up, 2, xn, n, pool_, mm_);
    rows(n, [&](int64_t r) { silu_mul(sg_.data() + r * fs, su_.data() + r * fs, fs); });
    matmul(L.shared_down, sg_.data(), n, sd_.data(), pool_, mm_);
  }
  rows(n, [&](int64_t r) {
    float* o = out + r * h;
    for (int64_t i = 0; i < h; i++) o[i] = 0.0f;
    for (int j = 0; j < k; j++) {
      const float w = route_w_[r * k + j];
      const float* v = de_.data() + pos_[r * k + j] * h;
      for (int64_t i = 0; i < h; i++) o[i] += w * v[i];
    }
    if (fs > 0) {
      double dot = 0;
      for (int64_t i = 0; i < h; i++) dot += static_cast<double>(L.shared_gate_inp[i]) * xn[r * h + i];
      const float g = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
      const float* v = sd_.data() + r * h;
      for (int64_t i = 0; i < h; i++) o[i] += g * v[i];
    }
  });
}

}  // namespace rlm
