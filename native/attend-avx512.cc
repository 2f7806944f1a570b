// AVX-512 attention for a group of query heads that read the same K rows (the rows of a
// prefill chunk, decoding requests on one cached prefix; see attend_group in ops.h), with
// the query heads in vector lanes: a K row's element is broadcast against 16 (or 8) query
// heads at once, so every K load feeds many multiply-adds instead of one.
//
// The bits are attend's (attend-avx2.cc). There a score is 8 lane partials over d (lane l
// sums d = l, l+8, ... in order, from zero), added as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)),
// times scale. Here the 8 partials are 8 accumulators and the same tree adds them. The
// softmax sums positions p = j mod 8 into 8 sums, added as attend's hsum adds its lanes;
// exp is exp8's sequence of operations on wider vectors. Each output element of V is one
// fma chain over positions, in order, as before.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_ps of cvtph_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "attend-avx512.h"

#include <cmath>

#ifdef RLM_HAVE_AVX2_OPS

namespace rlm {
namespace ops_avx2 {

namespace {

// 16 query heads per vector.
struct Z {
  using T = __m512;
  static constexpr int W = 16;
  RLM_ATTEND512 static T zero() { return _mm512_setzero_ps(); }
  RLM_ATTEND512 static T set1(float x) { return _mm512_set1_ps(x); }
  RLM_ATTEND512 static T load(const float* p) { return _mm512_load_ps(p); }
  RLM_ATTEND512 static void store(float* p, T v) { _mm512_store_ps(p, v); }
  RLM_ATTEND512 static void store_lanes(float* p, uint32_t m, T v) { _mm512_mask_store_ps(p, static_cast<__mmask16>(m), v); }
  RLM_ATTEND512 static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  RLM_ATTEND512 static T add(T a, T b) { return _mm512_add_ps(a, b); }
  RLM_ATTEND512 static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  RLM_ATTEND512 static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  RLM_ATTEND512 static T div(T a, T b) { return _mm512_div_ps(a, b); }
  RLM_ATTEND512 static T max(T a, T b) { return _mm512_max_ps(a, b); }
  // Lanes whose query sees fewer than p + 1 positions become -inf.
  RLM_ATTEND512 static T past_end(T v, const int32_t* lens, int64_t p) {
    const __mmask16 gone = _mm512_cmple_epi32_mask(_mm512_load_si512(lens), _mm512_set1_epi32(static_cast<int32_t>(p)));
    return _mm512_mask_mov_ps(v, gone, _mm512_set1_ps(-INFINITY));
  }
  // Lanes whose query's window starts after p become -inf.
  RLM_ATTEND512 static T before_start(T v, const int32_t* los, int64_t p) {
    const __mmask16 early = _mm512_cmpgt_epi32_mask(_mm512_load_si512(los), _mm512_set1_epi32(static_cast<int32_t>(p)));
    return _mm512_mask_mov_ps(v, early, _mm512_set1_ps(-INFINITY));
  }
  // exp8 (ops-avx2.h), operation for operation.
  RLM_ATTEND512 static T exp(T x) {
    const T hi = _mm512_set1_ps(88.3762626647949f);
    const T lo = _mm512_set1_ps(-88.3762626647949f);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    T fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    const T z = _mm512_mul_ps(x, x);
    T y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, z, x);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    const __m512i n = _mm512_cvttps_epi32(fx);
    const __m512i n1 = _mm512_srai_epi32(n, 1);
    const __m512i n2 = _mm512_sub_epi32(n, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const T p1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const T p2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    y = _mm512_mul_ps(_mm512_mul_ps(y, p1), p2);
    return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), y);
  }
};

// 8 query heads per vector (the remainder of a group).
struct Y {
  using T = __m256;
  static constexpr int W = 8;
  RLM_ATTEND512 static T zero() { return _mm256_setzero_ps(); }
  RLM_ATTEND512 static T set1(float x) { return _mm256_set1_ps(x); }
  RLM_ATTEND512 static T load(const float* p) { return _mm256_load_ps(p); }
  RLM_ATTEND512 static void store(float* p, T v) { _mm256_store_ps(p, v); }
  RLM_ATTEND512 static void store_lanes(float* p, uint32_t m, T v) { _mm256_mask_store_ps(p, static_cast<__mmask8>(m), v); }
  RLM_ATTEND512 static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  RLM_ATTEND512 static T add(T a, T b) { return _mm256_add_ps(a, b); }
  RLM_ATTEND512 static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  RLM_ATTEND512 static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  RLM_ATTEND512 static T div(T a, T b) { return _mm256_div_ps(a, b); }
  RLM_ATTEND512 static T max(T a, T b) { return _mm256_max_ps(a, b); }
  RLM_ATTEND512 static T past_end(T v, const int32_t* lens, int64_t p) {
    const __mmask8 gone = _mm256_cmple_epi32_mask(_mm256_load_si256(reinterpret_cast<const __m256i*>(lens)),
                                                  _mm256_set1_epi32(static_cast<int32_t>(p)));
    return _mm256_mask_mov_ps(v, gone, _mm256_set1_ps(-INFINITY));
  }
  RLM_ATTEND512 static T before_start(T v, const int32_t* los, int64_t p) {
    const __mmask8 early = _mm256_cmpgt_epi32_mask(_mm256_load_si256(reinterpret_cast<const __m256i*>(los)),
                                                   _mm256_set1_epi32(static_cast<int32_t>(p)));
    return _mm256_mask_mov_ps(v, early, _mm256_set1_ps(-INFINITY));
  }
  RLM_ATTEND512 static T exp(T x) { return exp8(x); }
};

// The tree that adds a score's 8 partials (reduce8 in attend-avx2.cc), and the one that adds
// a softmax's 8 sums (hsum in ops-avx2.h).
template <class V>
RLM_ATTEND512 inline typename V::T score_tree(const typename V::T* a) {
  return V::add(V::add(V::add(a[0], a[1]), V::add(a[2], a[3])), V::add(V::add(a[4], a[5]), V::add(a[6], a[7])));
}
template <class V>
RLM_ATTEND512 inline typename V::T sum_tree(const typename V::T* s) {
  return V::add(V::add(V::add(s[0], s[4]), V::add(s[2], s[6])), V::add(V::add(s[1], s[5]), V::add(s[3], s[7])));
}

// s[j * W + lane] = the score of query `lane` (its elements at qt[d * W + lane]) against the
// converted K rows kb[j * HD ..], for P positions j from j0; only the lanes in `mask` are
// written. Each load of qt feeds P multiply-adds, each taking its K element as an embedded
// broadcast: 8 * P accumulators.
template <class V, int HD, int P>
RLM_ATTEND512 inline void lane_scores(const float* qt, const float* kb, int j0, typename V::T vscale, uint32_t mask, float* s) {
  typename V::T a[P][8];
  for (int i = 0; i < P; i++)
    for (int l = 0; l < 8; l++) a[i][l] = V::zero();
  for (int d = 0; d < HD; d += 8) {
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
      typename V::T q = V::load(qt + (d + l) * V::W);
      // In a register, or the compiler folds the load into every multiply-add instead.
      asm("" : "+v"(q));
      for (int i = 0; i < P; i++) a[i][l] = V::fma(q, V::set1(kb[(j0 + i) * HD + d + l]), a[i][l]);
    }
  }
  for (int i = 0; i < P; i++) V::store_lanes(s + (j0 + i) * V::W, mask, V::mul(score_tree<V>(a[i]), vscale));
}

