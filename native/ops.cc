// Scalar kernels and the once-per-process choice of SIMD path (see ops.h).
#include "ops.h"
#include "ops-neon.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace rlm {

namespace {

const bool kAvx2Supported = ops_avx2::supported();
bool use_avx2 = kAvx2Supported;  // the path in use; set_ops_path changes it between steps
#ifdef RLM_HAVE_NEON_OPS
constexpr bool kNeonSupported = true;  // every arm64 CPU has NEON
#else
constexpr bool kNeonSupported = false;
#endif
bool use_neon = kNeonSupported;

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

void attend_scalar(const float* q, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
                   int64_t lo, float scale, float softcap, float* scores, float* out) {
  const bool h = kv.f16;
  const auto* k16 = static_cast<const uint16_t*>(kv.k);
  const auto* v16 = static_cast<const uint16_t*>(kv.v);
  const auto* k32 = static_cast<const float*>(kv.k);
  const auto* v32 = static_cast<const float*>(kv.v);
  for (int64_t p = 0; p < len; p++) {
    const int64_t base = static_cast<int64_t>(slots[p]) * kv.stride + kv_off;
    float dot = 0;
    for (int d = 0; d < hd; d++) dot += q[d] * (h ? f16_bits_to_f32(k16[base + d]) : k32[base + d]);
    scores[p] = dot * scale;
  }
  prepare_scores(scores, lo, len, softcap);
  float max = -INFINITY;
  for (int64_t p = 0; p < len; p++) max = scores[p] > max ? scores[p] : max;
  float sum = 0;
  for (int64_t p = 0; p < len; p++) {
    const float e = std::exp(scores[p] - max);
    scores[p] = e;
    sum += e;
  }
  for (int d = 0; d < hd; d++) out[d] = 0;
  for (int64_t p = 0; p < len; p++) {
    const float w = scores[p] / sum;
    const int64_t base = static_cast<int64_t>(slots[p]) * kv.stride + kv_off;
    for (int d = 0; d < hd; d++) out[d] += w * (h ? f16_bits_to_f32(v16[base + d]) : v32[base + d]);
  }
}

// A window's first block of 8: the positions before it are skipped, which changes no bits
// (ops.h), so every path starts there.
int64_t window_base(int64_t lo) { return lo / 8 * 8; }

}  // namespace

const char* ops_path() { return use_avx2 ? "avx2" : use_neon ? "neon" : "scalar"; }

bool set_ops_path(const char* name) {
  const std::string n(name);
  if (n == "auto") use_avx2 = kAvx2Supported, use_neon = kNeonSupported;
  else if (n == "scalar") use_avx2 = use_neon = false;
  else if (n == "avx2" && kAvx2Supported) use_avx2 = true, use_neon = false;
  else if (n == "neon" && kNeonSupported) use_neon = true, use_avx2 = false;
  else return false;
  return true;
}

uint16_t f32_to_f16_bits(float x) {
  const uint32_t w = bits_of(x);
  const uint32_t sign = (w >> 16) & 0x8000u;
  const uint32_t exp = (w >> 23) & 0xffu;
  const uint32_t mant = w & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | (mant != 0 ? 0x7e00u : 0x7c00u));
  const int e = static_cast<int>(exp) - 112;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    const uint32_t full = mant | 0x800000u;
    const int shift = 14 - e;
    const uint32_t qv = full >> shift;
    const uint32_t rem = full & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return static_cast<uint16_t>(sign | ((rem > half || (rem == half && (qv & 1u))) ? qv + 1 : qv));
  }
  const uint32_t hb = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  return static_cast<uint16_t>(sign | ((rem > 0x1000u || (rem == 0x1000u && (hb & 1u))) ? hb + 1 : hb));
}

float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return float_of(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return float_of(sign);
    // Subnormal: normalize into an f32 normal.
    int shift = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      shift++;
    }
    mant &= 0x3ffu;
    return float_of(sign | (static_cast<uint32_t>(113 - shift) << 23) | (mant << 13));
  }
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

void rms_norm(const float* x, const float* w, int64_t n, double eps, float* out) {
  // Four running sums (index mod 4) keep the adds off one latency chain; fixed order per row.
  double s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; j++) s[j] += static_cast<double>(x[i + j]) * static_cast<double>(x[i + j]);
  }
  for (; i < n; i++) s[i % 4] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const double ss = (s[0] + s[1]) + (s[2] + s[3]);
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (i = 0; i < n; i++) out[i] = static_cast<float>(static_cast<double>(x[i]) * scale * static_cast<double>(w[i]));
}

void rope_angles(int32_t pos, const double* inv_freq, int half, double* cs) {
  for (int i = 0; i < half; i++) {
    const double a = static_cast<double>(pos) * inv_freq[i];
    cs[2 * i] = std::cos(a);
    cs[2 * i + 1] = std::sin(a);
  }
}

void rope(float* x, int dim, const double* cs, bool interleaved) {
  const int half = dim / 2;
  for (int i = 0; i < half; i++) {
    const int i0 = interleaved ? 2 * i : i;
    const int i1 = interleaved ? i0 + 1 : i0 + half;
    const double x0 = x[i0];
    const double x1 = x[i1];
    const double c = cs[2 * i];
    const double s = cs[2 * i + 1];
    x[i0] = static_cast<float>(x0 * c - x1 * s);
    x[i1] = static_cast<float>(x0 * s + x1 * c);
  }
}

