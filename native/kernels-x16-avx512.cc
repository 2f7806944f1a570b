// AVX-512 kernels for matrices repacked into 16-row groups (repack.h), against Q8_32
// activations. Lane i of a vector is output row i of the group, from the first block to the
// last: per block, the int32 dot of each lane comes from vpdpbusd over the interleaved
// quants with the activation's 4 bytes broadcast (exact, so any order), starting from
// -offset * (sum of the activation block) to undo the weights' unsigned offset; then
//   acc = fma(d_w * d_y, float(dot), acc)
// in block order. No horizontal sum, and every (row, output) pair takes that one sequence
// in any tile, for one activation row (decode) or many (prefill).
#include "x16-avx512.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using namespace x16;

// Per type: the quant bytes of a group's block and how they meet one activation block.
// dots() adds into acc[0][j] and, for few rows, acc[1][j] too: two dependency chains in
// place of one when a tile has little else to overlap (the sums are exact integers, so the
// split changes nothing).
template <int N>
constexpr int kChains = N <= 2 ? 2 : 1;

struct Q4_0x16 {
  static constexpr int kOffset = 8;
  static constexpr size_t kBlock = 32 + 256;
  template <int N>
  RLM_AVX512 static void dots(const uint8_t* q, const int8_t* const* y, __m512i (*acc)[N]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int c = 0; c < 4; ++c) {
      const __m512i w = _mm512_loadu_si512(q + 64 * c);
      const __m512i lo = _mm512_and_si512(w, m4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
      for (int j = 0; j < N; ++j) {
        acc[0][j] = _mm512_dpbusd_epi32(acc[0][j], lo, bcast32(y[j] + 4 * c));
        acc[kChains<N> - 1][j] = _mm512_dpbusd_epi32(acc[kChains<N> - 1][j], hi, bcast32(y[j] + 16 + 4 * c));
      }
    }
  }
};

// q5_0: q4_0's nibbles plus 16 where the chunk's masks (after the 4 chunks) say.
struct Q5_0x16 {
  static constexpr int kOffset = 16;
  static constexpr size_t kBlock = 32 + 256 + 64;
  template <int N>
  RLM_AVX512 static void dots(const uint8_t* q, const int8_t* const* y, __m512i (*acc)[N]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i b4 = _mm512_set1_epi8(0x10);
    for (int c = 0; c < 4; ++c) {
      const __m512i w = _mm512_loadu_si512(q + 64 * c);
      __m512i lo = _mm512_and_si512(w, m4);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
      lo = _mm512_mask_add_epi8(lo, mask64(q + 256 + 16 * c), lo, b4);
      hi = _mm512_mask_add_epi8(hi, mask64(q + 256 + 16 * c + 8), hi, b4);
      for (int j = 0; j < N; ++j) {
        acc[0][j] = _mm512_dpbusd_epi32(acc[0][j], lo, bcast32(y[j] + 4 * c));
        acc[kChains<N> - 1][j] = _mm512_dpbusd_epi32(acc[kChains<N> - 1][j], hi, bcast32(y[j] + 16 + 4 * c));
      }
    }
  }
};

struct Q8_0x16 {
  static constexpr int kOffset = 128;
  static constexpr size_t kBlock = 32 + 512;
  template <int N>
  RLM_AVX512 static void dots(const uint8_t* q, const int8_t* const* y, __m512i (*acc)[N]) {
    for (int c = 0; c < 8; ++c) {
      const __m512i w = _mm512_loadu_si512(q + 64 * c);
      for (int j = 0; j < N; ++j) {
        __m512i& a = acc[c % kChains<N>][j];
        a = _mm512_dpbusd_epi32(a, w, bcast32(y[j] + 4 * c));
      }
    }
  }
};

template <class W>
struct Q32Tiles {
  // Group g's outputs for activation rows r..r+N-1.
  template <int N>
  RLM_AVX512 static void tile(const GemmTask& t, int64_t g, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 32;
    const uint8_t* base = w.data + static_cast<size_t>(g) * w.group_bytes;
    ActRow a[N];
    for (int j = 0; j < N; ++j) a[j] = act_row(ActFormat::Q8_32, t.act + (r + j) * t.act_stride, w.cols);
    __m512 acc[N];
    for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = base + b * W::kBlock;
      _mm_prefetch(reinterpret_cast<const char*>(blk + 1024), _MM_HINT_T0);
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      __m512i dot[kChains<N>][N];
      const int8_t* y[N];
      for (int j = 0; j < N; ++j) {
        dot[0][j] = _mm512_set1_epi32(-W::kOffset * a[j].sy[b]);
        if constexpr (kChains<N> > 1) dot[1][j] = _mm512_setzero_si512();
        y[j] = a[j].qs + 32 * b;
      }
      W::template dots<N>(blk + 32, y, dot);
      for (int j = 0; j < N; ++j) {
        __m512i sum = dot[0][j];
        if constexpr (kChains<N> > 1) sum = _mm512_add_epi32(sum, dot[1][j]);
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a[j].d[b]));
        acc[j] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sum), acc[j]);
      }
    }
    store<N>(t, g, r, acc);
  }
};

