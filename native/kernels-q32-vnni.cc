// The 32-element block kernels of kernels-q32.cc with VNNI integer dots (vpdpbusd: four
// u8 x s8 products summed into an int32 lane, no saturation), for CPUs that have AVX-VNNI
// or AVX512-VNNI with VL. One instruction replaces maddubs, the sign trick and the pair
// sums; the int32 lanes are the same exact sums, so the outputs are bit for bit those of
// the AVX2 kernels.
//
// vpdpbusd wants unsigned bytes on one side, so the weights go unsigned: q8_0's w as
// w + 128 (flip the top bit), the other types' u as stored. The offset comes back from the
// activations, once per column and block: lane k starts at -offset * (sum of y over bytes
// 4k..4k+3), and vpdpbusd adds sum (w + offset) * y on top.
#include "gemm-tiles.h"
#include "kernels.h"
#include "q32-weights-avx2.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using avx2::hsum8;
using namespace q32;

template <class W>
constexpr int kShift = W::kOffset < 0 ? 128 : W::kOffset;

#define RLM_VNNI_DOT(NAME, TARGET, DPBUSD)                                                     \
  struct NAME {                                                                                \
    template <class W>                                                                         \
    TARGET static __m256i weights(__m256i u) {                                                 \
      if constexpr (W::kOffset < 0) return _mm256_xor_si256(u, _mm256_set1_epi8(-128));        \
      return u;                                                                                \
    }                                                                                          \
    template <class W>                                                                         \
    TARGET static __m256i correction(__m256i y, const int16_t*) {                              \
      if constexpr (kShift<W> == 0) return _mm256_setzero_si256();                             \
      const __m256i s = DPBUSD(_mm256_setzero_si256(), _mm256_set1_epi8(static_cast<char>(kShift<W>)), y); \
      return _mm256_sub_epi32(_mm256_setzero_si256(), s);                                      \
    }                                                                                          \
    template <class W>                                                                         \
    TARGET static __m256i dot(__m256i w, __m256i y, __m256i corr) { return DPBUSD(corr, w, y); } \
  };

#define RLM_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))
RLM_VNNI_DOT(Evex, RLM_AVX512VNNI, _mm256_dpbusd_epi32)
namespace evex {
#define RLM_Q32_TARGET RLM_AVX512VNNI
#include "kernels-q32-tile.inc"
#undef RLM_Q32_TARGET
}  // namespace evex

#ifdef RLM_HAVE_AVXVNNI
#define RLM_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
RLM_VNNI_DOT(Vex, RLM_AVXVNNI, _mm256_dpbusd_avx_epi32)
namespace vex {
#define RLM_Q32_TARGET RLM_AVXVNNI
#include "kernels-q32-tile.inc"
#undef RLM_Q32_TARGET
}  // namespace vex
#endif

// TN: activation rows per tile. EVEX code has 32 vector registers, room for 4 x 4
// accumulators (one pass over the weights serves a third more rows than 4 x 3 does).
template <template <class, class> class T, class D, int TN>
GemmFn pick(WType t) {
  switch (t) {
    case WType::Q8_0: return &gemm_tiled<T<Q8_0W, D>, 4, TN>;
    case WType::Q4_0: return &gemm_tiled<T<Q4_0W, D>, 4, TN>;
    case WType::Q5_0: return &gemm_tiled<T<Q5_0W, D>, 4, TN>;
    case WType::Q4_1: return &gemm_tiled<T<Q4_1W, D>, 4, TN>;
    case WType::Q5_1: return &gemm_tiled<T<Q5_1W, D>, 4, TN>;
    default: return nullptr;
  }
}

}  // namespace

GemmFn gemm_q32_vnni(WType t, VnniForm form) {
#ifdef RLM_HAVE_AVXVNNI
  if (form == VnniForm::Vex) return pick<vex::Q32Tiles, Vex, 3>(t);
#endif
  if (form == VnniForm::Evex) return pick<evex::Q32Tiles, Evex, 4>(t);
  return nullptr;
}
#else
GemmFn gemm_q32_vnni(WType, VnniForm) { return nullptr; }
#endif

}  // namespace rlm
