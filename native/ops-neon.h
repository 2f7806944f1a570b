#pragma once
// The NEON twins of the ops (arm64 only; ops-neon.cc, attend-neon.cc) and the helpers they
// share. ops.cc calls them when the path in use is "neon".
#include <cmath>
#include <cstdint>

#include "ops.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#define RLM_HAVE_NEON_OPS 1
#include <arm_neon.h>

namespace rlm {
namespace ops_neon {

void silu_mul(float* g, const float* u, int64_t n);
void gelu_tanh_mul(float* g, const float* u, int64_t n);
void store_f16(const float* src, uint16_t* dst, int64_t n);
/** As rlm::attend; needs hd % 4 == 0. */
void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
            int64_t lo, float scale, float softcap, float* scratch, float* out);

// exp(x) for 4 floats: the AVX2 path's Cephes polynomial (about 1 ulp); below -88 gives 0.
static inline float32x4_t exp4(float32x4_t x) {
  const float32x4_t hi = vdupq_n_f32(88.3762626647949f);
  const float32x4_t lo = vdupq_n_f32(-88.3762626647949f);
  const uint32x4_t under = vcltq_f32(x, lo);
  x = vmaxq_f32(vminq_f32(x, hi), lo);
  float32x4_t fx = vfmaq_f32(vdupq_n_f32(0.5f), x, vdupq_n_f32(1.44269504088896341f));
  fx = vrndmq_f32(fx);
  x = vfmsq_f32(x, fx, vdupq_n_f32(0.693359375f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(-2.12194440e-4f));
  const float32x4_t z = vmulq_f32(x, x);
  float32x4_t y = vdupq_n_f32(1.9875691500e-4f);
  y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, x);
  y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, x);
  y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, x);
  y = vfmaq_f32(x, y, z);
  y = vaddq_f32(y, vdupq_n_f32(1.0f));
  // 2^fx, with fx in [-127, 128]: split in two factors so neither exponent overflows.
  const int32x4_t n = vcvtq_s32_f32(fx);
  const int32x4_t n1 = vshrq_n_s32(n, 1);
  const int32x4_t n2 = vsubq_s32(n, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t p1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  const float32x4_t p2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  y = vmulq_f32(vmulq_f32(y, p1), p2);
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), under));
}

/** Four K or V values at element i of a pool store (f16 bits or f32). */
static inline float32x4_t load_kv(const void* base, int64_t i, bool f16) {
  if (f16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(base) + i)));
  return vld1q_f32(static_cast<const float*>(base) + i);
}

}  // namespace ops_neon
}  // namespace rlm

#endif