// lane_scores for the 8 positions of a K block: 3 + 3 + 2.
template <class V, int HD>
RLM_ATTEND512 void lane_scores8(const float* qt, const float* kb, float scale, uint32_t mask, float* s) {
  const typename V::T vscale = V::set1(scale);
  lane_scores<V, HD, 3>(qt, kb, 0, vscale, mask, s);
  lane_scores<V, HD, 3>(qt, kb, 3, vscale, mask, s);
  lane_scores<V, HD, 2>(qt, kb, 6, vscale, mask, s);
}

// Scores s[p * W + lane], p < padded, become softmax weights over each lane's positions
// los[lane]..lens[lane]-1 (the rest 0), as attend's softmax makes them; capped first as
// prepare_scores caps them.
template <class V>
RLM_ATTEND512 void lane_softmax(float* s, int64_t padded, const int32_t* los, const int32_t* lens, float softcap) {
  typename V::T mx = V::set1(-INFINITY);
  for (int64_t p = 0; p < padded; p++) {
    if (softcap > 0) {
      for (int l = 0; l < V::W; l++) s[p * V::W + l] = softcap * std::tanh(s[p * V::W + l] / softcap);
    }
    const typename V::T x = V::before_start(V::past_end(V::load(s + p * V::W), lens, p), los, p);
    V::store(s + p * V::W, x);
    mx = V::max(mx, x);
  }
  typename V::T sums[8];
  for (int j = 0; j < 8; j++) sums[j] = V::zero();
  for (int64_t p0 = 0; p0 < padded; p0 += 8) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
      float* at = s + (p0 + j) * V::W;
      const typename V::T e = V::exp(V::sub(V::load(at), mx));
      V::store(at, e);
      sums[j] = V::add(sums[j], e);
    }
  }
  const typename V::T sum = sum_tree<V>(sums);
  for (int64_t p = 0; p < padded; p++) V::store(s + p * V::W, V::div(V::load(s + p * V::W), sum));
}

