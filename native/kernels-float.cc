// AVX2 kernels for float weights (f32, f16, bf16) and f32 activations: f32 FMA into one
// 8-lane accumulator per (row, output) pair over the first cols & ~7 elements, the fixed
// horizontal sum, then the remaining elements added one by one. f16 rows are widened with
// F16C and bf16 rows with a shift; rows may start at any byte address. Many long rows are
// reduced in slices of columns with the accumulators saved between slices (gemm_float):
// the same FMAs, in the same order, on each pair's accumulator.
#include <vector>

#include "gemm-tiles.h"
#include "f16.h"
#include "kernels.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using avx2::hsum8;

struct F32W {
  static constexpr int kSize = 4;
  RLM_AVX2 static __m256 load8(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  RLM_AVX2 static float one(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
};

struct F16W {
  static constexpr int kSize = 2;
  RLM_AVX2 static __m256 load8(const uint8_t* p) { return _mm256_cvtph_ps(avx2::loadu128(p)); }
  RLM_AVX2 static float one(const uint8_t* p) { return avx2::half(p); }
};

struct BF16W {
  static constexpr int kSize = 2;
  RLM_AVX2 static __m256 load8(const uint8_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(avx2::loadu128(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  RLM_AVX2 static float one(const uint8_t* p) { return bf16_to_f32(read_u16(p)); }
};

template <class W>
struct FloatTiles {
  // Elements [k0, k1) (multiples of 8, k1 <= cols & ~7) of outputs o..o+M-1 for rows
  // r..r+N-1, into the accumulators acc (zeroed first when `first`); when `last`, finishes
  // them into t.out: hsum8 and then the elements past cols & ~7 one by one. Split into
  // slices or not, each pair's accumulator sees the same FMAs in the same order.
  template <int M, int N>
  RLM_AVX2 static void slice(const GemmTask& t, int64_t o, int64_t r, int64_t k0, int64_t k1, float* saved, bool first,
                             bool last) {
    const WeightView& w = *t.w;
    const uint8_t* wr[M];
    const float* xr[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) xr[j] = reinterpret_cast<const float*>(t.act + (r + j) * t.act_stride);
    __m256 acc[M][N];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) acc[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(saved + 8 * (i * N + j));
    // Prefetch the same elements of a tile at least 8 KiB further on.
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = prefetch_distance(tile_bytes);
    for (int64_t k = k0; k < k1; k += 8) {
      __m256 xv[N];
      for (int j = 0; j < N; ++j) xv[j] = _mm256_loadu_ps(xr[j] + k);
      for (int i = 0; i < M; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[i] + k * W::kSize + pf), _MM_HINT_T0);
        const __m256 wv = W::load8(wr[i] + k * W::kSize);
        for (int j = 0; j < N; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
      }
    }
    if (!last) {
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) _mm256_storeu_ps(saved + 8 * (i * N + j), acc[i][j]);
      return;
    }
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j) {
        float s = hsum8(acc[i][j]);
        for (int64_t k = k1; k < w.cols; ++k) s = s + W::one(wr[i] + k * W::kSize) * xr[j][k];
        t.out[(r + j) * w.rows + o + i] = s;
      }
    }
  }

  template <int M, int N>
  RLM_AVX2 static void tile(const GemmTask& t, int64_t o, int64_t r) {
    slice<M, N>(t, o, r, 0, t.w->cols & ~static_cast<int64_t>(7), nullptr, true, true);
  }
};

using SliceFn = void (*)(const GemmTask&, int64_t, int64_t, int64_t, int64_t, float*, bool, bool);

template <class K, int RM, int RN, int... I>
constexpr std::array<SliceFn, RM * RN> make_slice_table(std::integer_sequence<int, I...>) {
  return {{&K::template slice<I / RN + 1, I % RN + 1>...}};
}

// Long rows of f32 activations do not stay in L1 across a tile, nor a few of them in L2
// across a panel of weights. So for many rows and long rows, the reduction runs in slices
// of kSliceCols: a block of kChunkRows activation rows against a panel of weight rows, one
// slice of columns at a time, the tiles' accumulators kept in memory between slices.
constexpr int64_t kSliceCols = 512;
constexpr int64_t kChunkRows = 48;
constexpr int64_t kPanelRows = 64;

template <class W, int RM, int RN>
void gemm_float(const GemmTask& t) {
  const int64_t k8 = t.w->cols & ~static_cast<int64_t>(7);
  if (t.rows < 2 * RN || k8 <= kSliceCols) {
    gemm_tiled<FloatTiles<W>, RM, RN>(t);
    return;
  }
  static_assert(kChunkRows % RN == 0 && kPanelRows % RM == 0, "chunks hold whole tiles");
  static constexpr std::array<SliceFn, RM * RN> table =
      make_slice_table<FloatTiles<W>, RM, RN>(std::make_integer_sequence<int, RM * RN>());
  std::vector<float> saved(static_cast<size_t>(8 * kPanelRows * kChunkRows));
  for (int64_t ob = t.o0; ob < t.o1; ob += kPanelRows) {
    const int64_t oe = ob + kPanelRows < t.o1 ? ob + kPanelRows : t.o1;
    for (int64_t rb = 0; rb < t.rows; rb += kChunkRows) {
      const int64_t re = rb + kChunkRows < t.rows ? rb + kChunkRows : t.rows;
      for (int64_t k0 = 0; k0 < k8; k0 += kSliceCols) {
        const int64_t k1 = k0 + kSliceCols < k8 ? k0 + kSliceCols : k8;
        float* acc = saved.data();
        for (int64_t o = ob; o < oe; o += RM) {
          const int rm = static_cast<int>(oe - o < RM ? oe - o : RM);
          for (int64_t r = rb; r < re; r += RN, acc += 8 * RM * RN) {
            const int rn = static_cast<int>(re - r < RN ? re - r : RN);
            table[(rm - 1) * RN + (rn - 1)](t, o, r, k0, k1, acc, k0 == 0, k1 == k8);
          }
        }
      }
    }
  }
}

}  // namespace

GemmFn gemm_float_avx2(WType t) {
  switch (t) {
    case WType::F32: return &gemm_float<F32W, 4, 3>;
    case WType::F16: return &gemm_float<F16W, 4, 3>;
    case WType::BF16: return &gemm_float<BF16W, 4, 3>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_float_avx2(WType) { return nullptr; }
#endif

}  // namespace rlm
