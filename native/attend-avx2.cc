// AVX2 attention over the paged KV pool for one group of query heads sharing a kv head
// (see attend() in ops.h). K and V rows are read (and converted from f16) once per group.
//
// Fixed order, whatever the batch: a score is the dot product of q and one K row in 8 lanes
// over d, the lanes then summed by one tree for every position; positions go in blocks of 8
// (the last block padded with a repeated slot whose scores are dropped), so a position's
// score never depends on where its block ends. Softmax sums and the V accumulation run in
// position order.
//
// attend_group runs several rows together (a prefill chunk's, or decoding rows on one cached
// prefix), so that each K and V row is read and converted once for all of them, and runs for
// every score, weight and output lane exactly the operations attend runs for that row alone.
// On AVX-512, groups of five or more query heads take attend-avx512.cc's form instead.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_ps of cvtph_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "ops.h"
#include "ops-avx2.h"
#include "attend-avx512.h"

#include "cpu.h"

#ifdef RLM_HAVE_AVX2_OPS

namespace rlm {
namespace ops_avx2 {

namespace {

// Lane j of the result = the lanes of v[j] summed as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)).
RLM_AVX2 inline __m256 reduce8(const __m256* v) {
  const __m256 h01 = _mm256_hadd_ps(v[0], v[1]);
  const __m256 h23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 h45 = _mm256_hadd_ps(v[4], v[5]);
  const __m256 h67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 q0 = _mm256_hadd_ps(h01, h23);
  const __m256 q1 = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

// tmp[g*8 + j] = lane partial sums of q_g . K[row j] for GN heads and 8 rows, P rows at a
// time (P independent FMA chains per head; each chain runs over d in the same order).
template <int GN, int P>
RLM_AVX2 inline void dots8(const float* q, int hd, const void* k, bool f16, const int64_t* base, __m256* tmp) {
  for (int j = 0; j < 8; j += P) {
    __m256 acc[P][GN];
    for (int i = 0; i < P; i++)
      for (int g = 0; g < GN; g++) acc[i][g] = _mm256_setzero_ps();
    for (int d = 0; d < hd; d += 8) {
      __m256 kk[P];
      for (int i = 0; i < P; i++) kk[i] = load_kv(k, base[j + i] + d, f16);
      for (int g = 0; g < GN; g++) {
        const __m256 qv = _mm256_loadu_ps(q + g * hd + d);
        for (int i = 0; i < P; i++) acc[i][g] = _mm256_fmadd_ps(qv, kk[i], acc[i][g]);
      }
    }
    for (int i = 0; i < P; i++)
      for (int g = 0; g < GN; g++) tmp[g * 8 + j + i] = acc[i][g];
  }
}

// out_g[0..8 or 16) = sum_p w_g[p] V[p][off..] for GN heads, in position order.
template <int GN, bool TWO>
RLM_AVX2 inline void weighted_v(const float* w, int64_t wstride, const KVView& kv, int64_t off, const int32_t* slots,
                                int64_t len, float* out, int hd) {
  __m256 a0[GN], a1[GN];
  for (int g = 0; g < GN; g++) a0[g] = a1[g] = _mm256_setzero_ps();
  for (int64_t p = 0; p < len; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    const __m256 v0 = load_kv(kv.v, b, kv.f16);
    const __m256 v1 = TWO ? load_kv(kv.v, b + 8, kv.f16) : _mm256_setzero_ps();
    for (int g = 0; g < GN; g++) {
      const __m256 wg = _mm256_broadcast_ss(w + g * wstride + p);
      a0[g] = _mm256_fmadd_ps(wg, v0, a0[g]);
      if (TWO) a1[g] = _mm256_fmadd_ps(wg, v1, a1[g]);
    }
  }
  for (int g = 0; g < GN; g++) {
    _mm256_storeu_ps(out + g * hd, a0[g]);
    if (TWO) _mm256_storeu_ps(out + g * hd + 8, a1[g]);
  }
}

RLM_AVX2 void dots8_any(int gn, const float* q, int hd, const void* k, bool f16, const int64_t* base, __m256* tmp) {
  switch (gn) {
    case 1: return dots8<1, 4>(q, hd, k, f16, base, tmp);
    case 2: return dots8<2, 4>(q, hd, k, f16, base, tmp);
    case 3: return dots8<3, 2>(q, hd, k, f16, base, tmp);
    case 4: return dots8<4, 2>(q, hd, k, f16, base, tmp);
    case 5: return dots8<5, 2>(q, hd, k, f16, base, tmp);
    case 6: return dots8<6, 2>(q, hd, k, f16, base, tmp);
    case 7: return dots8<7, 1>(q, hd, k, f16, base, tmp);
    default: return dots8<8, 1>(q, hd, k, f16, base, tmp);
  }
}

RLM_AVX2 void weighted_v_any(int gn, const float* w, int64_t wstride, const KVView& kv, int64_t off, const int32_t* slots,
                             int64_t len, bool two, float* out, int hd) {
  if (two) {
    switch (gn) {
      case 1: return weighted_v<1, true>(w, wstride, kv, off, slots, len, out, hd);
      case 2: return weighted_v<2, true>(w, wstride, kv, off, slots, len, out, hd);
      case 3: return weighted_v<3, true>(w, wstride, kv, off, slots, len, out, hd);
      default: return weighted_v<4, true>(w, wstride, kv, off, slots, len, out, hd);
    }
  }
  switch (gn) {
    case 1: return weighted_v<1, false>(w, wstride, kv, off, slots, len, out, hd);
    case 2: return weighted_v<2, false>(w, wstride, kv, off, slots, len, out, hd);
    case 3: return weighted_v<3, false>(w, wstride, kv, off, slots, len, out, hd);
    default: return weighted_v<4, false>(w, wstride, kv, off, slots, len, out, hd);
  }
}

// scores[0..padded) -> softmax weights over positions lo..len-1 (the rest become 0).
RLM_AVX2 void softmax(float* s, int64_t lo, int64_t len, int64_t padded, float softcap) {
  prepare_scores(s, lo, len, softcap);
  for (int64_t p = len; p < padded; p++) s[p] = -INFINITY;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (int64_t p = 0; p < padded; p += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + p));
  const __m256 mx = _mm256_set1_ps(hmax(vmax));
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t p = 0; p < padded; p += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mx));
    _mm256_storeu_ps(s + p, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const __m256 sum = _mm256_set1_ps(hsum(vsum));
  for (int64_t p = 0; p < padded; p += 8) _mm256_storeu_ps(s + p, _mm256_div_ps(_mm256_loadu_ps(s + p), sum));
}

// Scores of query q against 8 converted K rows kb[j * hd ..]: the dots8 sequence (an fma
// chain over d from zero per position, then reduce8), times scale.
RLM_AVX2 inline __m256 scores8(const float* q, const float* kb, int hd, __m256 vscale) {
  __m256 acc[8];
  for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
  for (int d = 0; d < hd; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
    for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kb + j * hd + d), acc[j]);
  }
  return _mm256_mul_ps(reduce8(acc), vscale);
}

