#include "quantize-act.h"

#include <cmath>

#include "quantize-act-neon.h"
#include "simd-avx2.h"

namespace rlm {
namespace {


/** Round half to even for |v| < 2^22, as _mm256_round_ps(v, nearest) does. */
inline float round_even(float v) {
  volatile float magic = 12582912.0f;  // 1.5 * 2^23; volatile keeps the two steps apart
  float m = magic;
  return (v + m) - m;
}

// Quantizes n (32 or 256) elements; returns d and writes q. Scalar path.
float quantize_block_scalar(const float* x, int n, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; ++i) {
    float v = round_even(x[i] * id);
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
    q[i] = static_cast<int8_t>(v);
  }
  return amax / 127.0f;
}

#ifdef RLM_HAVE_AVX2
// 32 elements at x -> q; returns amax.
RLM_AVX2 float amax32(const float* x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
  for (int i = 8; i < 32; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 32 elements scaled by id, rounded to nearest even and clamped: the int8 quants.
RLM_AVX2 __m256i quantize32_avx2(const float* x, float id) {
  const __m256 vid = _mm256_set1_ps(id);
  const __m256 lim = _mm256_set1_ps(127.0f);
  const __m256 nlim = _mm256_set1_ps(-127.0f);
  __m256i v[4];
  for (int k = 0; k < 4; ++k) {
    __m256 f = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    f = _mm256_min_ps(_mm256_max_ps(f, nlim), lim);
    v[k] = _mm256_cvtps_epi32(f);
  }
  // packs work per 128-bit lane: fix the order with a final permute.
  const __m256i a = _mm256_packs_epi32(v[0], v[1]);
  const __m256i b = _mm256_packs_epi32(v[2], v[3]);
  const __m256i p = _mm256_packs_epi16(a, b);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

RLM_AVX2 int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Quantizes n (32 or 256) elements into q; returns d and writes the int16 pair sums of
// the quants to ps (n / 2 of them).
RLM_AVX2 float quantize_block_avx2(const float* x, int n, int8_t* q, int16_t* ps) {
  float amax = 0.0f;
  for (int i = 0; i < n; i += 32) {
    const float a = amax32(x + i);
    amax = a > amax ? a : amax;
  }
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; i += 32) {
    const __m256i v = quantize32_avx2(x + i, id);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), v);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ps + i / 2), _mm256_maddubs_epi16(_mm256_set1_epi8(1), v));
  }
  return amax / 127.0f;
}

RLM_AVX2 void quantize_row_avx2(ActFormat f, const float* x, int64_t cols, const ActRow& a) {
  int8_t* qs = const_cast<int8_t*>(a.qs);
  float* d = const_cast<float*>(a.d);
  if (f == ActFormat::Q8_32) {
    float* s = const_cast<float*>(a.s);
    int16_t* ps = const_cast<int16_t*>(a.ps);
    int32_t* sy = const_cast<int32_t*>(a.sy);
    for (int64_t b = 0; b < cols / 32; ++b) {
      d[b] = quantize_block_avx2(x + 32 * b, 32, qs + 32 * b, ps + 16 * b);
      const __m256i sums = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ps + 16 * b)), _mm256_set1_epi16(1));
      const int sum = hsum_epi32(sums);
      sy[b] = sum;
      s[b] = d[b] * static_cast<float>(sum);
    }
  } else {
    int16_t* bsums = const_cast<int16_t*>(a.bsums);
    alignas(32) int16_t ps[128];
    for (int64_t b = 0; b < cols / 256; ++b) {
      d[b] = quantize_block_avx2(x + 256 * b, 256, qs + 256 * b, ps);
      // Sums of 8 pair sums: madd to int32 pairs of pairs, then hadd to groups of 8.
      for (int k = 0; k < 16; k += 8) {
        const __m256i* p = reinterpret_cast<const __m256i*>(ps + 8 * k);
        const __m256i one = _mm256_set1_epi16(1);
        const __m256i s0 = _mm256_madd_epi16(_mm256_load_si256(p), one);      // quads 0..7
        const __m256i s1 = _mm256_madd_epi16(_mm256_load_si256(p + 1), one);  // quads 8..15
        const __m256i s2 = _mm256_madd_epi16(_mm256_load_si256(p + 2), one);
        const __m256i s3 = _mm256_madd_epi16(_mm256_load_si256(p + 3), one);
        // hadd works per 128-bit lane; after two rounds lane-permute back to group order.
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
        const __m256i g = _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        const __m128i g16 = _mm_packs_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(bsums + 16 * b + k), g16);
      }
    }
  }
}
#endif


