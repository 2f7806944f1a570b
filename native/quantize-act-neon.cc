// NEON activation quantization (see quantize-act.h for the format). Each step is the scalar
// quantizer's, lane by lane: amax by max-number (which, like the scalar compare, skips a
// NaN), the same scale 127 / amax, FRINTN's round half to even, the same clamp; the integer
// sums are exact. So the bytes are identical to the scalar path's.
#include "quantize-act-neon.h"

#include "simd-neon.h"

namespace rlm {

#ifdef RLM_HAVE_NEON
namespace {

// 16 elements at x scaled by id, rounded to nearest even and clamped: int8 quants.
inline int8x16_t quantize16(const float* x, float id) {
  const float32x4_t lim = vdupq_n_f32(127.0f);
  const float32x4_t nlim = vdupq_n_f32(-127.0f);
  int32x4_t v[4];
  for (int k = 0; k < 4; ++k) {
    float32x4_t f = vrndnq_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id));
    f = vminq_f32(vmaxq_f32(f, nlim), lim);
    v[k] = vcvtq_s32_f32(f);
  }
  const int16x8_t a = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
  const int16x8_t b = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
  return vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
}

// Quantizes n (a multiple of 16) elements into q; returns d.
inline float quantize_block(const float* x, int n, int8_t* q) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int i = 0; i < n; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
  const float amax = vmaxnmvq_f32(m);
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; i += 16) vst1q_s8(q + i, quantize16(x + i, id));
  return amax / 127.0f;
}

}  // namespace

void quantize_row_neon(ActFormat f, const float* x, int64_t cols, const ActRow& a) {
  int8_t* qs = const_cast<int8_t*>(a.qs);
  float* d = const_cast<float*>(a.d);
  if (f == ActFormat::Q8_32) {
    float* s = const_cast<float*>(a.s);
    int16_t* ps = const_cast<int16_t*>(a.ps);
    int32_t* sy = const_cast<int32_t*>(a.sy);
    for (int64_t b = 0; b < cols / 32; ++b) {
      int8_t* q = qs + 32 * b;
      d[b] = quantize_block(x + 32 * b, 32, q);
      const int16x8_t p0 = vpaddlq_s8(vld1q_s8(q));
      const int16x8_t p1 = vpaddlq_s8(vld1q_s8(q + 16));
      vst1q_s16(ps + 16 * b, p0);
      vst1q_s16(ps + 16 * b + 8, p1);
      const int32_t sum = vaddlvq_s16(p0) + vaddlvq_s16(p1);
      sy[b] = sum;
      s[b] = d[b] * static_cast<float>(sum);
    }
  } else if (f == ActFormat::Q8_K) {
    int16_t* bsums = const_cast<int16_t*>(a.bsums);
    for (int64_t b = 0; b < cols / 256; ++b) {
      int8_t* q = qs + 256 * b;
      d[b] = quantize_block(x + 256 * b, 256, q);
      for (int k = 0; k < 16; ++k) bsums[16 * b + k] = vaddlvq_s8(vld1q_s8(q + 16 * k));
    }
  }
}
#endif

}  // namespace rlm