// out[q][0..8 or 16) = sum over p < lens[q] of w[q][p] V[p][off..], in position order, for
// NQ queries whose lengths may differ: the positions all of them see run together (one V
// load for all), the few that only the longer ones see follow, query by query.
template <int NQ, bool TWO>
RLM_AVX2 void weighted_v_rows(const float* const* w, const int64_t* lens, const KVView& kv, int64_t off,
                              const int32_t* slots, float* const* out) {
  int64_t lo, hi;
  len_range(lens, NQ, &lo, &hi);
  __m256 a0[NQ], a1[NQ];
  for (int q = 0; q < NQ; q++) a0[q] = a1[q] = _mm256_setzero_ps();
  for (int64_t p = 0; p < hi; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    const __m256 v0 = load_kv(kv.v, b, kv.f16);
    const __m256 v1 = TWO ? load_kv(kv.v, b + 8, kv.f16) : _mm256_setzero_ps();
    const bool all = p < lo;
    for (int q = 0; q < NQ; q++) {
      if (!all && p >= lens[q]) continue;
      const __m256 wq = _mm256_broadcast_ss(w[q] + p);
      a0[q] = _mm256_fmadd_ps(wq, v0, a0[q]);
      if (TWO) a1[q] = _mm256_fmadd_ps(wq, v1, a1[q]);
    }
  }
  for (int q = 0; q < NQ; q++) {
    _mm256_storeu_ps(out[q], a0[q]);
    if (TWO) _mm256_storeu_ps(out[q] + 8, a1[q]);
  }
}

