// AVX2 kernels for the K-quant super-block types (q4_K, q5_K, q6_K) against Q8_K activations.
//
// Per (row, output) pair and super-block, in block order: an int32x8 sum `isum` of
// scale * quant * y over the block (maddubs on the unsigned quants, then madd with the
// sub-block scale), exact in integers; then
//   q4_K, q5_K: acc = fma(d * dy, float(isum), acc); acc = fma(-dmin * dy, float(msum), acc)
//               with msum lane k = min_k * (sum of y over sub-block k), from the bsums
//   q6_K:       isum -= 32 * (sum over 16-element groups of scale * bsum) (the -32 offset);
//               acc = fma(d * dy, float(isum), acc)
// then out = hsum8(acc). Integer sums do not depend on evaluation order, and every tile
// shape runs the same float sequence per pair. A tile with several activation rows unpacks
// each weight super-block once into a buffer; one row reads the quants in place: the same
// integers either way.
#include "gemm-tiles.h"
#include "kernels.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

#define RLM_K_TARGET RLM_AVX2
#define RLM_K_MADD_ACC(s, p, scale) _mm256_add_epi32((s), _mm256_madd_epi16((p), (scale)))
#include "kernels-k-tile.inc"
#undef RLM_K_MADD_ACC
#undef RLM_K_TARGET

}  // namespace

GemmFn gemm_k_avx2(WType t) {
  switch (t) {
    case WType::Q4_K: return &gemm_tiled<KTiles<4>, 3, 4>;
    case WType::Q5_K: return &gemm_tiled<KTiles<5>, 3, 4>;
    case WType::Q6_K: return &gemm_tiled<KTiles<6>, 3, 4>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_k_avx2(WType) { return nullptr; }
#endif

}  // namespace rlm
