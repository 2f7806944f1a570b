// NEON kernels for the 32-element block types against Q8_32 activations.
//
// Weight quants are made signed first (q4_0: u - 8, q5_0: u - 16; q4_1 and q5_1 stay
// 0..15 / 0..31), so every type takes one int8 dot product per block. Per (row, output)
// pair and block, in block order:
//   p = int32x4 dot of w and y (neon::dot32's lane layout, exact);
//   acc = fma(float(p), dw * dy, acc);  q4_1, q5_1 also: sm = sm + m * s_y (scalar)
// then out = hsum4(acc) (+ sm). Every tile shape runs the same sequence per pair.
#include "gemm-tiles.h"
#include "kernels.h"
#include "simd-neon.h"

namespace rlm {

#ifdef RLM_HAVE_NEON
namespace {

struct Q8_0W {
  static constexpr int kBytes = 34;
  static constexpr bool kMin = false;
  static void quants(const uint8_t* b, int8x16_t& q0, int8x16_t& q1) {
    q0 = vld1q_s8(reinterpret_cast<const int8_t*>(b + 2));
    q1 = vld1q_s8(reinterpret_cast<const int8_t*>(b + 18));
  }
};

// 4- and 5-bit quants: nibbles at kQs, fifth bits at kQh (or none), minus kOffset.
template <int kBytesV, int kQs, int kQh, int kOffset, bool kMinV>
struct NibbleW {
  static constexpr int kBytes = kBytesV;
  static constexpr bool kMin = kMinV;
  static void quants(const uint8_t* b, int8x16_t& q0, int8x16_t& q1) {
    uint8x16_t lo, hi;
    neon::nibbles32(b + kQs, lo, hi);
    if constexpr (kQh >= 0) {
      uint8x16_t hlo, hhi;
      neon::fifth_bits32(b + kQh, hlo, hhi);
      lo = vorrq_u8(lo, hlo);
      hi = vorrq_u8(hi, hhi);
    }
    if constexpr (kOffset != 0) {
      lo = vsubq_u8(lo, vdupq_n_u8(kOffset));
      hi = vsubq_u8(hi, vdupq_n_u8(kOffset));
    }
    q0 = vreinterpretq_s8_u8(lo);
    q1 = vreinterpretq_s8_u8(hi);
  }
};

using Q4_0W = NibbleW<18, 2, -1, 8, false>;
using Q5_0W = NibbleW<22, 6, 2, 16, false>;
using Q4_1W = NibbleW<20, 4, -1, 0, true>;
using Q5_1W = NibbleW<24, 8, 4, 0, true>;

template <class W, bool kDot>
struct Q32Tiles {
  template <int M, int N>
  static void tile(const GemmTask& t, int64_t o, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 32;
    const uint8_t* wr[M];
    ActRow y[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) y[j] = act_row(ActFormat::Q8_32, t.act + (r + j) * t.act_stride, w.cols);
    float32x4_t acc[M][N];
    float sm[M][N];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        acc[i][j] = vdupq_n_f32(0.0f);
        sm[i][j] = 0.0f;
      }
    // Prefetch the same blocks of a tile at least 8 KiB further on.
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = prefetch_distance(tile_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      int8x16_t q0[M], q1[M];
      float dw[M], mw[M];
      for (int i = 0; i < M; ++i) {
        const uint8_t* blk = wr[i] + b * W::kBytes;
        __builtin_prefetch(blk + pf);
        W::quants(blk, q0[i], q1[i]);
        dw[i] = neon::half(blk);
        mw[i] = W::kMin ? neon::half(blk + 2) : 0.0f;
      }
      for (int j = 0; j < N; ++j) {
        const int8x16_t y0 = vld1q_s8(y[j].qs + 32 * b);
        const int8x16_t y1 = vld1q_s8(y[j].qs + 32 * b + 16);
        const float dy = y[j].d[b];
        for (int i = 0; i < M; ++i) {
          const float32x4_t f = vcvtq_f32_s32(neon::dot32<kDot>(q0[i], q1[i], y0, y1));
          acc[i][j] = vfmaq_n_f32(acc[i][j], f, dw[i] * dy);
          if constexpr (W::kMin) sm[i][j] = sm[i][j] + mw[i] * y[j].s[b];
        }
      }
    }
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float s = neon::hsum4(acc[i][j]);
        if constexpr (W::kMin) s = s + sm[i][j];
        t.out[(r + j) * w.rows + o + i] = s;
      }
  }
};

template <bool kDot>
GemmFn q32_kernel(WType t) {
  switch (t) {
    case WType::Q8_0: return &gemm_tiled<Q32Tiles<Q8_0W, kDot>, 4, 3>;
    case WType::Q4_0: return &gemm_tiled<Q32Tiles<Q4_0W, kDot>, 4, 3>;
    case WType::Q5_0: return &gemm_tiled<Q32Tiles<Q5_0W, kDot>, 4, 3>;
    case WType::Q4_1: return &gemm_tiled<Q32Tiles<Q4_1W, kDot>, 4, 3>;
    case WType::Q5_1: return &gemm_tiled<Q32Tiles<Q5_1W, kDot>, 4, 3>;
    default: return nullptr;
  }
}

}  // namespace

GemmFn gemm_q32_neon(WType t) {
#ifdef RLM_NEON_SDOT
  if (neon::has_dotprod()) return q32_kernel<true>(t);
#endif
  return q32_kernel<false>(t);
}
#endif

}  // namespace rlm
