// AVX2 kernels for the K-quant super-block types (q4_K, q5_K, q6_K) against Q8_K activations.
//
// Per (row, output) pair and super-block, in block order: an int32x8 sum `isum` of
// scale * quant * y over the block (maddubs on the unsigned quants, then madd with the
// sub-block scale), exact in integers; then
//   q4_K, q5_K: acc = fma(d * dy, float(isum), acc); acc = fma(-dmin * dy, float(msum), acc)
//               with msum lane k = min_k * (sum of y over sub-block k), from the bsums
//   q6_K:       isum -= 32 * (sum over 16-element groups of scale * bsum) (the -32 offset);
//               acc = fma(d * dy, float(isum), acc)
// then out = hsum8(acc). Integer sums do not depend on evaluation order, and every tile
// shape runs the same float sequence per pair. A tile with several activation rows unpacks
// each weight super-block once into a buffer; one row reads the quants in place: the same
// integers either way.
#include "gemm-tiles.h"
#include "kernels.h"
#include "simd-avx2.h"

namespace rlm {

#ifdef RLM_HAVE_AVX2
namespace {

using avx2::hsum8;
using avx2::loadu;

// Per weight super-block: the scales as madd operands, ready for every activation row.
struct KPrep {
  __m256i sc[8];  // q4_K/q5_K: sub-block k's scale in all 16 lanes; q6_K: group k's two scales
  __m256i mins;   // q4_K/q5_K: (min_k, min_k) in int32 lane k; q6_K: the 16 scales
  float d;
  float nmin;     // -dmin (q4_K/q5_K)
};

// q4_K and q5_K: d, dmin, then 12 bytes of 6-bit scales and mins (get_scale_min_k4):
// sub-block j < 4 has scale s[j] & 63 and min s[j + 4] & 63; j >= 4 has scale
// (s[j + 4] & 15) | (s[j - 4] >> 6) << 4 and min (s[j + 4] >> 4) | (s[j] >> 6) << 4.
RLM_AVX2 inline void prep_k4(const uint8_t* b, KPrep& p) {
  const __m128i v = avx2::loadu128(b);  // d, dmin, s[0..11]
  const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m128i c = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
  const __m128i m0f = _mm_set1_epi8(0x0f);
  const __m128i top = _mm_and_si128(_mm_srli_epi16(c, 2), _mm_set1_epi8(0x30));  // (c >> 6) << 4
  const __m128i low6 = _mm_and_si128(a, _mm_set1_epi8(0x3f));
  const __m128i sc_hi = _mm_or_si128(_mm_and_si128(a, m0f), top);
  const __m128i min_hi = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m0f), top);
  // Bytes 0..7: scales 0..7; bytes 8..15: mins 0..7.
  const __m128i sm = _mm_blend_epi32(_mm_blend_epi32(low6, sc_hi, 0x2), min_hi, 0x8);
  const __m256i both = _mm256_broadcastsi128_si256(sm);
  for (int k = 0; k < 8; ++k) p.sc[k] = _mm256_shuffle_epi8(both, _mm256_set1_epi16(static_cast<short>(0x8000 | k)));
  // (min_j, min_j) in int32 lane j.
  p.mins = _mm256_shuffle_epi8(
      both, _mm256_setr_epi16(static_cast<short>(0x8008), static_cast<short>(0x8008), static_cast<short>(0x8009),
                              static_cast<short>(0x8009), static_cast<short>(0x800a), static_cast<short>(0x800a),
                              static_cast<short>(0x800b), static_cast<short>(0x800b), static_cast<short>(0x800c),
                              static_cast<short>(0x800c), static_cast<short>(0x800d), static_cast<short>(0x800d),
                              static_cast<short>(0x800e), static_cast<short>(0x800e), static_cast<short>(0x800f),
                              static_cast<short>(0x800f)));
  const __m128 dd = _mm_cvtph_ps(v);
  p.d = _mm_cvtss_f32(dd);
  p.nmin = -_mm_cvtss_f32(_mm_movehdup_ps(dd));
}

