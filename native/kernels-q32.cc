// AVX2 kernels for the 32-element block types against Q8_32 activations.
//
// Per (row, output) pair and block, in block order:
//   q8_0:  p = int32x8 sum of w*y (maddubs on |w| and sign(y, w), then pairs);
//          acc = fma(dw * dy, float(p), acc)
//   q4_0, q5_0 (w = u - 8, u - 16): p = sum of u*y - 8 or 16 times the sums of y (from the
//          activations' pair sums), in 16-bit pairs; acc as above
//   q4_1, q5_1 (w = d u + m): p = sum of u*y; acc as above, and the scalar sm = sm + m * s_y
// then out = hsum8(acc) (+ sm). The lane a product lands in depends only on its position
// in the block, so every tile shape runs the same sequence per pair. (dw * dy and m * s_y
// are computed for a tile's rows at once, lane by lane: the same f32 products and sums as
// one at a time.)
#include "gemm-tiles.h"
#include "kernels.h"
#include "q32-weights-avx2.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using avx2::hsum8;
using namespace q32;

// Integer dots with maddubs: q8_0 by the sign trick (|w| times y with w's sign), the
// offset types as u * y less offset * (pair sums of y), then int16 pairs to int32.
struct MaddubsDot {
  template <class W>
  RLM_AVX2 static __m256i weights(__m256i u) { return u; }
  template <class W>
  RLM_AVX2 static __m256i correction(__m256i, const int16_t* ps) {
    if constexpr (W::kOffset == 8) return _mm256_slli_epi16(avx2::loadu(ps), 3);
    if constexpr (W::kOffset == 16) return _mm256_slli_epi16(avx2::loadu(ps), 4);
    return _mm256_setzero_si256();
  }
  template <class W>
  RLM_AVX2 static __m256i dot(__m256i w, __m256i y, __m256i corr) {
    __m256i p;
    if constexpr (W::kOffset < 0) {
      p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    } else if constexpr (W::kOffset > 0) {
      p = _mm256_sub_epi16(_mm256_maddubs_epi16(w, y), corr);
    } else {
      p = _mm256_maddubs_epi16(w, y);
    }
    return avx2::sum_pairs(p);
  }
};

#define RLM_Q32_TARGET RLM_AVX2
#include "kernels-q32-tile.inc"
#undef RLM_Q32_TARGET

}  // namespace

GemmFn gemm_q32_avx2(WType t) {
  switch (t) {
    case WType::Q8_0: return &gemm_tiled<Q32Tiles<Q8_0W, MaddubsDot>, 4, 3>;
    case WType::Q4_0: return &gemm_tiled<Q32Tiles<Q4_0W, MaddubsDot>, 4, 3>;
    case WType::Q5_0: return &gemm_tiled<Q32Tiles<Q5_0W, MaddubsDot>, 4, 3>;
    case WType::Q4_1: return &gemm_tiled<Q32Tiles<Q4_1W, MaddubsDot>, 4, 3>;
    case WType::Q5_1: return &gemm_tiled<Q32Tiles<Q5_1W, MaddubsDot>, 4, 3>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_q32_avx2(WType) { return nullptr; }
#endif

}  // namespace rlm
