// AVX2 + FMA + F16C twins of the ops in ops.cc, compiled with target attributes so the
// addon still loads on machines without them (ops.cc asks supported() once).
#include "cpu.h"
#include "ops.h"

#include "ops-avx2.h"

#ifdef RLM_HAVE_AVX2_OPS

namespace rlm {
namespace ops_avx2 {

namespace {

RLM_AVX2 inline __m256 silu_mul8(__m256 g, __m256 u) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

// x / (1 + exp(-2t)), t = sqrt(2/pi) (x + 0.044715 x^3): GELU's tanh form.
RLM_AVX2 inline __m256 gelu_mul8(__m256 g, __m256 u) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
  const __m256 t = _mm256_mul_ps(_mm256_set1_ps(0.7978845608f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, g));
  const __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), t));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

// g[i] = F(g[i], u[i]) eight at a time; the tail goes through the same vector formula, so
// every element is computed alike.
template <__m256 (*F)(__m256, __m256)>
RLM_AVX2 void glu8(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, F(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < n) {
    alignas(32) float tg[8] = {0}, tu[8] = {0};
    for (int64_t j = i; j < n; j++) tg[j - i] = g[j], tu[j - i] = u[j];
    _mm256_store_ps(tg, F(_mm256_load_ps(tg), _mm256_load_ps(tu)));
    for (int64_t j = i; j < n; j++) g[j] = tg[j - i];
  }
}

}  // namespace

bool supported() { return is_avx2(simd_detected()); }

RLM_AVX2 void silu_mul(float* g, const float* u, int64_t n) { glu8<silu_mul8>(g, u, n); }

RLM_AVX2 void gelu_tanh_mul(float* g, const float* u, int64_t n) { glu8<gelu_mul8>(g, u, n); }

RLM_AVX2 void store_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; i++) dst[i] = f32_to_f16_bits(src[i]);  // both round to nearest even: same bits
}

}  // namespace ops_avx2
}  // namespace rlm

#else  // no AVX2 path on this target

namespace rlm {
namespace ops_avx2 {
bool supported() { return false; }
void silu_mul(float*, const float*, int64_t) {}
void gelu_tanh_mul(float*, const float*, int64_t) {}
void store_f16(const float*, uint16_t*, int64_t) {}
void attend(const float*, int, int, const KVView&, int64_t, const int32_t*, int64_t, int64_t, float, float, float*, float*) {}
void attend_group(const AttendRow*, int, int, int, const KVView&, int64_t, int64_t, float, float, float*) {}
}  // namespace ops_avx2
}  // namespace rlm

#endif