template <bool TWO>
RLM_AVX2 void weighted_v_rows_any(int nq, const float* const* w, const int64_t* lens, const KVView& kv, int64_t off,
                                  const int32_t* slots, float* const* out) {
  switch (nq) {
    case 1: return weighted_v_rows<1, TWO>(w, lens, kv, off, slots, out);
    case 2: return weighted_v_rows<2, TWO>(w, lens, kv, off, slots, out);
    case 3: return weighted_v_rows<3, TWO>(w, lens, kv, off, slots, out);
    case 4: return weighted_v_rows<4, TWO>(w, lens, kv, off, slots, out);
    case 5: return weighted_v_rows<5, TWO>(w, lens, kv, off, slots, out);
    default: return weighted_v_rows<6, TWO>(w, lens, kv, off, slots, out);
  }
}

// kb = the K rows of positions pb..pb+7 as `slots` holds them, converted (positions from
// `len` on, which no score keeps, read position 0's row, as attend does).
RLM_AVX2 void load_k_block(const KVView& kv, int64_t kv_off, int hd, const int32_t* slots, int64_t len, int64_t pb, float* kb) {
  for (int j = 0; j < 8; j++) {
    const int64_t base = static_cast<int64_t>(slots[pb + j < len ? pb + j : 0]) * kv.stride + kv_off;
    for (int d = 0; d < hd; d += 8) _mm256_storeu_ps(kb + j * hd + d, load_kv(kv.k, base + d, kv.f16));
  }
}

// One query's out[0..8 or 16) accumulators, continued from `out` over positions
// [from, to) with weights w and its own slots, in position order.
template <bool TWO>
RLM_AVX2 void weighted_v_more(const float* w, int64_t from, int64_t to, const KVView& kv, int64_t off, const int32_t* slots,
                              float* out) {
  if (from >= to) return;
  __m256 a0 = _mm256_loadu_ps(out);
  __m256 a1 = TWO ? _mm256_loadu_ps(out + 8) : _mm256_setzero_ps();
  for (int64_t p = from; p < to; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    const __m256 wq = _mm256_broadcast_ss(w + p);
    a0 = _mm256_fmadd_ps(wq, load_kv(kv.v, b, kv.f16), a0);
    if (TWO) a1 = _mm256_fmadd_ps(wq, load_kv(kv.v, b + 8, kv.f16), a1);
  }
  _mm256_storeu_ps(out, a0);
  if (TWO) _mm256_storeu_ps(out + 8, a1);
}

}  // namespace