// q6_K: scales int8[16] at 192, d at 208.
RLM_AVX2 inline void prep_q6k(const uint8_t* b, KPrep& p) {
  const __m256i sc16 = _mm256_cvtepi8_epi16(avx2::loadu128(b + 192));
  const __m256i lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
  const __m256i hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
  for (int t = 0; t < 4; ++t) {
    // Low 128 bits: int16 lane 2t of the half; high 128 bits: lane 2t + 1.
    const short a = static_cast<short>((4 * t) | ((4 * t + 1) << 8));
    const short c = static_cast<short>((4 * t + 2) | ((4 * t + 3) << 8));
    const __m256i idx = _mm256_setr_epi16(a, a, a, a, a, a, a, a, c, c, c, c, c, c, c, c);
    p.sc[t] = _mm256_shuffle_epi8(lo, idx);
    p.sc[4 + t] = _mm256_shuffle_epi8(hi, idx);
  }
  p.mins = sc16;
  p.d = avx2::half(b + 208);
  p.nmin = 0.0f;
}

// Bit B of every byte of hb moved to bit 4 (the fifth bit of a q5_K quant).
template <int B>
RLM_AVX2 inline __m256i bit_to_4(__m256i hb) {
  const __m256i m = _mm256_set1_epi8(0x10);
  if constexpr (B < 4) return _mm256_and_si256(_mm256_slli_epi16(hb, 4 - B), m);
  else if constexpr (B == 4) return _mm256_and_si256(hb, m);
  else return _mm256_and_si256(_mm256_srli_epi16(hb, B - 4), m);
}

// The quants of group G (64 elements) of a q4_K (kFive false) or q5_K super-block:
// elements 64G..64G+31 in lo, 64G+32..64G+63 in hi, unsigned, one per byte.
template <int G, bool kFive>
RLM_AVX2 inline void k4_quants(const uint8_t* qs, __m256i hb, __m256i& lo, __m256i& hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i v = loadu(qs + 32 * G);
  lo = _mm256_and_si256(v, m4);
  hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  if constexpr (kFive) {
    lo = _mm256_or_si256(lo, bit_to_4<2 * G>(hb));
    hi = _mm256_or_si256(hi, bit_to_4<2 * G + 1>(hb));
  }
}

// The quants of half h (128 elements) of a q6_K super-block: q[t] holds elements
// 128h + 32t .. 128h + 32t + 31, unsigned (0..63).
RLM_AVX2 inline void q6k_quants(const uint8_t* b, int h, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i qa = loadu(b + 64 * h);
  const __m256i qb = loadu(b + 64 * h + 32);
  const __m256i hb = loadu(b + 128 + 32 * h);
  q[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
  q[1] = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(hb, m30));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
}

// 32 quants against 32 activations, scaled: int32 lane L sums elements 4L..4L+3.
RLM_AVX2 inline __m256i dot32(__m256i q, const int8_t* y, __m256i scale) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, loadu(y)), scale);
}

template <int G, bool kFive>
RLM_AVX2 inline __m256i k4_group(const uint8_t* qs, __m256i hb, const int8_t* yq, const KPrep& p) {
  __m256i lo, hi;
  k4_quants<G, kFive>(qs, hb, lo, hi);
  return _mm256_add_epi32(dot32(lo, yq + 64 * G, p.sc[2 * G]), dot32(hi, yq + 64 * G + 32, p.sc[2 * G + 1]));
}

