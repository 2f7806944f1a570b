// NEON attention over the paged KV pool for one group of query heads sharing a kv head
// (see attend() in ops.h): the AVX2 path's scheme in 4 lanes. K and V rows are read (and
// converted from f16) once per group.
//
// Fixed order, whatever the batch: a score is the dot product of q and one K row in 4 lanes
// over d, the lanes then summed as (l0+l1)+(l2+l3) for every position; positions go in
// blocks of 4 (the last block padded with a repeated slot whose scores are dropped), so a
// position's score never depends on where its block ends. Softmax sums and the V
// accumulation run in position order, per head, so a head's result is the same whether its
// group is computed together or one head at a time.
#include "ops-neon.h"

#ifdef RLM_HAVE_NEON_OPS

namespace rlm {
namespace ops_neon {

namespace {

// Lane j of the result = the lanes of v[j] summed as (l0+l1)+(l2+l3).
inline float32x4_t reduce4(const float32x4_t* v) {
  return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3]));
}

// tmp[g*4 + j] = lane partial sums of q_g . K[row j] for GN heads and 4 rows, P rows at a
// time (P independent FMA chains per head; each chain runs over d in the same order).
template <int GN, int P>
inline void dots4(const float* q, int hd, const void* k, bool f16, const int64_t* base, float32x4_t* tmp) {
  for (int j = 0; j < 4; j += P) {
    float32x4_t acc[P][GN];
    for (int i = 0; i < P; i++)
      for (int g = 0; g < GN; g++) acc[i][g] = vdupq_n_f32(0.0f);
    for (int d = 0; d < hd; d += 4) {
      float32x4_t kk[P];
      for (int i = 0; i < P; i++) kk[i] = load_kv(k, base[j + i] + d, f16);
      for (int g = 0; g < GN; g++) {
        const float32x4_t qv = vld1q_f32(q + g * hd + d);
        for (int i = 0; i < P; i++) acc[i][g] = vfmaq_f32(acc[i][g], qv, kk[i]);
      }
    }
    for (int i = 0; i < P; i++)
      for (int g = 0; g < GN; g++) tmp[g * 4 + j + i] = acc[i][g];
  }
}

void dots4_any(int gn, const float* q, int hd, const void* k, bool f16, const int64_t* base, float32x4_t* tmp) {
  switch (gn) {
    case 1: return dots4<1, 4>(q, hd, k, f16, base, tmp);
    case 2: return dots4<2, 4>(q, hd, k, f16, base, tmp);
    case 3: return dots4<3, 4>(q, hd, k, f16, base, tmp);
    case 4: return dots4<4, 4>(q, hd, k, f16, base, tmp);
    case 5: return dots4<5, 2>(q, hd, k, f16, base, tmp);
    case 6: return dots4<6, 2>(q, hd, k, f16, base, tmp);
    case 7: return dots4<7, 2>(q, hd, k, f16, base, tmp);
    default: return dots4<8, 2>(q, hd, k, f16, base, tmp);
  }
}

// out_g[0 .. 4 NV) = sum_p w_g[p] V[p][off..] for GN heads, in position order.
template <int GN, int NV>
inline void weighted_v(const float* w, int64_t wstride, const KVView& kv, int64_t off, const int32_t* slots,
                       int64_t len, float* out, int hd) {
  float32x4_t acc[GN][NV];
  for (int g = 0; g < GN; g++)
    for (int v = 0; v < NV; v++) acc[g][v] = vdupq_n_f32(0.0f);
  for (int64_t p = 0; p < len; p++) {
    const int64_t b = static_cast<int64_t>(slots[p]) * kv.stride + off;
    float32x4_t vv[NV];
    for (int v = 0; v < NV; v++) vv[v] = load_kv(kv.v, b + 4 * v, kv.f16);
    for (int g = 0; g < GN; g++) {
      const float wg = w[g * wstride + p];
      for (int v = 0; v < NV; v++) acc[g][v] = vfmaq_n_f32(acc[g][v], vv[v], wg);
    }
  }
  for (int g = 0; g < GN; g++)
    for (int v = 0; v < NV; v++) vst1q_f32(out + g * hd + 4 * v, acc[g][v]);
}

