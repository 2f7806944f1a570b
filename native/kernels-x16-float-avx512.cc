// AVX-512 kernels for f16 and bf16 matrices repacked into 16-row groups (repack.h), against
// f32 activations. Lane i of an accumulator is output row i of its group; for each element
// k in order, acc = fma(w[k] of the 16 rows, x[k] broadcast, acc). That is the whole
// reduction of every (row, output) pair: one chain in element order, the same in a tile of
// several groups and one activation row (decode, where the groups' chains overlap) as in a
// tile of three groups and eight rows (prefill).
#include "x16-avx512.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using namespace x16;

struct F16x16 {
  RLM_AVX512 static __m512 load16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

struct BF16x16 {
  RLM_AVX512 static __m512 load16(const uint8_t* p) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};

// Groups g..g+GM-1 against activation rows r..r+N-1.
template <class W, int GM, int N, int PF>
RLM_AVX512 void tile(const GemmTask& t, int64_t g, int64_t r) {
  const WeightView& w = *t.w;
  const int64_t cols = w.cols;
  const uint8_t* base[GM];
  for (int m = 0; m < GM; ++m) base[m] = w.data + static_cast<size_t>(g + m) * w.group_bytes;
  const float* x[N];
  for (int j = 0; j < N; ++j) x[j] = reinterpret_cast<const float*>(t.act + (r + j) * t.act_stride);
  __m512 acc[GM][N];
  for (int m = 0; m < GM; ++m)
    for (int j = 0; j < N; ++j) acc[m][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < cols; ++k) {
    if ((k & 1) == 0) {
      for (int m = 0; m < GM; ++m) _mm_prefetch(reinterpret_cast<const char*>(base[m] + 32 * k + PF), _MM_HINT_T0);
    }
    for (int m = 0; m < GM; ++m) {
      const __m512 wv = W::load16(base[m] + 32 * k);
      for (int j = 0; j < N; ++j) acc[m][j] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[j][k]), acc[m][j]);
    }
  }
  for (int m = 0; m < GM; ++m) store<N>(t, g + m, r, acc[m]);
}

using FloatTileFn = void (*)(const GemmTask&, int64_t, int64_t);

template <class W, int GM, int N, int PF, int... I>
constexpr std::array<FloatTileFn, N> row_table(std::integer_sequence<int, I...>) {
  return {{&tile<W, GM, I + 1, PF>...}};
}

// Groups in panels of about kPanelBytes, activation rows N at a time, groups GM at a time
// (the last few one by one), each group's weights prefetched PF bytes ahead.
template <class W, int GM, int N, int PF>
void walk(const GemmTask& t) {
  static constexpr std::array<FloatTileFn, N> wide = row_table<W, GM, N, PF>(std::make_integer_sequence<int, N>());
  static constexpr std::array<FloatTileFn, N> one = row_table<W, 1, N, PF>(std::make_integer_sequence<int, N>());
  const int64_t g0 = t.o0 / kGroupRows;
  const int64_t g1 = (t.o1 + kGroupRows - 1) / kGroupRows;
  int64_t panel = static_cast<int64_t>(kPanelBytes / (t.w->group_bytes > 0 ? t.w->group_bytes : 1));
  panel = panel < GM ? GM : panel / GM * GM;
  for (int64_t pb = g0; pb < g1; pb += panel) {
    const int64_t pe = pb + panel < g1 ? pb + panel : g1;
    for (int64_t r = 0; r < t.rows; r += N) {
      const int n = static_cast<int>(t.rows - r < N ? t.rows - r : N);
      int64_t g = pb;
      for (; g + GM <= pe; g += GM) wide[n - 1](t, g, r);
      for (; g < pe; ++g) one[n - 1](t, g, r);
    }
  }
}

// Few rows (decode, bound by reading the weights): one group at a time, so that the groups
// are one stream and the prefetch 4 KiB ahead (a microsecond of these FMAs, more than a DRAM
// latency) runs on into the next group; the FMAs then overlap the reads (1 row 9.0-10.0 ->
// 7.0-8.6 ms per smollm2-135m f16 step on 2 threads, 4 rows 11.0-11.4 -> 10.1-11.0). Many
// rows: three groups by eight rows (24 accumulators), each weight vector converted once for
// eight FMAs and each broadcast feeding three (qwen2.5-0.5b f16 pp512 on 2 threads 230 ->
// 260 tok/s against two groups by eight).
template <class W>
void gemm_float_x16(const GemmTask& t) {
  if (t.rows <= 4) walk<W, 1, 4, 4096>(t);
  else walk<W, 3, 8, 1024>(t);
}

}  // namespace

GemmFn gemm_x16_float_avx512(WType t) {
  switch (t) {
    case WType::F16: return &gemm_float_x16<F16x16>;
    case WType::BF16: return &gemm_float_x16<BF16x16>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_x16_float_avx512(WType) { return nullptr; }
#endif

}  // namespace rlm