// isum of one q4_K (kFive false) or q5_K super-block against 256 activations.
template <bool kFive>
RLM_AVX2 inline __m256i k4_isum(const uint8_t* b, const int8_t* yq, const KPrep& p) {
  const uint8_t* qs = b + (kFive ? 48 : 16);
  const __m256i hb = kFive ? loadu(b + 16) : _mm256_setzero_si256();
  __m256i s = k4_group<0, kFive>(qs, hb, yq, p);
  s = _mm256_add_epi32(s, k4_group<1, kFive>(qs, hb, yq, p));
  s = _mm256_add_epi32(s, k4_group<2, kFive>(qs, hb, yq, p));
  s = _mm256_add_epi32(s, k4_group<3, kFive>(qs, hb, yq, p));
  return s;
}

// The -32 offset of q6_K quants: 32 * (sum over 16-element groups of scale * bsum).
RLM_AVX2 inline __m256i q6k_offset(const KPrep& p, __m256i bsums) {
  return _mm256_slli_epi32(_mm256_madd_epi16(p.mins, bsums), 5);
}

RLM_AVX2 inline __m256i q6k_isum(const uint8_t* b, const int8_t* yq, const KPrep& p, __m256i bsums) {
  __m256i s = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    __m256i q[4];
    q6k_quants(b, h, q);
    const int8_t* y = yq + 128 * h;
    const __m256i s01 = _mm256_add_epi32(dot32(q[0], y, p.sc[4 * h]), dot32(q[1], y + 32, p.sc[4 * h + 1]));
    const __m256i s23 = _mm256_add_epi32(dot32(q[2], y + 64, p.sc[4 * h + 2]), dot32(q[3], y + 96, p.sc[4 * h + 3]));
    s = _mm256_add_epi32(s, _mm256_add_epi32(s01, s23));
  }
  return _mm256_sub_epi32(s, q6k_offset(p, bsums));
}

// All 256 quants of a super-block, unsigned, in element order (for reuse by many rows).
template <int kType>
RLM_AVX2 inline void unpack(const uint8_t* b, uint8_t* out) {
  __m256i* o = reinterpret_cast<__m256i*>(out);
  if constexpr (kType == 6) {
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      q6k_quants(b, h, q);
      for (int t = 0; t < 4; ++t) _mm256_store_si256(o + 4 * h + t, q[t]);
    }
  } else {
    constexpr bool kFive = kType == 5;
    const uint8_t* qs = b + (kFive ? 48 : 16);
    const __m256i hb = kFive ? loadu(b + 16) : _mm256_setzero_si256();
    __m256i lo, hi;
    k4_quants<0, kFive>(qs, hb, lo, hi);
    _mm256_store_si256(o + 0, lo);
    _mm256_store_si256(o + 1, hi);
    k4_quants<1, kFive>(qs, hb, lo, hi);
    _mm256_store_si256(o + 2, lo);
    _mm256_store_si256(o + 3, hi);
    k4_quants<2, kFive>(qs, hb, lo, hi);
    _mm256_store_si256(o + 4, lo);
    _mm256_store_si256(o + 5, hi);
    k4_quants<3, kFive>(qs, hb, lo, hi);
    _mm256_store_si256(o + 6, lo);
    _mm256_store_si256(o + 7, hi);
  }
}

// isum from unpacked quants: the same integers, lane for lane, as the direct forms above.
RLM_AVX2 inline __m256i unpacked_isum(const uint8_t* q, const int8_t* yq, const KPrep& p) {
  const __m256i* v = reinterpret_cast<const __m256i*>(q);
  __m256i s = dot32(_mm256_load_si256(v), yq, p.sc[0]);
  for (int k = 1; k < 8; ++k) s = _mm256_add_epi32(s, dot32(_mm256_load_si256(v + k), yq + 32 * k, p.sc[k]));
  return s;
}

// The float steps of one (row, output) pair and super-block, the same in every tile shape.
template <int kType>
RLM_AVX2 inline void accumulate_k(__m256& acc, __m256i isum, const KPrep& p, float dy, __m256i bsums) {
  acc = _mm256_fmadd_ps(_mm256_set1_ps(p.d * dy), _mm256_cvtepi32_ps(isum), acc);
  if constexpr (kType != 6) {
    const __m256i msum = _mm256_madd_epi16(p.mins, bsums);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(p.nmin * dy), _mm256_cvtepi32_ps(msum), acc);
  }
}

