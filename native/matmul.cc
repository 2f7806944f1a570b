// rlm::matmul: quantizes the activations once (per row, so a row's bytes never depend on
// the batch), then splits the outputs over the pool's threads in fixed contiguous ranges
// and runs the weight type's kernel on each range. No dot product is ever split across
// threads, and each kernel reduces every (row, output) pair the same way in any tile.
#include "matmul.h"

#include <cstdint>

#include "kernels.h"
#include "repack.h"

namespace rlm {
namespace {

// Outputs are handed to threads in units of this many rows, so that each thread's range is
// mostly whole register tiles.
constexpr int64_t kUnit = 16;
static_assert(kUnit % kGroupRows == 0, "a thread's range never splits a repacked group");

// Below this many rows the caller quantizes the activations alone.
constexpr int64_t kParallelQuantRows = 8;

// Below this many weight bytes times rows the caller computes the whole matmul alone: waking
// the other threads would cost more than it saves. (Which thread computes an output never
// changes its value.)
constexpr double kParallelBytes = 48 * 1024;

uint8_t* aligned_scratch(MatmulScratch& s, size_t bytes) {
  if (s.qx.size() < bytes + 64) s.qx.resize(bytes + 64);
  const uintptr_t p = reinterpret_cast<uintptr_t>(s.qx.data());
  return s.qx.data() + ((64 - (p & 63)) & 63);
}

}  // namespace

GemmFn gemm_kernel(WType t, Simd s) {
  GemmFn fn = nullptr;
  if (is_avx2(s)) {
    fn = gemm_float_avx2(t);
    if (!fn && has_vnni(s)) fn = gemm_q32_vnni(t, vnni_form());
    if (!fn && has_vnni(s)) fn = gemm_k_vnni(t, vnni_form());
    if (!fn) fn = gemm_q32_avx2(t);
    if (!fn) fn = gemm_k_avx2(t);
  }
#if defined(__aarch64__) && defined(__ARM_NEON)
  if (s == Simd::Neon) {
    fn = gemm_float_neon(t);
    if (!fn) fn = gemm_q32_neon(t);
    if (!fn) fn = gemm_k_neon(t);
  }
#endif
  return fn ? fn : gemm_scalar(t);
}

GemmFn gemm_kernel_for(const WeightView& w, Simd s) {
  if (w.layout == Layout::Rows16) {
    GemmFn fn = gemm_x16_avx512(w.type);
    return fn ? fn : gemm_x16_float_avx512(w.type);
  }
  return gemm_kernel(w.type, s);
}

void matmul_group(const MatmulJob* jobs, int count, const float* x, int64_t rows, ThreadPool& pool, MatmulScratch& scratch) {
  if (rows <= 0 || count <= 0) return;
  if (count > 8) {
    for (int j = 0; j < count; j += 8) matmul_group(jobs + j, count - j < 8 ? count - j : 8, x, rows, pool, scratch);
    return;
  }
  const Simd simd = simd_active();
  const int64_t cols = jobs[0].w->cols;
  // The activations in each format the jobs read: F32 as given, the others quantized once.
  constexpr int kFormats = 3;
  const uint8_t* act[kFormats] = {reinterpret_cast<const uint8_t*>(x), nullptr, nullptr};
  size_t stride[kFormats] = {static_cast<size_t>(cols) * sizeof(float), 0, 0};
  bool wanted[kFormats] = {false, false, false};
  for (int j = 0; j < count; ++j) wanted[static_cast<int>(act_format(jobs[j].w->type))] = true;
  size_t bytes = 0;
  for (int f = 1; f < kFormats; ++f) {
    if (!wanted[f]) continue;
    stride[f] = act_row_bytes(static_cast<ActFormat>(f), cols);
    bytes += stride[f] * static_cast<size_t>(rows);
  }
  if (bytes > 0) {
    uint8_t* qx = aligned_scratch(scratch, bytes);
    for (int f = 1; f < kFormats; ++f) {
      if (!wanted[f]) continue;
      act[f] = qx;
      qx += stride[f] * static_cast<size_t>(rows);
    }
    const auto quantize = [&](int64_t b, int64_t e, int) {
      for (int f = 1; f < kFormats; ++f) {
        if (!wanted[f]) continue;
        uint8_t* q = const_cast<uint8_t*>(act[f]);
        for (int64_t r = b; r < e; ++r) quantize_act_row(static_cast<ActFormat>(f), x + r * cols, cols, q + r * stride[f], simd);
      }
    };
    if (rows >= kParallelQuantRows) pool.run(rows, quantize);
    else quantize(0, rows, 0);
  }
  // Output units of all the jobs, one after another.
  int64_t first[9];
  GemmFn fn[8];
  int64_t units = 0;
  double work = 0;
  for (int j = 0; j < count; ++j) {
    first[j] = units;
    fn[j] = gemm_kernel_for(*jobs[j].w, simd);
    units += (jobs[j].w->rows + kUnit - 1) / kUnit;
    work += static_cast<double>(jobs[j].w->row_bytes) * static_cast<double>(jobs[j].w->rows) * static_cast<double>(rows);
  }
  first[count] = units;
  const auto compute = [&](int64_t b, int64_t e, int) {
    for (int j = 0; j < count; ++j) {
      const int64_t lo = b > first[j] ? b : first[j];
      const int64_t hi = e < first[j + 1] ? e : first[j + 1];
      if (lo >= hi) continue;
      const WeightView& w = *jobs[j].w;
      const int f = static_cast<int>(act_format(w.type));
      const int64_t o1 = (hi - first[j]) * kUnit;
      GemmTask task{&w, act[f], stride[f], rows, (lo - first[j]) * kUnit, o1 < w.rows ? o1 : w.rows, jobs[j].out};
      fn[j](task);
    }
  };
  if (work < kParallelBytes) compute(0, units, 0);
  else pool.run(units, compute);
}

void matmul_each(const MatmulInput* jobs, int count, ThreadPool& pool, MatmulScratch& scratch) {
  if (count <= 0) return;
  const Simd simd = simd_active();
  const int64_t cols = jobs[0].w->cols;
  // Each job's activations in the format its weights read (F32 as given).
  std::vector<const uint8_t*>& act = scratch.act;
  std::vector<size_t>& stride = scratch.stride;
  act.assign(static_cast<size_t>(count), nullptr);
  stride.assign(static_cast<size_t>(count), 0);
  size_t bytes = 0;
  int64_t quant_rows = 0;
  for (int j = 0; j < count; ++j) {
    const ActFormat f = act_format(jobs[j].w->type);
    if (f == ActFormat::F32) {
      act[j] = reinterpret_cast<const uint8_t*>(jobs[j].x);
      stride[j] = static_cast<size_t>(cols) * sizeof(float);
      continue;
    }
    stride[j] = act_row_bytes(f, cols);
    bytes += stride[j] * static_cast<size_t>(jobs[j].rows);
    quant_rows += jobs[j].rows;
  }
  if (bytes > 0) {
    uint8_t* qx = aligned_scratch(scratch, bytes);
    for (int j = 0; j < count; ++j) {
      if (act[j] != nullptr) continue;
      act[j] = qx;
      qx += stride[j] * static_cast<size_t>(jobs[j].rows);
    }
    // Rows of all the jobs, one after another.
    const auto quantize = [&](int64_t b, int64_t e, int) {
      int64_t base = 0;
      for (int j = 0; j < count; ++j) {
        const MatmulInput& job = jobs[j];
        const ActFormat f = act_format(job.w->type);
        const int64_t lo = b > base ? b : base, hi = e < base + job.rows ? e : base + job.rows;
        if (f != ActFormat::F32) {
          uint8_t* q = const_cast<uint8_t*>(act[j]);
          for (int64_t r = lo; r < hi; ++r) quantize_act_row(f, job.x + (r - base) * cols, cols, q + (r - base) * stride[j], simd);
        }
        base += job.rows;
      }
    };
    int64_t all_rows = 0;
    for (int j = 0; j < count; ++j) all_rows += jobs[j].rows;
    if (quant_rows >= kParallelQuantRows) pool.run(all_rows, quantize);
    else quantize(0, all_rows, 0);
  }
  std::vector<int64_t>& first = scratch.first;
  first.assign(static_cast<size_t>(count) + 1, 0);
  int64_t units = 0;
  double work = 0;
  for (int j = 0; j < count; ++j) {
    first[j] = units;
    if (jobs[j].rows > 0) units += (jobs[j].w->rows + kUnit - 1) / kUnit;
    work += static_cast<double>(jobs[j].w->row_bytes) * static_cast<double>(jobs[j].w->rows) * static_cast<double>(jobs[j].rows);
  }
  first[count] = units;
  const auto compute = [&](int64_t b, int64_t e, int) {
    for (int j = 0; j < count; ++j) {
      const int64_t lo = b > first[j] ? b : first[j];
      const int64_t hi = e < first[j + 1] ? e : first[j + 1];
      if (lo >= hi) continue;
      const WeightView& w = *jobs[j].w;
      const int64_t o1 = (hi - first[j]) * kUnit;
      GemmTask task{&w, act[j], stride[j], jobs[j].rows, (lo - first[j]) * kUnit, o1 < w.rows ? o1 : w.rows, jobs[j].out};
      gemm_kernel_for(w, simd)(task);
    }
  };
  if (work < kParallelBytes) compute(0, units, 0);
  else pool.run(units, compute);
}

void matmul(const WeightView& w, const float* x, int64_t rows, float* out, ThreadPool& pool, MatmulScratch& scratch) {
  const MatmulJob job{&w, out};
  matmul_group(&job, 1, x, rows, pool, scratch);
}

const char* simd_path() { return simd_name(simd_active()); }

}  // namespace rlm