// K and V rows this many positions ahead are asked for while the current ones are used: a
// decode step's K/V come from memory (the weights it read since evicted them). A cold group
// of 4 rows x 3 heads over 1,566 positions took 101 us, 82-87 us with these, 75 us warm.
constexpr int64_t kKAhead = 64;
constexpr int64_t kVAhead = 32;

// Asks for the cache lines of the `bytes` bytes from element `at` of `base`.
inline void prefetch_row(const void* base, int64_t at, size_t elem, size_t bytes) {
  const char* p = static_cast<const char*>(base) + static_cast<size_t>(at) * elem;
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

// out[q][..] for NQ queries over a whole head of HD16 * 16 dimensions: each V row is read and
// converted once for all of them (a prefill chunk's queries walk up to thousands of
// positions). Every output element is fma(w[q][p * ws], V[p][element], acc) in position order.
template <int NQ, int HD16>
RLM_ATTEND512 void weighted_v_rows_wide(const float* const* w, int64_t ws, const int64_t* lens, const KVView& kv, int64_t off,
                                        const int32_t* slots, float* const* out) {
  int64_t lo, hi;
  len_range(lens, NQ, &lo, &hi);
  __m512 a[NQ][HD16];
  for (int q = 0; q < NQ; q++)
    for (int c = 0; c < HD16; c++) a[q][c] = _mm512_setzero_ps();
  const size_t elem = kv.f16 ? 2 : 4;
  for (int64_t p = 0; p < hi; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    prefetch_row(kv.v, static_cast<int64_t>(slots[p + kVAhead < hi ? p + kVAhead : hi - 1]) * kv.stride + off, elem, HD16 * 16 * elem);
    __m512 v[HD16];
    for (int c = 0; c < HD16; c++) {
      v[c] = kv.f16 ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(kv.v) + b + 16 * c)))
                    : _mm512_loadu_ps(static_cast<const float*>(kv.v) + b + 16 * c);
    }
    const bool all = p < lo;
    for (int q = 0; q < NQ; q++) {
      if (!all && p >= lens[q]) continue;
      const __m512 wq = _mm512_set1_ps(w[q][p * ws]);
      for (int c = 0; c < HD16; c++) a[q][c] = _mm512_fmadd_ps(wq, v[c], a[q][c]);
    }
  }
  for (int q = 0; q < NQ; q++)
    for (int c = 0; c < HD16; c++) _mm512_storeu_ps(out[q] + 16 * c, a[q][c]);
}

// kb = the K rows of positions pb..pb+7 as `slots` holds them, converted (positions from
// `len` on, which no score keeps, read position 0's row, as attend does).
RLM_ATTEND512 void load_k_block16(const KVView& kv, int64_t kv_off, int hd, const int32_t* slots, int64_t len, int64_t pb,
                                  float* kb) {
  const size_t elem = kv.f16 ? 2 : 4;
  for (int j = 0; j < 8; j++) {
    const int64_t base = static_cast<int64_t>(slots[pb + j < len ? pb + j : 0]) * kv.stride + kv_off;
    const int64_t ahead = pb + j + kKAhead;
    prefetch_row(kv.k, static_cast<int64_t>(slots[ahead < len ? ahead : len - 1]) * kv.stride + kv_off, elem, static_cast<size_t>(hd) * elem);
    for (int d = 0; d < hd; d += 16) {
      const __m512 v = kv.f16 ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(kv.k) + base + d)))
                              : _mm512_loadu_ps(static_cast<const float*>(kv.k) + base + d);
      _mm512_storeu_ps(kb + j * hd + d, v);
    }
  }
}

