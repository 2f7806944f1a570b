#pragma once
// Shared pieces of the AVX2 kernels. Everything here is compiled for avx2+fma+f16c through
// target attributes and only ever called after simd_detected() said the CPU has them.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define RLM_HAVE_AVX2 1
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define RLM_AVX2 __attribute__((target("avx2,fma,f16c")))

// The VEX form of the VNNI intrinsics (AVX-VNNI) needs GCC 11 or clang 12.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11)
#define RLM_HAVE_AVXVNNI 1
#endif

namespace rlm {
namespace avx2 {

RLM_AVX2 static inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

RLM_AVX2 static inline __m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

/** The half-precision float at p (any alignment). */
RLM_AVX2 static inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

/**
 * The one horizontal sum every kernel ends a dot product with: lanes (i, i+4), then
 * (i, i+2), then (0, 1). Fixed, so a row's result never depends on the path that got it.
 */
RLM_AVX2 static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/** Sums of adjacent int16 pairs into 8 int32 lanes. */
RLM_AVX2 static inline __m256i sum_pairs(__m256i v) { return _mm256_madd_epi16(v, _mm256_set1_epi16(1)); }

/** 32 nibbles: low nibbles of the 16 bytes at p in bytes 0..15, high nibbles in 16..31. */
RLM_AVX2 static inline __m256i nibbles32(const uint8_t* p) {
  const __m128i t = loadu128(p);
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/** Byte i = 0xff where bit i of the 32 bits at p is set, else 0. */
RLM_AVX2 static inline __m256i bits32(const uint8_t* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                                          0x0303030303030303);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), shuf);
  const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  v = _mm256_or_si256(v, bit);
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

}  // namespace avx2
}  // namespace rlm
#endif
