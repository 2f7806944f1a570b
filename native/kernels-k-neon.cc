// NEON kernels for the K-quant super-block types (q4_K, q5_K, q6_K) against Q8_K activations.
//
// Each weight super-block is unpacked once per tile into 256 int8 quants (q6_K's already
// minus 32) and its integer scales; then per (row, output) pair and super-block, in block
// order:
//   isum = sum over sub-blocks of scale * int32x4 dot(quants, y)  (exact integers)
//   q4_K, q5_K: msum = min_k * (sum of y over sub-block k), over k in two int32x4 halves
//               acc = fma(float(isum), d * dy, acc); acc = fma(float(msum), -dmin * dy, acc)
//   q6_K:       acc = fma(float(isum), d * dy, acc)
// then out = hsum4(acc). Every tile shape, one activation row or many, runs that sequence.
#include "gemm-tiles.h"
#include "kernels.h"
#include "simd-neon.h"

namespace rlm {

#ifdef RLM_HAVE_NEON
namespace {

// One weight super-block, ready for every activation row.
struct KBlock {
  alignas(16) int8_t q[256];
  int32_t sc[16];      // q4_K/q5_K: 8 sub-block scales; q6_K: 16 group scales
  int32x4_t mins[2];   // q4_K/q5_K: mins of sub-blocks 0..3 and 4..7
  float d;
  float nmin;          // -dmin (q4_K/q5_K)
};

// Sub-block j's 6-bit scale and min (get_scale_min_k4).
inline void scale_min_k4(const uint8_t* s, int j, int32_t* sc, int32_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// q4_K (kFive false: d, dmin, scales[12], qs[128]) or q5_K (d, dmin, scales[12], qh[32],
// qs[128]): group g of 64 elements takes the low nibbles of qs[32g..32g+31] (elements
// 64g..64g+31) and the high ones (64g+32..64g+63); q5_K's fifth bits are bits 2g and 2g+1
// of qh[l].
template <bool kFive>
inline void unpack_k4(const uint8_t* b, KBlock& k) {
  k.d = neon::half(b);
  k.nmin = -neon::half(b + 2);
  int32_t m[8];
  for (int j = 0; j < 8; ++j) scale_min_k4(b + 4, j, &k.sc[j], &m[j]);
  k.mins[0] = vld1q_s32(m);
  k.mins[1] = vld1q_s32(m + 4);
  const uint8_t* qs = b + (kFive ? 48 : 16);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  uint8x16_t h0 = kFive ? vld1q_u8(b + 16) : vdupq_n_u8(0);
  uint8x16_t h1 = kFive ? vld1q_u8(b + 32) : vdupq_n_u8(0);
  uint8_t* out = reinterpret_cast<uint8_t*>(k.q);
  for (int g = 0; g < 4; ++g) {
    const uint8x16_t v0 = vld1q_u8(qs + 32 * g);
    const uint8x16_t v1 = vld1q_u8(qs + 32 * g + 16);
    uint8x16_t lo0 = vandq_u8(v0, m4), lo1 = vandq_u8(v1, m4);
    uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
    if constexpr (kFive) {
      const uint8x16_t one = vdupq_n_u8(1), two = vdupq_n_u8(2);
      lo0 = vorrq_u8(lo0, vshlq_n_u8(vandq_u8(h0, one), 4));
      lo1 = vorrq_u8(lo1, vshlq_n_u8(vandq_u8(h1, one), 4));
      hi0 = vorrq_u8(hi0, vshlq_n_u8(vandq_u8(h0, two), 3));
      hi1 = vorrq_u8(hi1, vshlq_n_u8(vandq_u8(h1, two), 3));
      h0 = vshrq_n_u8(h0, 2);
      h1 = vshrq_n_u8(h1, 2);
    }
    vst1q_u8(out + 64 * g, lo0);
    vst1q_u8(out + 64 * g + 16, lo1);
    vst1q_u8(out + 64 * g + 32, hi0);
    vst1q_u8(out + 64 * g + 48, hi1);
  }
}

// q6_K: ql[128], qh[64], scales int8[16], d. Element 128h + 32t + l (l < 32) has its low
// four bits from ql[64h + l] (t = 0: low nibble, t = 2: high nibble) or ql[64h + 32 + l]
// (t = 1: low, t = 3: high), and its two high bits from qh[32h + l] at bits 2t and 2t + 1.
inline void unpack_q6k(const uint8_t* b, KBlock& k) {
  k.d = neon::half(b + 208);
  k.nmin = 0.0f;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  for (int g = 0; g < 16; ++g) k.sc[g] = sc[g];
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  const uint8x16_t m3 = vdupq_n_u8(0x03);
  const int8x16_t off = vdupq_n_s8(32);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b + 64 * h;
    const uint8_t* qh = b + 128 + 32 * h;
    int8_t* o = k.q + 128 * h;
    for (int s = 0; s < 2; ++s) {  // l in [16s, 16s + 16)
      const uint8x16_t a = vld1q_u8(ql + 16 * s);       // ql[l]
      const uint8x16_t c = vld1q_u8(ql + 32 + 16 * s);  // ql[l + 32]
      const uint8x16_t hb = vld1q_u8(qh + 16 * s);
      const uint8x16_t e0 = vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
      const uint8x16_t e1 = vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
      const uint8x16_t e2 = vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
      const uint8x16_t e3 = vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
      vst1q_s8(o + 16 * s, vsubq_s8(vreinterpretq_s8_u8(e0), off));
      vst1q_s8(o + 32 + 16 * s, vsubq_s8(vreinterpretq_s8_u8(e1), off));
      vst1q_s8(o + 64 + 16 * s, vsubq_s8(vreinterpretq_s8_u8(e2), off));
      vst1q_s8(o + 96 + 16 * s, vsubq_s8(vreinterpretq_s8_u8(e3), off));
    }
  }
}

// The float steps of one (row, output) pair and super-block.
template <int kType, bool kDot>
inline float32x4_t accumulate(float32x4_t acc, const KBlock& k, const int8_t* yq, const int16_t* bs, float dy) {
  int32x4_t isum = vdupq_n_s32(0);
  if constexpr (kType == 6) {
    for (int g = 0; g < 16; ++g) {
      const int32x4_t p = neon::dot16<kDot>(vdupq_n_s32(0), vld1q_s8(k.q + 16 * g), vld1q_s8(yq + 16 * g));
      isum = vmlaq_n_s32(isum, p, k.sc[g]);
    }
  } else {
    for (int s = 0; s < 8; ++s) {
      const int8_t* q = k.q + 32 * s;
      const int32x4_t p = neon::dot32<kDot>(vld1q_s8(q), vld1q_s8(q + 16), vld1q_s8(yq + 32 * s), vld1q_s8(yq + 32 * s + 16));
      isum = vmlaq_n_s32(isum, p, k.sc[s]);
    }
  }
  acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), k.d * dy);
  if constexpr (kType != 6) {
    // Lane k of vpaddlq: bs[2k] + bs[2k+1], the sum of y over sub-block k (of 4).
    const int32x4_t s0 = vpaddlq_s16(vld1q_s16(bs));
    const int32x4_t s1 = vpaddlq_s16(vld1q_s16(bs + 8));
    const int32x4_t msum = vmlaq_s32(vmulq_s32(k.mins[0], s0), k.mins[1], s1);
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(msum), k.nmin * dy);
  }
  return acc;
}

