#pragma once
// The 32-element block types as the x86 kernels read them (kernels-q32.cc, kernels-q32-vnni.cc):
// bytes per block, the unsigned quants u of a block and the offset they stand for.
#include "simd-avx2.h"

#ifdef RLM_HAVE_AVX2
namespace rlm {
namespace q32 {

// kOffset: the unsigned quants u stand for u - kOffset (-1: q8_0's signed quants, read as is).
struct Q8_0W {
  static constexpr int kBytes = 34;
  static constexpr int kOffset = -1;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::loadu(b + 2); }
};

struct Q4_0W {
  static constexpr int kBytes = 18;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::nibbles32(b + 2); }
};

struct Q5_0W {
  static constexpr int kBytes = 22;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) {
    const __m256i hi = _mm256_and_si256(avx2::bits32(b + 2), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(avx2::nibbles32(b + 6), hi);
  }
};

struct Q4_1W {
  static constexpr int kBytes = 20;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::nibbles32(b + 4); }
};

struct Q5_1W {
  static constexpr int kBytes = 24;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  RLM_AVX2 static __m256i quants(const uint8_t* b) {
    const __m256i hi = _mm256_and_si256(avx2::bits32(b + 4), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(avx2::nibbles32(b + 8), hi);
  }
};

}  // namespace q32
}  // namespace rlm
#endif