// q4_K and q5_K super-blocks: per sub-block s an exact int32 dot isum_s (nibbles, plus the
// fifth bit for q5_K), then per lane
//   dot = sum_s sc_s * isum_s,  mins = sum_s mn_s * (sum of the activations of s)
//   acc = fma(d_w * d_y, float(dot), acc); acc = acc - (dmin_w * d_y) * float(mins)
// in super-block order (the integers are exact; their conversion to float rounds the same
// way in every tile).
template <bool kFive>
struct KTiles {
  static constexpr size_t kHead = 64 + 256;
  static constexpr size_t kRun = 512 + (kFive ? 128 : 0);  // a pair's 8 chunks, then their masks
  static constexpr size_t kBlock = kHead + 4 * kRun;

  template <int N>
  RLM_AVX512 static void tile(const GemmTask& t, int64_t g, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 256;
    const uint8_t* base = w.data + static_cast<size_t>(g) * w.group_bytes;
    ActRow a[N];
    for (int j = 0; j < N; ++j) a[j] = act_row(ActFormat::Q8_K, t.act + (r + j) * t.act_stride, w.cols);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i b4 = _mm512_set1_epi8(0x10);
    __m512 acc[N];
    for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = base + b * kBlock;
      _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * kBlock), _MM_HINT_T0);
      const uint8_t* q = blk + kHead;
      __m512i dot[N];
      for (int j = 0; j < N; ++j) dot[j] = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        __m512i lo[N], hi[N];
        for (int j = 0; j < N; ++j) lo[j] = hi[j] = _mm512_setzero_si512();
        const uint8_t* run = q + p * kRun;
        for (int c = 0; c < 8; ++c) {
          const __m512i v = _mm512_loadu_si512(run + 64 * c);
          __m512i l = _mm512_and_si512(v, m4);
          __m512i h = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
          if constexpr (kFive) {
            l = _mm512_mask_add_epi8(l, mask64(run + 512 + 16 * c), l, b4);
            h = _mm512_mask_add_epi8(h, mask64(run + 512 + 16 * c + 8), h, b4);
          }
          for (int j = 0; j < N; ++j) {
            const int8_t* y = a[j].qs + 256 * b + 64 * p + 4 * c;
            lo[j] = _mm512_dpbusd_epi32(lo[j], l, bcast32(y));
            hi[j] = _mm512_dpbusd_epi32(hi[j], h, bcast32(y + 32));
          }
        }
        const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64 + 32 * p)));
        const __m512i s1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64 + 32 * p + 16)));
        for (int j = 0; j < N; ++j) {
          dot[j] = _mm512_add_epi32(dot[j], _mm512_add_epi32(_mm512_mullo_epi32(lo[j], s0), _mm512_mullo_epi32(hi[j], s1)));
        }
      }
      // The mins: (mn_s, mn_s) int16 pairs against the activations' two 16-element sums of s.
      __m512i mins[N];
      for (int j = 0; j < N; ++j) mins[j] = _mm512_setzero_si512();
      for (int s = 0; s < 8; ++s) {
        __m512i mv = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192 + 16 * s)));
        mv = _mm512_or_si512(mv, _mm512_slli_epi32(mv, 16));
        for (int j = 0; j < N; ++j) {
          mins[j] = _mm512_dpwssd_epi32(mins[j], mv, bcast32(reinterpret_cast<const int8_t*>(a[j].bsums + 16 * b + 2 * s)));
        }
      }
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
      for (int j = 0; j < N; ++j) {
        const __m512 dy = _mm512_set1_ps(a[j].d[b]);
        acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(dot[j]), acc[j]);
        acc[j] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, dy), _mm512_cvtepi32_ps(mins[j]), acc[j]);
      }
    }
    store<N>(t, g, r, acc);
  }
};

