// NEON kernels for float weights (f32, f16, bf16) and f32 activations. Per (row, output)
// pair: two 4-lane f32 accumulators, a for elements 8k..8k+3 and b for 8k+4..8k+7, fed by
// fused multiply-adds over the first cols & ~7 elements; then hsum4(a + b) (the order of
// the scalar and AVX2 sums) and the remaining elements added one by one. Every tile shape
// runs that sequence per pair. f16 rows are widened with FCVTL, bf16 rows with a shift;
// rows may start at any byte address.
#include "gemm-tiles.h"
#include "f16.h"
#include "kernels.h"
#include "simd-neon.h"

namespace rlm {

#ifdef RLM_HAVE_NEON
namespace {

struct F32W {
  static constexpr int kSize = 4;
  static void load8(const uint8_t* p, float32x4_t& a, float32x4_t& b) {
    const float* f = reinterpret_cast<const float*>(p);
    a = vld1q_f32(f);
    b = vld1q_f32(f + 4);
  }
  static float one(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
};

struct F16W {
  static constexpr int kSize = 2;
  static void load8(const uint8_t* p, float32x4_t& a, float32x4_t& b) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(p)));
    a = vcvt_f32_f16(vget_low_f16(h));
    b = vcvt_high_f32_f16(h);
  }
  static float one(const uint8_t* p) { return neon::half(p); }
};

struct BF16W {
  static constexpr int kSize = 2;
  static void load8(const uint8_t* p, float32x4_t& a, float32x4_t& b) {
    const uint16x8_t h = vld1q_u16(reinterpret_cast<const uint16_t*>(p));
    a = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    b = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
  }
  static float one(const uint8_t* p) { return bf16_to_f32(read_u16(p)); }
};

template <class W>
struct FloatTiles {
  template <int M, int N>
  static void tile(const GemmTask& t, int64_t o, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t k8 = w.cols & ~static_cast<int64_t>(7);
    const uint8_t* wr[M];
    const float* xr[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) xr[j] = reinterpret_cast<const float*>(t.act + (r + j) * t.act_stride);
    float32x4_t acc_a[M][N];
    float32x4_t acc_b[M][N];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) acc_a[i][j] = acc_b[i][j] = vdupq_n_f32(0.0f);
    // Prefetch the same elements of a tile at least 8 KiB further on.
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = prefetch_distance(tile_bytes);
    for (int64_t k = 0; k < k8; k += 8) {
      float32x4_t xa[N];
      float32x4_t xb[N];
      for (int j = 0; j < N; ++j) {
        xa[j] = vld1q_f32(xr[j] + k);
        xb[j] = vld1q_f32(xr[j] + k + 4);
      }
      for (int i = 0; i < M; ++i) {
        __builtin_prefetch(wr[i] + k * W::kSize + pf);
        float32x4_t wa, wb;
        W::load8(wr[i] + k * W::kSize, wa, wb);
        for (int j = 0; j < N; ++j) {
          acc_a[i][j] = vfmaq_f32(acc_a[i][j], wa, xa[j]);
          acc_b[i][j] = vfmaq_f32(acc_b[i][j], wb, xb[j]);
        }
      }
    }
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j) {
        float s = neon::hsum4(vaddq_f32(acc_a[i][j], acc_b[i][j]));
        for (int64_t k = k8; k < w.cols; ++k) s = s + W::one(wr[i] + k * W::kSize) * xr[j][k];
        t.out[(r + j) * w.rows + o + i] = s;
      }
    }
  }
};

}  // namespace

GemmFn gemm_float_neon(WType t) {
  switch (t) {
    case WType::F32: return &gemm_tiled<FloatTiles<F32W>, 4, 3>;
    case WType::F16: return &gemm_tiled<FloatTiles<F16W>, 4, 3>;
    case WType::BF16: return &gemm_tiled<FloatTiles<BF16W>, 4, 3>;
    default: return nullptr;
  }
}
#endif

}  // namespace rlm
