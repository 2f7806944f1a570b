// Portable kernels for every weight type: one (row, output) dot product at a time, each in
// a fixed order (eight f32 lane sums for float weights; one int32 sum per block, scaled
// and added in block order, for quantized ones). The fallback of every SIMD path, and what
// CPUs with neither AVX2 nor NEON run. Quants are unpacked to byte arrays and dotted in plain integer loops
// that compilers vectorize (NEON on arm64, SSE2 on x86-64) without changing a result: the
// integer sums are exact, and the float steps stay scalar and in order.
#include <cstring>

#include "f16.h"
#include "kernels.h"

namespace rlm {
namespace {

struct F32S {
  static constexpr int kSize = 4;
  static float get(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
};
struct F16S {
  static constexpr int kSize = 2;
#if defined(__aarch64__) && defined(__GNUC__)
  static float get(const uint8_t* p) {
    __fp16 h;
    std::memcpy(&h, p, 2);
    return static_cast<float>(h);
  }
#else
  // Branch-free and exact, as ggml's fp16 -> fp32 without F16C.
  static float get(const uint8_t* p) {
    const uint32_t w = static_cast<uint32_t>(read_u16(p)) << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normalized = f32_from_bits((two_w >> 4) + (0xe0u << 23)) * 0x1.0p-112f;
    const float denormalized = f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
    uint32_t bits;
    const float v = two_w < (1u << 27) ? denormalized : normalized;
    std::memcpy(&bits, &v, 4);
    return f32_from_bits(sign | bits);
  }
#endif
};
struct BF16S {
  static constexpr int kSize = 2;
  static float get(const uint8_t* p) { return bf16_to_f32(read_u16(p)); }
};

template <class W>
float dot_float(const uint8_t* w, const uint8_t* act, int64_t k_all) {
  const float* x = reinterpret_cast<const float*>(act);
  const int64_t k8 = k_all & ~static_cast<int64_t>(7);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t k = 0; k < k8; k += 8)
    for (int l = 0; l < 8; ++l) acc[l] = acc[l] + W::get(w + (k + l) * W::kSize) * x[k + l];
  float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  for (int64_t k = k8; k < k_all; ++k) s = s + W::get(w + k * W::kSize) * x[k];
  return s;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "the scalar kernels read 8 quants at a time as a little-endian word"
#endif

inline int dot_i8(const int8_t* a, const int8_t* b, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// kBit16.v[x] holds byte i = 16 when bit i of x is set, else 0: the fifth bits of 8 quants.
struct Bit16Table {
  uint64_t v[256];
  constexpr Bit16Table() : v() {
    for (int x = 0; x < 256; ++x)
      for (int i = 0; i < 8; ++i)
        if (x & (1 << i)) v[x] |= static_cast<uint64_t>(16) << (8 * i);
  }
};
constexpr Bit16Table kBit16;

// The 32 unsigned quants of a 4- or 5-bit block: 16 bytes of nibbles at qs (low nibbles are
// elements 0..15, high nibbles 16..31), fifth bits at qh (or none), 8 at a time.
inline void unsigned_quants(const uint8_t* qs, const uint8_t* qh, uint8_t* u) {
  const uint64_t m4 = 0x0f0f0f0f0f0f0f0full;
  uint64_t w[4];
  for (int k = 0; k < 2; ++k) {
    uint64_t a;
    std::memcpy(&a, qs + 8 * k, 8);
    w[k] = a & m4;
    w[2 + k] = (a >> 4) & m4;
  }
  if (qh != nullptr)
    for (int k = 0; k < 4; ++k) w[k] |= kBit16.v[qh[k]];
  std::memcpy(u, w, 32);
}

// The 32-element block types: w = d * (u - kOffset) (kMin false) or d * u + m (kMin true),
// with q8_0's quants signed (kOffset -1).
struct Q8_0S {
  static constexpr int kBytes = 34, kOffset = -1;
  static constexpr bool kMin = false;
  static void quants(const uint8_t* b, uint8_t* u) { std::memcpy(u, b + 2, 32); }
};
struct Q4_0S {
  static constexpr int kBytes = 18, kOffset = 8;
  static constexpr bool kMin = false;
  static void quants(const uint8_t* b, uint8_t* u) { unsigned_quants(b + 2, nullptr, u); }
};
struct Q5_0S {
  static constexpr int kBytes = 22, kOffset = 16;
  static constexpr bool kMin = false;
  static void quants(const uint8_t* b, uint8_t* u) { unsigned_quants(b + 6, b + 2, u); }
};
struct Q4_1S {
  static constexpr int kBytes = 20, kOffset = 0;
  static constexpr bool kMin = true;
  static void quants(const uint8_t* b, uint8_t* u) { unsigned_quants(b + 4, nullptr, u); }
};
struct Q5_1S {
  static constexpr int kBytes = 24, kOffset = 0;
  static constexpr bool kMin = true;
  static void quants(const uint8_t* b, uint8_t* u) { unsigned_quants(b + 8, b + 4, u); }
};

template <class W>
float dot_q32(const uint8_t* w, const uint8_t* act, int64_t cols) {
  const ActRow y = act_row(ActFormat::Q8_32, act, cols);
  float acc = 0.0f;
  float sm = 0.0f;
  alignas(16) uint8_t u[32];
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = w + b * W::kBytes;
    W::quants(blk, u);
    const int8_t* yq = y.qs + 32 * b;
    int isum = 0;
    if constexpr (W::kOffset < 0) {
      isum = dot_i8(reinterpret_cast<const int8_t*>(u), yq, 32);
    } else {
      for (int j = 0; j < 32; ++j) isum += (static_cast<int>(u[j]) - W::kOffset) * yq[j];
    }
    acc = acc + (read_f16(blk) * y.d[b]) * static_cast<float>(isum);
    if (W::kMin) sm = sm + read_f16(blk + 2) * y.s[b];
  }
  return acc + sm;
}

// Sub-block j's 6-bit scale and min (get_scale_min_k4).
inline void scale_min_k4(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

template <bool kFive>
float dot_k4(const uint8_t* w, const uint8_t* act, int64_t cols) {
  const ActRow y = act_row(ActFormat::Q8_K, act, cols);
  constexpr int kBytes = kFive ? 176 : 144;
  float acc = 0.0f;
  int8_t q[256];
  for (int64_t b = 0; b < cols / 256; ++b) {
    const uint8_t* blk = w + b * kBytes;
    const uint8_t* qh = blk + 16;
    const uint8_t* qs = blk + (kFive ? 48 : 16);
    const int8_t* yq = y.qs + 256 * b;
    const int16_t* bs = y.bsums + 16 * b;
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        int lo = qs[32 * g + l] & 15;
        int hi = qs[32 * g + l] >> 4;
        if (kFive) {
          lo |= ((qh[l] >> (2 * g)) & 1) << 4;
          hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
        }
        q[64 * g + l] = static_cast<int8_t>(lo);
        q[64 * g + 32 + l] = static_cast<int8_t>(hi);
      }
    }
    int isum = 0;
    int msum = 0;
    for (int sub = 0; sub < 8; ++sub) {
      int sc, m;
      scale_min_k4(blk + 4, sub, &sc, &m);
      isum += sc * dot_i8(q + 32 * sub, yq + 32 * sub, 32);
      msum += m * (bs[2 * sub] + bs[2 * sub + 1]);
    }
    const float dy = y.d[b];
    acc = acc + (read_f16(blk) * dy) * static_cast<float>(isum);
    acc = acc + (-read_f16(blk + 2) * dy) * static_cast<float>(msum);
  }
  return acc;
}

float dot_q6k(const uint8_t* w, const uint8_t* act, int64_t cols) {
  const ActRow y = act_row(ActFormat::Q8_K, act, cols);
  float acc = 0.0f;
  int8_t q[256];
  for (int64_t b = 0; b < cols / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    const int8_t* yq = y.qs + 256 * b;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk + 64 * h;
      const uint8_t* qh = blk + 128 + 32 * h;
      int8_t* o = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    int isum = 0;
    for (int g = 0; g < 16; ++g) isum += sc[g] * dot_i8(q + 16 * g, yq + 16 * g, 16);
    acc = acc + (read_f16(blk + 208) * y.d[b]) * static_cast<float>(isum);
  }
  return acc;
}

using DotFn = float (*)(const uint8_t*, const uint8_t*, int64_t);

// Outputs in groups of 8 rows, every activation row against a group before the next, so a
// group's weights are reused from cache.
template <DotFn kDot>
void gemm_pairs(const GemmTask& t) {
  const WeightView& w = *t.w;
  for (int64_t ob = t.o0; ob < t.o1; ob += 8) {
    const int64_t oe = ob + 8 < t.o1 ? ob + 8 : t.o1;
    for (int64_t r = 0; r < t.rows; ++r) {
      const uint8_t* x = t.act + r * t.act_stride;
      float* out = t.out + r * w.rows;
      for (int64_t o = ob; o < oe; ++o) out[o] = kDot(w.data + o * w.row_bytes, x, w.cols);
    }
  }
}

}  // namespace

GemmFn gemm_scalar(WType t) {
  switch (t) {
    case WType::F32: return &gemm_pairs<dot_float<F32S>>;
    case WType::F16: return &gemm_pairs<dot_float<F16S>>;
    case WType::BF16: return &gemm_pairs<dot_float<BF16S>>;
    case WType::Q8_0: return &gemm_pairs<dot_q32<Q8_0S>>;
    case WType::Q4_0: return &gemm_pairs<dot_q32<Q4_0S>>;
    case WType::Q5_0: return &gemm_pairs<dot_q32<Q5_0S>>;
    case WType::Q4_1: return &gemm_pairs<dot_q32<Q4_1S>>;
    case WType::Q5_1: return &gemm_pairs<dot_q32<Q5_1S>>;
    case WType::Q4_K: return &gemm_pairs<dot_k4<false>>;
    case WType::Q5_K: return &gemm_pairs<dot_k4<true>>;
    case WType::Q6_K: return &gemm_pairs<dot_q6k>;
  }
  return nullptr;
}

}  // namespace rlm