// kType: 4 = q4_K, 5 = q5_K, 6 = q6_K.
template <int kType, bool kDot>
struct KTiles {
  static constexpr int kBytes = kType == 4 ? 144 : kType == 5 ? 176 : 210;

  template <int M, int N>
  static void tile(const GemmTask& t, int64_t o, int64_t r) {
    const WeightView& w = *t.w;
    const int64_t nb = w.cols / 256;
    const uint8_t* wr[M];
    ActRow y[N];
    for (int i = 0; i < M; ++i) wr[i] = w.data + (o + i) * w.row_bytes;
    for (int j = 0; j < N; ++j) y[j] = act_row(ActFormat::Q8_K, t.act + (r + j) * t.act_stride, w.cols);
    float32x4_t acc[M][N];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) acc[i][j] = vdupq_n_f32(0.0f);
    const size_t tile_bytes = M * w.row_bytes;
    const size_t pf = prefetch_distance(tile_bytes);
    KBlock blk[M];
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < M; ++i) {
        const uint8_t* src = wr[i] + b * kBytes;
        for (int off = 0; off < kBytes; off += 64) __builtin_prefetch(src + pf + off);
        if constexpr (kType == 6) unpack_q6k(src, blk[i]);
        else unpack_k4<kType == 5>(src, blk[i]);
      }
      for (int j = 0; j < N; ++j) {
        const int8_t* yq = y[j].qs + 256 * b;
        const int16_t* bs = y[j].bsums + 16 * b;
        const float dy = y[j].d[b];
        for (int i = 0; i < M; ++i) acc[i][j] = accumulate<kType, kDot>(acc[i][j], blk[i], yq, bs, dy);
      }
    }
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) t.out[(r + j) * w.rows + o + i] = neon::hsum4(acc[i][j]);
  }
};

template <bool kDot>
GemmFn k_kernel(WType t) {
  switch (t) {
    case WType::Q4_K: return &gemm_tiled<KTiles<4, kDot>, 3, 4>;
    case WType::Q5_K: return &gemm_tiled<KTiles<5, kDot>, 3, 4>;
    case WType::Q6_K: return &gemm_tiled<KTiles<6, kDot>, 3, 4>;
    default: return nullptr;
  }
}

}  // namespace

GemmFn gemm_k_neon(WType t) {
#ifdef RLM_NEON_SDOT
  if (neon::has_dotprod()) return k_kernel<true>(t);
#endif
  return k_kernel<false>(t);
}
#endif

}  // namespace rlm
