#pragma once
// Shared pieces of the kernels for 16-row groups (repack.h) on the AVX-512 path:
// kernels-x16-avx512.cc (quantized) and kernels-x16-float-avx512.cc (f16, bf16).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_ps of cvtph_ps, cvtepi32_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <array>
#include <cstring>
#include <utility>

#include "gemm-tiles.h"
#include "kernels.h"
#include "quantize-act.h"
#include "repack.h"
#include "simd-avx2.h"

#ifdef RLM_HAVE_AVX2
namespace rlm {
namespace x16 {

#define RLM_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

RLM_AVX512 inline __m512i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

RLM_AVX512 inline __mmask64 mask64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return _cvtu64_mask64(v);
}

// Group g's outputs of activation rows r..r+N-1: lane i to output 16g + i, where it exists.
template <int N>
RLM_AVX512 inline void store(const GemmTask& t, int64_t g, int64_t r, const __m512* acc) {
  const int64_t o = g * kGroupRows;
  const int64_t valid = t.w->rows - o < kGroupRows ? t.w->rows - o : kGroupRows;
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int j = 0; j < N; ++j) _mm512_mask_storeu_ps(t.out + (r + j) * t.w->rows + o, mask, acc[j]);
}

using GroupTileFn = void (*)(const GemmTask&, int64_t, int64_t);

template <class K, int N, int... I>
constexpr std::array<GroupTileFn, N> make_table(std::integer_sequence<int, I...>) {
  return {{&K::template tile<I + 1>...}};
}

// Groups in panels of about kPanelBytes (kept in L2 while every activation row passes over
// them), activation rows N at a time.
template <class K, int N>
void gemm_x16(const GemmTask& t) {
  static constexpr std::array<GroupTileFn, N> table = make_table<K, N>(std::make_integer_sequence<int, N>());
  const int64_t g0 = t.o0 / kGroupRows;
  const int64_t g1 = (t.o1 + kGroupRows - 1) / kGroupRows;
  int64_t panel = static_cast<int64_t>(kPanelBytes / (t.w->group_bytes > 0 ? t.w->group_bytes : 1));
  if (panel < 1) panel = 1;
  for (int64_t pb = g0; pb < g1; pb += panel) {
    const int64_t pe = pb + panel < g1 ? pb + panel : g1;
    for (int64_t r = 0; r < t.rows; r += N) {
      const int n = static_cast<int>(t.rows - r < N ? t.rows - r : N);
      for (int64_t g = pb; g < pe; ++g) table[n - 1](t, g, r);
    }
  }
}

}  // namespace x16
}  // namespace rlm
#endif
