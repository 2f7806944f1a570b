#include "cpu.h"

#include <atomic>
#include <cstring>

#include "simd-avx2.h"
#if defined(RLM_HAVE_AVX2)
#include <cpuid.h>
#endif

namespace rlm {
namespace {

VnniForm detect_vnni() {
#if defined(RLM_HAVE_AVX2)
  __builtin_cpu_init();
  // EVEX first: with AVX512VL the kernels have 32 vector registers instead of 16, room for
  // a whole tile's accumulators. (The compiler's runtime checks that the OS saves the
  // AVX-512 state.)
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) return VnniForm::Evex;
#if defined(RLM_HAVE_AVXVNNI)
  // AVX-VNNI: CPUID.(EAX=7, ECX=1):EAX bit 4; its ymm state is what AVX2 already needs.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0) return VnniForm::Vex;
#endif
#endif
  return VnniForm::None;
}

Simd detect() {
#if defined(RLM_HAVE_AVX2)
  __builtin_cpu_init();
  // F16C is CPUID.1:ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c").
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
    if (vnni_form() == VnniForm::Evex && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
      return Simd::Avx512;
    }
    return vnni_form() != VnniForm::None ? Simd::Avx2Vnni : Simd::Avx2;
  }
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  return Simd::Neon;
#endif
  return Simd::Scalar;
}

std::atomic<int> g_override{-1};

}  // namespace

VnniForm vnni_form() {
  static const VnniForm f = detect_vnni();
  return f;
}

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
  if (std::strcmp(name, "avx2") == 0 && is_avx2(simd_detected())) {
    g_override.store(static_cast<int>(Simd::Avx2));
    return true;
  }
  if (std::strcmp(name, "avx512") == 0 && simd_detected() == Simd::Avx512) {
    g_override.store(static_cast<int>(Simd::Avx512));
    return true;
  }
  if (std::strcmp(name, "avx2-vnni") == 0 && has_vnni(simd_detected())) {
    g_override.store(static_cast<int>(Simd::Avx2Vnni));
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
    case Simd::Avx2Vnni: return "avx2-vnni";
    case Simd::Avx512: return "avx512";
    case Simd::Neon: return "neon";
    case Simd::Scalar: return "scalar";
  }
  return "scalar";
}

}  // namespace rlm
