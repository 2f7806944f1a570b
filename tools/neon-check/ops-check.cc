// The NEON ops against the scalar ones (see main.cc): silu_mul within 1e-6 relative,
// the f16 KV store bitwise, attention within 1e-5 absolute (outputs are averages of values
// in [-1, 1]) for f16 and f32 KV, and each head's attention bitwise the same computed with
// its group or alone.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../native/ops.h"

using namespace rlm;

namespace {

int failures = 0;

void fail(const std::string& what) {
  ++failures;
  std::printf("FAIL %s\n", what.c_str());
}

void check_silu(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-20.0f, 20.0f);
  const int64_t n = 1027;
  std::vector<float> g(n), up(n);
  for (int64_t i = 0; i < n; ++i) g[i] = u(rng), up[i] = u(rng) / 8.0f;
  g[0] = 0.0f, g[1] = -87.0f, g[2] = 87.0f, g[3] = 1e-30f;
  std::vector<float> a = g, b = g;
  set_ops_path("scalar");
  silu_mul(a.data(), up.data(), n);
  set_ops_path("neon");
  silu_mul(b.data(), up.data(), n);
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(err <= 1e-6 * std::fabs(a[i]) + 1e-30)) fail("silu_mul element " + std::to_string(i));
    if (a[i] != 0.0f) worst = std::fmax(worst, err / std::fabs(a[i]));
  }
  std::printf("silu_mul: max relative |neon-scalar| %.2e\n", worst);
}

void check_store_f16(std::mt19937& rng) {
  std::vector<float> x;
  std::uniform_real_distribution<float> e(-30.0f, 17.0f);
  std::uniform_real_distribution<float> m(-1.0f, 1.0f);
  for (int i = 0; i < 4001; ++i) x.push_back(m(rng) * std::exp2(e(rng)));  // normals, subnormals, overflow
  for (int i = 0; i < 64; ++i) x.push_back(1.0f + (2 * i + 1) * std::exp2(-11.0f));  // ties at 1..2
  x.push_back(65504.0f), x.push_back(65520.0f), x.push_back(-0.0f), x.push_back(INFINITY);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> a(n), b(n);
  set_ops_path("scalar");
  store_kv_row(x.data(), a.data(), n, true);
  set_ops_path("neon");
  store_kv_row(x.data(), b.data(), n, true);
  if (a != b) fail("store_f16: NEON bits differ from scalar");
  else std::printf("store_kv_row f16: %lld values bitwise equal\n", static_cast<long long>(n));
}

void check_attend(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  double worst = 0.0;
  int cases = 0;
  for (int f16 = 0; f16 < 2; ++f16) {
    for (int hd : {64, 20, 128}) {
      for (int heads : {1, 3, 8, 12}) {
        for (int64_t len : {1, 3, 4, 9, 40, 129}) {
          const int kv_heads = 2;
          const int64_t stride = static_cast<int64_t>(kv_heads) * hd;
          const int64_t nslots = len + 11;
          std::vector<float> kf(nslots * stride), vf(nslots * stride);
          for (float& v : kf) v = u(rng) * 3.0f;
          for (float& v : vf) v = u(rng);
          std::vector<uint16_t> kh(kf.size()), vh(vf.size());
          set_ops_path("scalar");
          store_kv_row(kf.data(), kh.data(), static_cast<int64_t>(kf.size()), true);
          store_kv_row(vf.data(), vh.data(), static_cast<int64_t>(vf.size()), true);
          KVView kv;
          kv.f16 = f16 != 0;
          kv.k = kv.f16 ? static_cast<const void*>(kh.data()) : kf.data();
          kv.v = kv.f16 ? static_cast<const void*>(vh.data()) : vf.data();
          kv.stride = stride;
          std::vector<int32_t> slots(len);
          for (int64_t p = 0; p < len; ++p) slots[p] = static_cast<int32_t>((p * 7 + 3) % nslots);
          std::vector<float> q(static_cast<size_t>(heads) * hd);
          for (float& v : q) v = u(rng);
          const int64_t kv_off = hd;  // the second kv head
          const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
          std::vector<float> scratch(attend_scratch_floats(len, heads), NAN);
          std::vector<float> a(q.size()), b(q.size()), c(q.size());
          attend(q.data(), heads, hd, kv, kv_off, slots.data(), len, scale, scratch.data(), a.data());
          set_ops_path("neon");
          attend(q.data(), heads, hd, kv, kv_off, slots.data(), len, scale, scratch.data(), b.data());
          for (int g = 0; g < heads; ++g) {
            std::fill(scratch.begin(), scratch.end(), NAN);
            attend(q.data() + g * hd, 1, hd, kv, kv_off, slots.data(), len, scale, scratch.data(), c.data() + g * hd);
          }
          ++cases;
          const std::string name = std::string("attend ") + (f16 ? "f16" : "f32") + " hd " + std::to_string(hd) +
                                   " heads " + std::to_string(heads) + " len " + std::to_string(len);
          for (size_t i = 0; i < a.size(); ++i) {
            const double err = std::fabs(static_cast<double>(a[i]) - b[i]);
            worst = std::fmax(worst, err);
            if (!(err <= 1e-5)) {
              fail(name + ": neon " + std::to_string(b[i]) + " scalar " + std::to_string(a[i]));
              break;
            }
          }
          if (std::memcmp(b.data(), c.data(), b.size() * sizeof(float)) != 0) fail(name + ": group vs one head differ");
        }
      }
    }
  }
  std::printf("attend: %d cases, max |neon-scalar| %.2e, heads alone == heads in a group bitwise\n", cases, worst);
}

}  // namespace

int check_ops() {
  std::mt19937 rng(99);
  if (!set_ops_path("neon")) {
    std::printf("FAIL set_ops_path(neon)\n");
    return 1;
  }
  check_silu(rng);
  check_store_f16(rng);
  check_attend(rng);
  set_ops_path("auto");
  return failures;
}
