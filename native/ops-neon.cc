// NEON twins of the gated activations and the f16 KV store (see ops.h).
#include "ops-neon.h"

#ifdef RLM_HAVE_NEON_OPS

namespace rlm {
namespace ops_neon {

namespace {

inline float32x4_t silu_mul4(float32x4_t g, float32x4_t u) {
  const float32x4_t e = exp4(vnegq_f32(g));
  return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

// x / (1 + exp(-2t)), t = sqrt(2/pi) (x + 0.044715 x^3): GELU's tanh form.
inline float32x4_t gelu_mul4(float32x4_t g, float32x4_t u) {
  const float32x4_t x3 = vmulq_f32(vmulq_f32(g, g), g);
  const float32x4_t t = vmulq_n_f32(vfmaq_n_f32(g, x3, 0.044715f), 0.7978845608f);
  const float32x4_t e = exp4(vmulq_n_f32(t, -2.0f));
  return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

// g[i] = F(g[i], u[i]) four at a time; the tail goes through the same vector formula, so
// every element is computed alike.
template <float32x4_t (*F)(float32x4_t, float32x4_t)>
void glu4(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(g + i, F(vld1q_f32(g + i), vld1q_f32(u + i)));
  if (i < n) {
    float tg[4] = {0, 0, 0, 0}, tu[4] = {0, 0, 0, 0};
    for (int64_t j = i; j < n; j++) tg[j - i] = g[j], tu[j - i] = u[j];
    vst1q_f32(tg, F(vld1q_f32(tg), vld1q_f32(tu)));
    for (int64_t j = i; j < n; j++) g[j] = tg[j - i];
  }
}

}  // namespace

void silu_mul(float* g, const float* u, int64_t n) { glu4<silu_mul4>(g, u, n); }

void gelu_tanh_mul(float* g, const float* u, int64_t n) { glu4<gelu_mul4>(g, u, n); }

void store_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  // FCVTN rounds to nearest even (the default FPCR mode): the bits of f32_to_f16_bits.
  for (; i + 4 <= n; i += 4) vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; i++) dst[i] = f32_to_f16_bits(src[i]);
}

}  // namespace ops_neon
}  // namespace rlm

#endif