// out[0..HD16 * 16) continued from its values over positions [from, to) with weights
// w[p * ws] and its own slots, in position order.
template <int HD16>
RLM_ATTEND512 void weighted_v_tail(const float* w, int64_t ws, int64_t from, int64_t to, const KVView& kv, int64_t off,
                                   const int32_t* slots, float* out) {
  __m512 a[HD16];
  for (int c = 0; c < HD16; c++) a[c] = _mm512_loadu_ps(out + 16 * c);
  for (int64_t p = from; p < to; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    const __m512 wq = _mm512_set1_ps(w[p * ws]);
    for (int c = 0; c < HD16; c++) {
      const __m512 v = kv.f16 ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(kv.v) + b + 16 * c)))
                              : _mm512_loadu_ps(static_cast<const float*>(kv.v) + b + 16 * c);
      a[c] = _mm512_fmadd_ps(wq, v, a[c]);
    }
  }
  for (int c = 0; c < HD16; c++) _mm512_storeu_ps(out + 16 * c, a[c]);
}

// One run of vector lanes: query heads q0 .. q0 + count - 1 of the group.
struct LaneBlock {
  int q0, count, width;
  float* qt;      // hd * width: element d of lane l at qt[d * width + l]
  float* scores;  // padded * width
};

template <int HD>
RLM_ATTEND512 void block_scores(const LaneBlock& b, const float* kb, float scale, uint32_t mask, float* s) {
  if (b.width == 16) lane_scores8<Z, HD>(b.qt, kb, scale, mask, s);
  else lane_scores8<Y, HD>(b.qt, kb, scale, mask, s);
}

// Which lanes of block b hold query heads of row i.
inline uint32_t row_lanes(const LaneBlock& b, int i, int heads) {
  const int lo = std::max(i * heads - b.q0, 0);
  const int hi = std::min((i + 1) * heads - b.q0, b.count);
  return lo >= hi ? 0u : ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

inline float* align64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~static_cast<uintptr_t>(63));
}

template <int HD>
RLM_ATTEND512 void attend_lanes(const AttendRow* rows, int n, int heads, const KVView& kv, int64_t kv_off, int64_t shared,
                                float scale, float softcap, float* scratch) {
  const int nq = n * heads;
  int64_t len_max = 0, len_min = rows[0].len;
  for (int i = 0; i < n; i++) {
    len_max = std::max(len_max, rows[i].len);
    len_min = std::min(len_min, rows[i].len);
  }
  const int64_t padded = (len_max + 7) / 8 * 8;
  // Blocks of 16 lanes, the last of 8 when 8 or fewer query heads remain.
  LaneBlock blocks[(kMaxAttendGroup * kMaxLaneHeads + 15) / 16 + 1];
  int nb = 0;
  float* at = align64(scratch);
  for (int q0 = 0; q0 < nq;) {
    const int count = std::min(nq - q0, 16);
    const int width = count > 8 ? 16 : 8;
    blocks[nb++] = LaneBlock{q0, count, width, nullptr, nullptr};
    q0 += count;
  }
  for (int b = 0; b < nb; b++) {
    blocks[b].scores = at;
    at += padded * blocks[b].width;
  }
  for (int b = 0; b < nb; b++) {
    LaneBlock& lb = blocks[b];
    lb.qt = at;
    at += HD * lb.width;
    for (int l = 0; l < lb.width; l++) {
      const int qi = lb.q0 + l;
      const float* q = l < lb.count ? rows[qi / heads].q + static_cast<int64_t>(qi % heads) * HD : nullptr;
      for (int d = 0; d < HD; d++) lb.qt[d * lb.width + l] = q ? q[d] : 0.0f;
    }
  }
  float* kb = at;
  at += 8 * HD;
  alignas(64) int32_t lens[kMaxLaneBlocks][16];
  alignas(64) int32_t los[kMaxLaneBlocks][16];
  for (int b = 0; b < nb; b++) {
    for (int l = 0; l < blocks[b].width; l++) {
      const int qi = blocks[b].q0 + l;
      lens[b][l] = l < blocks[b].count ? static_cast<int32_t>(rows[qi / heads].len) : 0;
      los[b][l] = l < blocks[b].count ? static_cast<int32_t>(rows[qi / heads].lo) : 0;
    }
  }

  for (int64_t pb = 0; pb < padded; pb += 8) {
    // A block every row reads from the same slots is converted once and scored for all;
    // past the shared positions, each row's own K rows are scored for its own lanes.
    const bool joint = pb + 8 <= shared || shared >= len_max;
    if (joint) {
      load_k_block16(kv, kv_off, HD, rows[0].slots, shared >= len_max ? len_max : shared, pb, kb);
      for (int b = 0; b < nb; b++) block_scores<HD>(blocks[b], kb, scale, 0xffffu, blocks[b].scores + pb * blocks[b].width);
      continue;
    }
    for (int i = 0; i < n; i++) {
      if (pb >= rows[i].len) continue;
      load_k_block16(kv, kv_off, HD, rows[i].slots, rows[i].len, pb, kb);
      for (int b = 0; b < nb; b++) {
        const uint32_t m = row_lanes(blocks[b], i, heads);
        if (m != 0) block_scores<HD>(blocks[b], kb, scale, m, blocks[b].scores + pb * blocks[b].width);
      }
    }
  }
  // Rows that end before a block skipped it: lane_softmax masks every position past a lane's
  // own end, so nothing unwritten is read as a score.
  for (int b = 0; b < nb; b++) {
    if (blocks[b].width == 16) lane_softmax<Z>(blocks[b].scores, padded, los[b], lens[b], softcap);
    else lane_softmax<Y>(blocks[b].scores, padded, los[b], lens[b], softcap);
  }
  // V: the positions every row reads from the same slots for several queries at once, then
  // each query goes on alone over the rest of its positions.
  const int64_t together = shared >= len_max ? len_max : (shared < len_min ? shared : len_min);
  constexpr int kQ = wide_queries(HD);
  for (int b = 0; b < nb; b++) {
    const LaneBlock& lb = blocks[b];
    for (int k0 = 0; k0 < lb.count; k0 += kQ) {
      const int m = std::min(lb.count - k0, kQ);
      const float* w[kQ];
      int64_t lens_v[kQ];
      float* o[kQ];
      for (int k = 0; k < m; k++) {
        const int qi = lb.q0 + k0 + k;
        w[k] = lb.scores + k0 + k;
        lens_v[k] = shared >= len_max ? rows[qi / heads].len : together;
        o[k] = rows[qi / heads].out + static_cast<int64_t>(qi % heads) * HD;
      }
      weighted_v_rows_wide_any(m, HD, w, lb.width, lens_v, kv, kv_off, rows[0].slots, o);
      if (shared >= len_max) continue;
      for (int k = 0; k < m; k++) {
        const AttendRow& r = rows[(lb.q0 + k0 + k) / heads];
        weighted_v_tail<HD / 16>(w[k], lb.width, together, r.len, kv, kv_off, r.slots, o[k]);
      }
    }
  }
}

}  // namespace

