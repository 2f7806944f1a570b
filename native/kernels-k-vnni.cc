// The K-quant kernels of kernels-k.cc with VNNI's vpdpwssd (int16 pairs times the
// sub-block scale, added into int32 lanes in one instruction, where AVX2 needs madd and
// add). The same integer lanes, so the outputs are bit for bit those of the AVX2 kernels.
#include "gemm-tiles.h"
#include "kernels.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

namespace evex {
#define RLM_K_TARGET __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))
#define RLM_K_MADD_ACC(s, p, scale) _mm256_dpwssd_epi32((s), (p), (scale))
#include "kernels-k-tile.inc"
#undef RLM_K_MADD_ACC
#undef RLM_K_TARGET
}  // namespace evex

#ifdef RLM_HAVE_AVXVNNI
namespace vex {
#define RLM_K_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define RLM_K_MADD_ACC(s, p, scale) _mm256_dpwssd_avx_epi32((s), (p), (scale))
#include "kernels-k-tile.inc"
#undef RLM_K_MADD_ACC
#undef RLM_K_TARGET
}  // namespace vex
#endif

template <template <int> class T>
GemmFn pick(WType t) {
  switch (t) {
    case WType::Q4_K: return &gemm_tiled<T<4>, 3, 4>;
    case WType::Q5_K: return &gemm_tiled<T<5>, 3, 4>;
    case WType::Q6_K: return &gemm_tiled<T<6>, 3, 4>;
    default: return nullptr;
  }
}

}  // namespace

GemmFn gemm_k_vnni(WType t, VnniForm form) {
#ifdef RLM_HAVE_AVXVNNI
  if (form == VnniForm::Vex) return pick<vex::KTiles>(t);
#endif
  if (form == VnniForm::Evex) return pick<evex::KTiles>(t);
  return nullptr;
}
#else
GemmFn gemm_k_vnni(WType, VnniForm) { return nullptr; }
#endif

}  // namespace rlm