// kType: 4 = q4_K, 5 = q5_K, 6 = q6_K.
template <int kType>
struct KTiles {
  static constexpr int kBytes = kType == 4 ? 144 : kType == 5 ? 176 : 210;

  RLM_AVX2 static void accumulate(__m256& acc, __m256i isum, const KPrep& p, float dy, __m256i bsums) {
    accumulate_k<kType>(acc, isum, p, dy, bsums);
  }

  template <int M, int N>
  RLM_AVX2 static void tile(const GemmTask& t, int64_t o, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 256;
    const uint8_t* wr[M];
    ActRow y[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) y[j] = act_row(ActFormat::Q8_K, t.act + (r + j) * t.act_stride, w.cols);
    __m256 acc[M][N];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) acc[i][j] = _mm256_setzero_ps();
    // Prefetch the same blocks of a tile at least 8 KiB further on.
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = prefetch_distance(tile_bytes);
    const auto prefetch = [&](const uint8_t* blk) {
      const char* ahead = reinterpret_cast<const char*>(blk + pf);
      for (int off = 0; off < kBytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    };
    if constexpr (N == 1) {
      // One activation row: read each super-block's quants in place, row after row.
      for (int64_t b = 0; b < nb; ++b) {
        const int8_t* yq = y[0].qs + 256 * b;
        const float dy = y[0].d[b];
        const __m256i bs = loadu(y[0].bsums + 16 * b);
        for (int i = 0; i < M; ++i) {
          const uint8_t* blk = wr[i] + b * kBytes;
          prefetch(blk);
          KPrep p;
          if constexpr (kType == 6) {
            prep_q6k(blk, p);
            accumulate(acc[i][0], q6k_isum(blk, yq, p, bs), p, dy, bs);
          } else {
            prep_k4(blk, p);
            accumulate(acc[i][0], k4_isum<kType == 5>(blk, yq, p), p, dy, bs);
          }
        }
      }
    } else {
      // Several rows: unpack each weight super-block once into qbuf.
      KPrep prep[M];
      alignas(32) uint8_t qbuf[M][256];
      for (int64_t b = 0; b < nb; ++b) {
        for (int i = 0; i < M; ++i) {
          const uint8_t* blk = wr[i] + b * kBytes;
          prefetch(blk);
          if constexpr (kType == 6) prep_q6k(blk, prep[i]);
          else prep_k4(blk, prep[i]);
          unpack<kType>(blk, qbuf[i]);
        }
        for (int j = 0; j < N; ++j) {
          const int8_t* yq = y[j].qs + 256 * b;
          const float dy = y[j].d[b];
          const __m256i bs = loadu(y[j].bsums + 16 * b);
          for (int i = 0; i < M; ++i) {
            __m256i isum = unpacked_isum(qbuf[i], yq, prep[i]);
            if constexpr (kType == 6) isum = _mm256_sub_epi32(isum, q6k_offset(prep[i], bs));
            accumulate(acc[i][j], isum, prep[i], dy, bs);
          }
        }
      }
    }
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) t.out[(r + j) * w.rows + o + i] = hsum8(acc[i][j]);
  }
};

}  // namespace

GemmFn gemm_k_avx2(WType t) {
  switch (t) {
    case WType::Q4_K: return &gemm_tiled<KTiles<4>, 3, 4>;
    case WType::Q5_K: return &gemm_tiled<KTiles<5>, 3, 4>;
    case WType::Q6_K: return &gemm_tiled<KTiles<6>, 3, 4>;
    default: return nullptr;
  }
}
#else
GemmFn gemm_k_avx2(WType) { return nullptr; }
#endif

}  // namespace rlm
