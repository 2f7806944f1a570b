#include "cpu.h"

#include <atomic>
#include <cstring>

namespace rlm {
namespace {

Simd detect() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    return Simd::Avx2;
  }
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  return Simd::Neon;
#endif
  return Simd::Scalar;
}

std::atomic<int> g_override{-1};

}  // namespace

Simd simd_detected() {
  static const Simd s = detect();
  return s;
}

Simd simd_active() {
  int o = g_override.load(std::memory_order_relaxed);
  return o < 0 ? simd_detected() : static_cast<Simd>(o);
}

bool set_simd(const char* name) {
  if (std::strcmp(name, "auto") == 0) {
    g_override.store(-1);
    return true;
  }
  if (std::strcmp(name, "scalar") == 0) {
    g_override.store(static_cast<int>(Simd::Scalar));
    return true;
  }
  if (std::strcmp(name, "avx2") == 0 && simd_detected() == Simd::Avx2) {
    g_override.store(static_cast<int>(Simd::Avx2));
    return true;
  }
  if (std::strcmp(name, "neon") == 0 && simd_detected() == Simd::Neon) {
    g_override.store(static_cast<int>(Simd::Neon));
    return true;
  }
  return false;
}

const char* simd_name(Simd s) {
  switch (s) {
    case Simd::Avx2: return "avx2";
    case Simd::Neon: return "neon";
    case Simd::Scalar: return "scalar";
  }
  return "scalar";
}

}  // namespace rlm