RLM_ATTEND512 void weighted_v_rows_wide_any(int nq, int hd, const float* const* w, int64_t ws, const int64_t* lens,
                                            const KVView& kv, int64_t off, const int32_t* slots, float* const* out) {
  if (hd == 128) {
    switch (nq) {
      case 1: return weighted_v_rows_wide<1, 8>(w, ws, lens, kv, off, slots, out);
      case 2: return weighted_v_rows_wide<2, 8>(w, ws, lens, kv, off, slots, out);
      default: return weighted_v_rows_wide<3, 8>(w, ws, lens, kv, off, slots, out);
    }
  }
  switch (nq) {
    case 1: return weighted_v_rows_wide<1, 4>(w, ws, lens, kv, off, slots, out);
    case 2: return weighted_v_rows_wide<2, 4>(w, ws, lens, kv, off, slots, out);
    case 3: return weighted_v_rows_wide<3, 4>(w, ws, lens, kv, off, slots, out);
    case 4: return weighted_v_rows_wide<4, 4>(w, ws, lens, kv, off, slots, out);
    case 5: return weighted_v_rows_wide<5, 4>(w, ws, lens, kv, off, slots, out);
    default: return weighted_v_rows_wide<6, 4>(w, ws, lens, kv, off, slots, out);
  }
}

bool attend_lanes_fits(int rows, int heads, int hd) {
  return (hd == 64 || hd == 128) && heads <= kMaxLaneHeads && rows <= kMaxAttendGroup && rows * heads >= kMinLaneQueries;
}

RLM_ATTEND512 void attend_group_lanes(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off,
                                      int64_t shared, float scale, float softcap, float* scratch) {
  if (hd == 128) return attend_lanes<128>(rows, n, heads, kv, kv_off, shared, scale, softcap, scratch);
  return attend_lanes<64>(rows, n, heads, kv, kv_off, shared, scale, softcap, scratch);
}

}  // namespace ops_avx2
}  // namespace rlm

#endif  // RLM_HAVE_AVX2_OPS
