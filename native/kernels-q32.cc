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
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using avx2::hsum8;

// kOffset: the unsigned quants u stand for u - kOffset (-1: signed quants, sign trick).
struct Q8_0W {
  static constexpr int kBytes = 34;
  static constexpr int kOffset = -1;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::loadu(b + 2); }
};

struct Q4_0W {
  static constexpr int kBytes = 18;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::nibbles32(b + 2); }
};

struct Q5_0W {
  static constexpr int kBytes = 22;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  RLM_AVX2 static __m256i quants(const uint8_t* b) {
    const __m256i hi = _mm256_and_si256(avx2::bits32(b + 2), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(avx2::nibbles32(b + 6), hi);
  }
};

struct Q4_1W {
  static constexpr int kBytes = 20;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  RLM_AVX2 static __m256i quants(const uint8_t* b) { return avx2::nibbles32(b + 4); }
};

struct Q5_1W {
  static constexpr int kBytes = 24;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  RLM_AVX2 static __m256i quants(const uint8_t* b) {
    const __m256i hi = _mm256_and_si256(avx2::bits32(b + 4), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(avx2::nibbles32(b + 8), hi);
  }
};

template <class W>
struct Q32Tiles {
  template <int M, int N>
  RLM_AVX2 static void tile(const GemmTask& t, int64_t o, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 32;
    const uint8_t* wr[M];
    ActRow y[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) y[j] = act_row(ActFormat::Q8_32, t.act + (r + j) * t.act_stride, w.cols);
    static_assert(M <= 4, "the scales of a tile's rows share one vector");
    __m256 acc[M][N];
    __m128 sm[N];  // q4_1/q5_1: lane i is the scalar min-term sum of pair (i, j)
    for (int j = 0; j < N; ++j) {
      sm[j] = _mm_setzero_ps();
      for (int i = 0; i < M; ++i) acc[i][j] = _mm256_setzero_ps();
    }
    // Prefetch the same blocks of a tile at least 8 KiB further on: the rows of a tile are
    // too short for the hardware prefetcher to find the stream on its own.
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = tile_bytes * ((8192 + tile_bytes - 1) / tile_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      __m256i wq[M];
      // The rows' d (lanes 0..3) and m (lanes 4..7) as halves, converted together.
      __m128i h = _mm_setzero_si128();
      for (int i = 0; i < M; ++i) {
        const uint8_t* blk = wr[i] + b * W::kBytes;
        _mm_prefetch(reinterpret_cast<const char*>(blk + pf), _MM_HINT_T0);
        wq[i] = W::quants(blk);
        uint16_t d16;
        std::memcpy(&d16, blk, 2);
        h = _mm_insert_epi16(h, d16, i);
        if constexpr (W::kMin) {
          uint16_t m16;
          std::memcpy(&m16, blk + 2, 2);
          h = _mm_insert_epi16(h, m16, 4 + i);
        }
      }
      const __m256 dm = _mm256_cvtph_ps(h);
      const __m128 dw = _mm256_castps256_ps128(dm);
      for (int j = 0; j < N; ++j) {
        const __m256i yq = avx2::loadu(y[j].qs + 32 * b);
        // dw[i] * dy for every row i, then broadcast from memory per pair.
        alignas(16) float scale[4];
        _mm_store_ps(scale, _mm_mul_ps(dw, _mm_set1_ps(y[j].d[b])));
        __m256i corr = _mm256_setzero_si256();
        if constexpr (W::kOffset == 8) corr = _mm256_slli_epi16(avx2::loadu(y[j].ps + 16 * b), 3);
        if constexpr (W::kOffset == 16) corr = _mm256_slli_epi16(avx2::loadu(y[j].ps + 16 * b), 4);
        for (int i = 0; i < M; ++i) {
          __m256i p;
          if constexpr (W::kOffset < 0) {
            p = _mm256_maddubs_epi16(_mm256_sign_epi8(wq[i], wq[i]), _mm256_sign_epi8(yq, wq[i]));
          } else if constexpr (W::kOffset > 0) {
            p = _mm256_sub_epi16(_mm256_maddubs_epi16(wq[i], yq), corr);
          } else {
            p = _mm256_maddubs_epi16(wq[i], yq);
          }
          const __m256 f = _mm256_cvtepi32_ps(avx2::sum_pairs(p));
          acc[i][j] = _mm256_fmadd_ps(_mm256_broadcast_ss(scale + i), f, acc[i][j]);
        }
        if constexpr (W::kMin) {
          const __m128 mw = _mm256_extractf128_ps(dm, 1);
          sm[j] = _mm_add_ps(sm[j], _mm_mul_ps(mw, _mm_set1_ps(y[j].s[b])));
        }
      }
    }
    for (int j = 0; j < N; ++j) {
      alignas(16) float smj[4];
      _mm_store_ps(smj, sm[j]);
      for (int i = 0; i < M; ++i) {
        float s = hsum8(acc[i][j]);
        if constexpr (W::kMin) s = s + smj[i];
        t.out[(r + j) * w.rows + o + i] = s;
      }
    }
  }
};

}  // namespace

GemmFn gemm_q32_avx2(WType t) {
  switch (t) {
    case WType::Q8_0: return &gemm_tiled<Q32Tiles<Q8_0W>, 4, 3>;
    case WType::Q4_0: return &gemm_tiled<Q32Tiles<Q4_0W>, 4, 3>;
    case WType::Q5_0: return &gemm_tiled<Q32Tiles<Q5_0W>, 4, 3>;
    case WType::Q4_1: return &gemm_tiled<Q32Tiles<Q4_1W>, 4, 3>;
    case WType::Q5_1: return &gemm_tiled<Q32Tiles<Q5_1W>, 4, 3>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_q32_avx2(WType) { return nullptr; }
#endif

}  // namespace rlm