template <int GN>
void weighted_v_nv(int nv, const float* w, int64_t wstride, const KVView& kv, int64_t off, const int32_t* slots,
                   int64_t len, float* out, int hd) {
  switch (nv) {
    case 1: return weighted_v<GN, 1>(w, wstride, kv, off, slots, len, out, hd);
    case 2: return weighted_v<GN, 2>(w, wstride, kv, off, slots, len, out, hd);
    case 3: return weighted_v<GN, 3>(w, wstride, kv, off, slots, len, out, hd);
    default: return weighted_v<GN, 4>(w, wstride, kv, off, slots, len, out, hd);
  }
}

void weighted_v_any(int gn, int nv, const float* w, int64_t wstride, const KVView& kv, int64_t off,
                    const int32_t* slots, int64_t len, float* out, int hd) {
  switch (gn) {
    case 1: return weighted_v_nv<1>(nv, w, wstride, kv, off, slots, len, out, hd);
    case 2: return weighted_v_nv<2>(nv, w, wstride, kv, off, slots, len, out, hd);
    case 3: return weighted_v_nv<3>(nv, w, wstride, kv, off, slots, len, out, hd);
    default: return weighted_v_nv<4>(nv, w, wstride, kv, off, slots, len, out, hd);
  }
}

// scores[0..padded) -> softmax weights over positions lo..len-1 (the rest become 0).
void softmax(float* s, int64_t lo, int64_t len, int64_t padded, float softcap) {
  prepare_scores(s, lo, len, softcap);
  for (int64_t p = len; p < padded; p++) s[p] = -INFINITY;
  float32x4_t vmax = vdupq_n_f32(-INFINITY);
  for (int64_t p = 0; p < padded; p += 4) vmax = vmaxq_f32(vmax, vld1q_f32(s + p));
  const float32x4_t mx = vdupq_n_f32(vmaxvq_f32(vmax));
  float32x4_t vsum = vdupq_n_f32(0.0f);
  for (int64_t p = 0; p < padded; p += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + p), mx));
    vst1q_f32(s + p, e);
    vsum = vaddq_f32(vsum, e);
  }
  const float32x2_t h = vadd_f32(vget_low_f32(vsum), vget_high_f32(vsum));
  const float32x4_t sum = vdupq_n_f32(vget_lane_f32(h, 0) + vget_lane_f32(h, 1));
  for (int64_t p = 0; p < padded; p += 4) vst1q_f32(s + p, vdivq_f32(vld1q_f32(s + p), sum));
}

}  // namespace

void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
            int64_t lo, float scale, float softcap, float* scratch, float* out) {
  const int64_t padded = (len + 3) / 4 * 4;
  float* scores = scratch;  // heads rows of `padded` scores
  float32x4_t tmp[32];
  for (int64_t pb = 0; pb < padded; pb += 4) {
    int64_t base[4];
    for (int j = 0; j < 4; j++) base[j] = static_cast<int64_t>(slots[pb + j < len ? pb + j : 0]) * kv.stride + kv_off;
    for (int g0 = 0; g0 < heads; g0 += 8) {
      const int gn = heads - g0 < 8 ? heads - g0 : 8;
      dots4_any(gn, q + static_cast<int64_t>(g0) * hd, hd, kv.k, kv.f16, base, tmp);
      for (int g = 0; g < gn; g++) vst1q_f32(scores + (g0 + g) * padded + pb, vmulq_n_f32(reduce4(tmp + g * 4), scale));
    }
  }
  for (int g = 0; g < heads; g++) softmax(scores + g * padded, lo, len, padded, softcap);
  for (int g0 = 0; g0 < heads; g0 += 4) {
    const int gn = heads - g0 < 4 ? heads - g0 : 4;
    for (int d0 = 0; d0 < hd; d0 += 16) {
      const int nv = hd - d0 >= 16 ? 4 : (hd - d0) / 4;
      weighted_v_any(gn, nv, scores + g0 * padded, padded, kv, kv_off + d0, slots, len,
                     out + static_cast<int64_t>(g0) * hd + d0, hd);
    }
  }
}

}  // namespace ops_neon
}  // namespace rlm

#endif