int sum_q(const int8_t* q, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += q[i];
  return s;
}

}  // namespace

ActFormat act_format(WType t) {
  switch (t) {
    case WType::Q8_0:
    case WType::Q4_0:
    case WType::Q4_1:
    case WType::Q5_0:
    case WType::Q5_1:
      return ActFormat::Q8_32;
    case WType::Q4_K:
    case WType::Q5_K:
    case WType::Q6_K:
      return ActFormat::Q8_K;
    default:
      return ActFormat::F32;
  }
}

int act_block(ActFormat f) { return f == ActFormat::Q8_32 ? 32 : f == ActFormat::Q8_K ? 256 : 1; }

size_t act_row_bytes(ActFormat f, int64_t cols) {
  const size_t n = static_cast<size_t>(cols);
  switch (f) {
    case ActFormat::Q8_32: {
      const size_t nb = n / 32;
      return align64(n) + 3 * align64(nb * 4) + align64(nb * 32);
    }
    case ActFormat::Q8_K: {
      const size_t nb = n / 256;
      return align64(n) + align64(nb * 4) + align64(nb * 32);
    }
    case ActFormat::F32:
      break;
  }
  return align64(n * 4);
}

void quantize_act_row(ActFormat f, const float* x, int64_t cols, uint8_t* row, Simd simd) {
  const ActRow a = act_row(f, row, cols);
  if (f == ActFormat::F32) return;
#ifdef RLM_HAVE_AVX2
  if (is_avx2(simd)) {
    quantize_row_avx2(f, x, cols, a);
    return;
  }
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  if (simd == Simd::Neon) {
    quantize_row_neon(f, x, cols, a);
    return;
  }
#endif
  (void)simd;
  int8_t* qs = const_cast<int8_t*>(a.qs);
  float* d = const_cast<float*>(a.d);
  if (f == ActFormat::Q8_32) {
    float* s = const_cast<float*>(a.s);
    int16_t* ps = const_cast<int16_t*>(a.ps);
    int32_t* sy = const_cast<int32_t*>(a.sy);
    for (int64_t b = 0; b < cols / 32; ++b) {
      d[b] = quantize_block_scalar(x + 32 * b, 32, qs + 32 * b);
      sy[b] = sum_q(qs + 32 * b, 32);
      s[b] = d[b] * static_cast<float>(sy[b]);
      for (int k = 0; k < 16; ++k) ps[16 * b + k] = static_cast<int16_t>(qs[32 * b + 2 * k] + qs[32 * b + 2 * k + 1]);
    }
  } else {
    int16_t* bsums = const_cast<int16_t*>(a.bsums);
    for (int64_t b = 0; b < cols / 256; ++b) {
      d[b] = quantize_block_scalar(x + 256 * b, 256, qs + 256 * b);
      for (int k = 0; k < 16; ++k) bsums[16 * b + k] = static_cast<int16_t>(sum_q(qs + 256 * b + 16 * k, 16));
    }
  }
}

void dequantize_act_row(ActFormat f, const uint8_t* row, int64_t cols, float* out) {
  const ActRow a = act_row(f, row, cols);
  const int n = act_block(f);
  for (int64_t i = 0; i < cols; ++i) out[i] = a.d[i / n] * static_cast<float>(a.qs[i]);
}

}  // namespace rlm
