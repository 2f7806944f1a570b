#include "bandwidth.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace rlm {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

std::unique_ptr<float, FreeDeleter> alloc_floats(size_t n) {
  void* p = std::malloc(n * sizeof(float));
  return std::unique_ptr<float, FreeDeleter>(static_cast<float*>(p));
}

}  // namespace

double measure_bandwidth(ThreadPool& pool, int mb, int runs) {
  const size_t n = static_cast<size_t>(mb) * 1024 * 1024 / sizeof(float);
  auto a = alloc_floats(n), b = alloc_floats(n), c = alloc_floats(n);
  if (!a || !b || !c) return 0.0;
  float* pa = a.get();
  float* pb = b.get();
  float* pc = c.get();
  // First touch from the threads that will stream each part.
  pool.run(static_cast<int64_t>(n), [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = lo; i < hi; ++i) {
      pa[i] = 0.0f;
      pb[i] = 1.0f;
      pc[i] = 2.0f;
    }
  });
  const float s = 3.0f;
  double best = 0.0;
  for (int k = 0; k < runs; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run(static_cast<int64_t>(n), [&](int64_t lo, int64_t hi, int) {
      for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + s * pc[i];
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gbps = 3.0 * static_cast<double>(n) * sizeof(float) / sec / 1e9;
    if (gbps > best) best = gbps;
  }
  return best;
}

}  // namespace rlm