RLM_AVX2 void attend_group(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off,
                           int64_t shared, float scale, float softcap, float* scratch) {
  if (simd_active() == Simd::Avx512 && attend_lanes_fits(n, heads, hd)) {
    return attend_group_lanes(rows, n, heads, hd, kv, kv_off, shared, scale, softcap, scratch);
  }
  const int nq = n * heads;
  int64_t len_max = 0, len_min = rows[0].len;
  for (int i = 0; i < n; i++) {
    len_max = rows[i].len > len_max ? rows[i].len : len_max;
    len_min = rows[i].len < len_min ? rows[i].len : len_min;
  }
  const int64_t padded = (len_max + 7) / 8 * 8;
  float* scores = scratch;                                // nq rows of `padded` scores
  float* kb = scratch + static_cast<int64_t>(nq) * padded;  // 8 K rows, converted
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int64_t pb = 0; pb < padded; pb += 8) {
    // A block every row reads from the same slots is converted once for all of them.
    const bool joint = pb + 8 <= shared || shared >= len_max;
    if (joint) load_k_block(kv, kv_off, hd, rows[0].slots, shared >= len_max ? len_max : shared, pb, kb);
    for (int i = 0; i < n; i++) {
      // A row whose positions end before this block skips it, as attend does; its softmax
      // turns the block into zeros.
      if (pb >= rows[i].len) continue;
      if (!joint) load_k_block(kv, kv_off, hd, rows[i].slots, rows[i].len, pb, kb);
      for (int g = 0; g < heads; g++) {
        const float* qv = rows[i].q + static_cast<int64_t>(g) * hd;
        _mm256_storeu_ps(scores + (i * heads + g) * padded + pb, scores8(qv, kb, hd, vscale));
      }
    }
  }
  for (int i = 0; i < n; i++)
    for (int g = 0; g < heads; g++) softmax(scores + (i * heads + g) * padded, rows[i].lo, rows[i].len, padded, softcap);
  // V: the positions every row reads from the same slots together, then each query goes on
  // alone over the rest of its positions (its accumulators continue from `out`).
  const int64_t together = shared >= len_max ? len_max : (shared < len_min ? shared : len_min);
  const int wide = simd_active() == Simd::Avx512 ? wide_queries(hd) : 0;
  for (int q0 = 0; wide > 0 && q0 < nq; q0 += wide) {
    const int m = nq - q0 < wide ? nq - q0 : wide;
    const float* w[6];
    int64_t lens[6];
    float* o[6];
    for (int k = 0; k < m; k++) {
      const int qi = q0 + k;
      w[k] = scores + static_cast<int64_t>(qi) * padded;
      lens[k] = shared >= len_max ? rows[qi / heads].len : together;
      o[k] = rows[qi / heads].out + static_cast<int64_t>(qi % heads) * hd;
    }
    weighted_v_rows_wide_any(m, hd, w, 1, lens, kv, kv_off, rows[0].slots, o);
    if (shared >= len_max) continue;
    for (int k = 0; k < m; k++) {
      const AttendRow& r = rows[(q0 + k) / heads];
      for (int d0 = 0; d0 < hd; d0 += 16) {
        if (hd - d0 >= 16) weighted_v_more<true>(w[k], together, r.len, kv, kv_off + d0, r.slots, o[k] + d0);
        else weighted_v_more<false>(w[k], together, r.len, kv, kv_off + d0, r.slots, o[k] + d0);
      }
    }
  }
  for (int q0 = 0; wide == 0 && q0 < nq; q0 += 6) {
    const int m = nq - q0 < 6 ? nq - q0 : 6;
    const float* w[6];
    int64_t lens[6];
    for (int k = 0; k < m; k++) {
      const int qi = q0 + k;
      w[k] = scores + static_cast<int64_t>(qi) * padded;
      const int64_t len = rows[qi / heads].len;
      lens[k] = shared >= len_max ? len : together;
    }
    for (int d0 = 0; d0 < hd; d0 += 16) {
      float* o[6];
      for (int k = 0; k < m; k++) {
        const int qi = q0 + k;
        o[k] = rows[qi / heads].out + static_cast<int64_t>(qi % heads) * hd + d0;
      }
      const bool two = hd - d0 >= 16;
      if (two) weighted_v_rows_any<true>(m, w, lens, kv, kv_off + d0, rows[0].slots, o);
      else weighted_v_rows_any<false>(m, w, lens, kv, kv_off + d0, rows[0].slots, o);
      if (shared >= len_max) continue;
      for (int k = 0; k < m; k++) {
        const AttendRow& r = rows[(q0 + k) / heads];
        if (two) weighted_v_more<true>(w[k], together, r.len, kv, kv_off + d0, r.slots, o[k]);
        else weighted_v_more<false>(w[k], together, r.len, kv, kv_off + d0, r.slots, o[k]);
      }
    }
  }
}

RLM_AVX2 void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
                     int64_t lo, float scale, float softcap, float* scratch, float* out) {
  const int64_t padded = (len + 7) / 8 * 8;
  float* scores = scratch;  // heads rows of `padded` scores
  alignas(32) __m256 tmp[64];
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int64_t pb = 0; pb < padded; pb += 8) {
    int64_t base[8];
    for (int j = 0; j < 8; j++) base[j] = static_cast<int64_t>(slots[pb + j < len ? pb + j : 0]) * kv.stride + kv_off;
    for (int g0 = 0; g0 < heads; g0 += 8) {
      const int gn = heads - g0 < 8 ? heads - g0 : 8;
      dots8_any(gn, q + static_cast<int64_t>(g0) * hd, hd, kv.k, kv.f16, base, tmp);
      for (int g = 0; g < gn; g++) {
        _mm256_storeu_ps(scores + (g0 + g) * padded + pb, _mm256_mul_ps(reduce8(tmp + g * 8), vscale));
      }
    }
  }
  for (int g = 0; g < heads; g++) softmax(scores + g * padded, lo, len, padded, softcap);
  for (int g0 = 0; g0 < heads; g0 += 4) {
    const int gn = heads - g0 < 4 ? heads - g0 : 4;
    for (int d0 = 0; d0 < hd; d0 += 16) {
      weighted_v_any(gn, scores + g0 * padded, padded, kv, kv_off + d0, slots, len, hd - d0 >= 16,
                     out + static_cast<int64_t>(g0) * hd + d0, hd);
    }
  }
}

}  // namespace ops_avx2
}  // namespace rlm

#endif  // RLM_HAVE_AVX2_OPS (ops-avx2.cc defines the stub otherwise)