void silu_mul(float* g, const float* u, int64_t n) {
  if (use_avx2) return ops_avx2::silu_mul(g, u, n);
#ifdef RLM_HAVE_NEON_OPS
  if (use_neon) return ops_neon::silu_mul(g, u, n);
#endif
  for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void gelu_tanh_mul(float* g, const float* u, int64_t n) {
  if (use_avx2) return ops_avx2::gelu_tanh_mul(g, u, n);
#ifdef RLM_HAVE_NEON_OPS
  if (use_neon) return ops_neon::gelu_tanh_mul(g, u, n);
#endif
  for (int64_t i = 0; i < n; i++) {
    const float x = g[i];
    const float t = 0.7978845608f * (x + 0.044715f * x * x * x);
    g[i] = x / (1.0f + std::exp(-2.0f * t)) * u[i];
  }
}

void scale_in_place(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

void add_in_place(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void store_kv_row(const float* src, void* dst, int64_t n, bool f16) {
  if (!f16) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  auto* d = static_cast<uint16_t*>(dst);
  if (use_avx2) return ops_avx2::store_f16(src, d, n);
#ifdef RLM_HAVE_NEON_OPS
  if (use_neon) return ops_neon::store_f16(src, d, n);
#endif
  for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16_bits(src[i]);
}

size_t attend_scratch_floats(int64_t len, int heads) {
  return static_cast<size_t>(heads) * static_cast<size_t>((len + 7) / 8 * 8 + 64) + 64;
}

size_t attend_rows_scratch_floats(int64_t len, int heads, int rows, int hd) {
  const size_t padded = static_cast<size_t>((len + 7) / 8 * 8);
  // The AVX-512 form keeps query heads in lanes of 8 or 16, its queries transposed beside the
  // scores (attend-avx512.cc): room for the query heads rounded up to 8.
  const size_t lanes = static_cast<size_t>((rows * heads + 7) / 8 * 8);
  const size_t rows_part = lanes * (padded + static_cast<size_t>(hd)) + 8 * static_cast<size_t>(hd) + 64;
  const size_t one = attend_scratch_floats(len, heads);
  return rows_part > one ? rows_part : one;
}

void prepare_scores(float* s, int64_t lo, int64_t len, float softcap) {
  if (softcap > 0) {
    for (int64_t p = lo; p < len; p++) s[p] = softcap * std::tanh(s[p] / softcap);
  }
  for (int64_t p = 0; p < lo; p++) s[p] = -INFINITY;
}

void attend_rows(const float* q, int64_t q_stride, int rows, int heads, int hd, const KVView& kv, int64_t kv_off,
                 const int32_t* slots, int64_t len0, int64_t window, float scale, float softcap, float* scratch, float* out,
                 int64_t out_stride) {
  AttendRow r[kMaxAttendGroup];
  for (int i = 0; i < rows; i++) {
    const int64_t len = len0 + i;
    const int64_t lo = window > 0 && len > window ? len - window : 0;
    r[i] = AttendRow{q + i * q_stride, out + i * out_stride, slots, len, lo};
  }
  attend_group(r, rows, heads, hd, kv, kv_off, len0 + rows - 1, scale, softcap, scratch);
}

void attend_group(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off, int64_t shared,
                  float scale, float softcap, float* scratch) {
  if (use_avx2 && hd % 8 == 0 && n > 1) {
    // The group starts at its earliest row's window block; rows that start later mask the
    // positions before theirs.
    int64_t b0 = window_base(rows[0].lo);
    for (int i = 1; i < n; i++) b0 = std::min(b0, window_base(rows[i].lo));
    AttendRow r[kMaxAttendGroup];
    for (int i = 0; i < n; i++) r[i] = AttendRow{rows[i].q, rows[i].out, rows[i].slots + b0, rows[i].len - b0, rows[i].lo - b0};
    return ops_avx2::attend_group(r, n, heads, hd, kv, kv_off, std::max<int64_t>(shared - b0, 0), scale, softcap, scratch);
  }
  for (int i = 0; i < n; i++) {
    attend(rows[i].q, heads, hd, kv, kv_off, rows[i].slots, rows[i].len, rows[i].lo, scale, softcap, scratch, rows[i].out);
  }
}

void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
            int64_t lo, float scale, float softcap, float* scratch, float* out) {
  const int64_t b0 = window_base(lo);
  slots += b0, len -= b0, lo -= b0;
  if (use_avx2 && hd % 8 == 0) return ops_avx2::attend(q, heads, hd, kv, kv_off, slots, len, lo, scale, softcap, scratch, out);
#ifdef RLM_HAVE_NEON_OPS
  if (use_neon && hd % 4 == 0) return ops_neon::attend(q, heads, hd, kv, kv_off, slots, len, lo, scale, softcap, scratch, out);
#endif
  for (int g = 0; g < heads; g++) {
    attend_scalar(q + static_cast<int64_t>(g) * hd, hd, kv, kv_off, slots, len, lo, scale, softcap, scratch,
                  out + static_cast<int64_t>(g) * hd);
  }
}

}  // namespace rlm