// q6_K super-blocks: per 16-element sub-block s an exact int32 dot isum_s of the unsigned
// 6-bit quants q (4 bits of ql, 2 of qh); their offset 32 comes back with the activations'
// 16-element sums, so per lane
//   dot = sum_s sc_s * isum_s - 32 * sum_s sc_s * bsum_s;  acc = fma(d_w * d_y, float(dot), acc)
// in super-block order.
struct Q6KTiles {
  static constexpr size_t kBlock = 3360;
  static constexpr size_t kScales = 32, kQl = 32 + 256, kQh = 32 + 256 + 2048;

  template <int N>
  RLM_AVX512 static void tile(const GemmTask& t, int64_t g, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 256;
    const uint8_t* base = w.data + static_cast<size_t>(g) * w.group_bytes;
    ActRow a[N];
    for (int j = 0; j < N; ++j) a[j] = act_row(ActFormat::Q8_K, t.act + (r + j) * t.act_stride, w.cols);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    __m512 acc[N];
    for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = base + b * kBlock;
      _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * kBlock), _MM_HINT_T0);
      __m512i dot[N];
      for (int j = 0; j < N; ++j) dot[j] = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        for (int q16 = 0; q16 < 2; ++q16) {
          __m512i sb[4][N];
          for (int k = 0; k < 4; ++k)
            for (int j = 0; j < N; ++j) sb[k][j] = _mm512_setzero_si512();
          for (int cc = 0; cc < 4; ++cc) {
            const int c = 4 * q16 + cc;
            const __m512i A = _mm512_loadu_si512(blk + kQl + 64 * (16 * h + c));
            const __m512i B = _mm512_loadu_si512(blk + kQl + 64 * (16 * h + 8 + c));
            const __m512i H = _mm512_loadu_si512(blk + kQh + 64 * (8 * h + c));
            const __m512i q[4] = {
                _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30)),
                _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m30)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), _mm512_and_si512(H, m30)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30)),
            };
            for (int j = 0; j < N; ++j) {
              const int8_t* y = a[j].qs + 256 * b + 128 * h + 4 * c;
              for (int k = 0; k < 4; ++k) sb[k][j] = _mm512_dpbusd_epi32(sb[k][j], q[k], bcast32(y + 32 * k));
            }
          }
          // Sub-block 8h + 2k + q16: scale q16 of pair 4h + k.
          for (int k = 0; k < 4; ++k) {
            const __m512i pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScales + 32 * (4 * h + k))));
            const __m512i sc = q16 == 0 ? _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16) : _mm512_srai_epi32(pair, 16);
            for (int j = 0; j < N; ++j) dot[j] = _mm512_add_epi32(dot[j], _mm512_mullo_epi32(sb[k][j], sc));
          }
        }
      }
      // The offset: 32 * sum_s sc_s * bsum_s, scale pairs against bsum pairs.
      __m512i corr[N];
      for (int j = 0; j < N; ++j) corr[j] = _mm512_setzero_si512();
      for (int k = 0; k < 8; ++k) {
        const __m512i pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScales + 32 * k)));
        for (int j = 0; j < N; ++j) {
          corr[j] = _mm512_dpwssd_epi32(corr[j], pair, bcast32(reinterpret_cast<const int8_t*>(a[j].bsums + 16 * b + 2 * k)));
        }
      }
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      for (int j = 0; j < N; ++j) {
        const __m512i total = _mm512_sub_epi32(dot[j], _mm512_slli_epi32(corr[j], 5));
        acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a[j].d[b])), _mm512_cvtepi32_ps(total), acc[j]);
      }
    }
    store<N>(t, g, r, acc);
  }
};

}  // namespace

GemmFn gemm_x16_avx512(WType t) {
  switch (t) {
    case WType::Q4_0: return &gemm_x16<Q32Tiles<Q4_0x16>, 8>;
    case WType::Q5_0: return &gemm_x16<Q32Tiles<Q5_0x16>, 8>;
    case WType::Q8_0: return &gemm_x16<Q32Tiles<Q8_0x16>, 8>;
    case WType::Q4_K: return &gemm_x16<KTiles<false>, 4>;
    case WType::Q5_K: return &gemm_x16<KTiles<true>, 4>;
    case WType::Q6_K: return &gemm_x16<Q6KTiles, 3>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_x16_avx512(WType) { return nullptr; }
#endif

}  // namespace rlm
