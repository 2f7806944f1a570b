// NEON kernel check (arm64; run under qemu-aarch64 by run.sh). The ops are checked in
// ops-check.cc. For every weight type:
//   1. the NEON activation quantizer writes the same bytes as the scalar one;
//   2. NEON matmul agrees with the scalar kernels: |neon - scalar| <= 1e-5 * sum|w_i x_i|
//      over the dequantized operands (the int8 paths' integer block sums are exact, so only
//      the float accumulation order differs), and both lie within 1e-4 of that sum of the
//      double-precision dot product of the dequantized operands;
//   3. NEON is batch invariant: each row's outputs are bitwise the same alone, in every batch
//      of 1..17 rows at every offset, with 1, 2 and 3 threads, and with output ranges split
//      at arbitrary points.
// With --dump FILE it writes every NEON output, so that runs with and without the
// dot-product instruction can be compared byte for byte.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../native/common.h"
#include "../../native/cpu.h"
#include "../../native/kernels.h"
#include "../../native/matmul.h"
#include "../../native/quantize-act.h"
#include "../../native/simd-neon.h"
#include "../../native/thread-pool.h"

using namespace rlm;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

struct TypeCase {
  const char* name;
  WType type;
  int64_t cols;
};

uint16_t f16_bits(float v) {
  __fp16 h = static_cast<__fp16>(v);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}

void put_f16(uint8_t* p, float v) {
  const uint16_t b = f16_bits(v);
  std::memcpy(p, &b, 2);
}

// Random weights of type t: random quant bytes, sane f16 scales.
std::vector<uint8_t> make_weights(WType t, int64_t rows, int64_t cols, size_t* row_bytes, std::mt19937& rng) {
  int bs = 0, bb = 0;
  wtype_info(static_cast<int>(t), &bs, &bb);
  *row_bytes = static_cast<size_t>(cols / bs) * bb;
  // One spare byte in front so rows start at odd addresses (kernels must not assume alignment).
  std::vector<uint8_t> buf(1 + *row_bytes * rows + 64);
  uint8_t* w = buf.data() + 1;
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_real_distribution<float> pos(0.001f, 0.05f);
  const int64_t nblocks = rows * (cols / bs);
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* p = w + b * bb;
    switch (t) {
      case WType::F32: {
        const float v = u(rng);
        std::memcpy(p, &v, 4);
        break;
      }
      case WType::F16: put_f16(p, u(rng)); break;
      case WType::BF16: {
        const float v = u(rng);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t h = static_cast<uint16_t>(bits >> 16);
        std::memcpy(p, &h, 2);
        break;
      }
      default:
        for (int i = 0; i < bb; ++i) p[i] = static_cast<uint8_t>(byte(rng));
        break;
    }
    switch (t) {
      case WType::Q8_0: case WType::Q4_0: case WType::Q5_0: put_f16(p, pos(rng)); break;
      case WType::Q4_1: case WType::Q5_1: put_f16(p, pos(rng)); put_f16(p + 2, -pos(rng)); break;
      case WType::Q4_K: case WType::Q5_K: put_f16(p, pos(rng) * 0.1f); put_f16(p + 2, pos(rng) * 0.1f); break;
      case WType::Q6_K: put_f16(p + 208, pos(rng) * 0.1f); break;
      default: break;
    }
  }
  return buf;
}

// Activations: Gaussian rows, some scaled up, one with outliers, one all zero.
std::vector<float> make_acts(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(rows * cols));
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = 1.0f + static_cast<float>(r % 5) * 3.0f;
    for (int64_t i = 0; i < cols; ++i) x[r * cols + i] = g(rng) * scale;
    if (r == 3) x[r * cols + cols / 2] = 1000.0f;
  }
  if (rows > 5) std::memset(&x[5 * cols], 0, cols * sizeof(float));
  // Row 7 quantizes with scale exactly 1 (every 32 elements hold a 127) onto halfway
  // cases, where only round-half-to-even gives the scalar bytes.
  if (rows > 7)
    for (int64_t i = 0; i < cols; ++i) x[7 * cols + i] = i % 32 == 0 ? 127.0f : static_cast<float>(i % 9) - 4.5f;
  return x;
}

std::vector<float> run_matmul(const WeightView& w, const float* x, int64_t rows, ThreadPool& pool) {
  std::vector<float> out(static_cast<size_t>(rows * w.rows), NAN);
  MatmulScratch scratch;
  matmul(w, x, rows, out.data(), pool, scratch);
  return out;
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

void check_quantizer(ActFormat f, const char* name, const std::vector<float>& x, int64_t rows, int64_t cols) {
  const size_t rb = act_row_bytes(f, cols);
  std::vector<uint8_t> a(rb * rows + 64, 0), b(rb * rows + 64, 0);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_act_row(f, x.data() + r * cols, cols, a.data() + r * rb, Simd::Scalar);
    quantize_act_row(f, x.data() + r * cols, cols, b.data() + r * rb, Simd::Neon);
  }
  check(a == b, std::string("quantizer ") + name + ": NEON bytes differ from scalar");
}

void check_type(const TypeCase& c, std::mt19937& rng, ThreadPool* pools[3], FILE* dump) {
  constexpr int64_t kOut = 37;   // not a multiple of any tile height
  constexpr int64_t kRows = 17;  // more than a few tiles of activation rows
  const int64_t cols = c.cols;
  size_t row_bytes = 0;
  std::vector<uint8_t> wbuf = make_weights(c.type, kOut, cols, &row_bytes, rng);
  WeightView w;
  w.data = wbuf.data() + 1;
  w.type = c.type;
  w.rows = kOut;
  w.cols = cols;
  w.row_bytes = row_bytes;
  const std::vector<float> x = make_acts(kRows, cols, rng);

  // 2. NEON against scalar, and both against the double-precision product.
  set_simd("scalar");
  const std::vector<float> scalar = run_matmul(w, x.data(), kRows, *pools[0]);
  check(set_simd("neon"), "set_simd(neon)");
  const std::vector<float> neon = run_matmul(w, x.data(), kRows, *pools[0]);
  const ActFormat fmt = act_format(c.type);
  std::vector<float> wd(static_cast<size_t>(cols)), xd(static_cast<size_t>(cols));
  std::vector<uint8_t> qrow(act_row_bytes(fmt, cols));
  double worst_ns = 0.0, worst_ref = 0.0;
  for (int64_t r = 0; r < kRows; ++r) {
    const float* xr = x.data() + r * cols;
    if (fmt == ActFormat::F32) {
      std::memcpy(xd.data(), xr, cols * sizeof(float));
    } else {
      quantize_act_row(fmt, xr, cols, qrow.data(), Simd::Scalar);
      dequantize_act_row(fmt, qrow.data(), cols, xd.data());
    }
    for (int64_t o = 0; o < kOut; ++o) {
      dequantize_row(w, o, wd.data());
      double exact = 0.0, mag = 0.0;
      for (int64_t i = 0; i < cols; ++i) {
        exact += static_cast<double>(wd[i]) * xd[i];
        mag += std::fabs(static_cast<double>(wd[i]) * xd[i]);
      }
      const float s = scalar[r * kOut + o], n = neon[r * kOut + o];
      const double denom = mag > 0.0 ? mag : 1.0;
      const double ns = std::fabs(static_cast<double>(n) - s) / denom;
      const double ref = std::fmax(std::fabs(n - exact), std::fabs(s - exact)) / denom;
      if (!(ns <= 1e-5) || !(ref <= 1e-4) || (mag == 0.0 && (n != 0.0f || s != 0.0f))) {
        char msg[200];
        std::snprintf(msg, sizeof msg, "%s row %lld out %lld: neon %.9g scalar %.9g exact %.9g (sum|wx| %.6g)", c.name,
                      static_cast<long long>(r), static_cast<long long>(o), n, s, exact, mag);
        check(false, msg);
      }
      if (ns > worst_ns) worst_ns = ns;
      if (ref > worst_ref) worst_ref = ref;
    }
  }

  // 3. Batch invariance on NEON: every sub-batch, every thread count, any output split.
  int batches = 0;
  bool invariant = true;
  for (int64_t n = 1; n <= kRows; ++n) {
    for (int64_t s = 0; s + n <= kRows; ++s) {
      ThreadPool& pool = *pools[(n + s) % 3];
      const std::vector<float> part = run_matmul(w, x.data() + s * cols, n, pool);
      ++batches;
      if (!same_bits(part.data(), neon.data() + s * kOut, static_cast<size_t>(n * kOut))) {
        invariant = false;
        std::printf("  %s: batch of %lld rows at %lld (%d threads) differs\n", c.name, static_cast<long long>(n),
                    static_cast<long long>(s), pool.size());
      }
    }
  }
  check(invariant, std::string(c.name) + ": batch invariance");
  // Output ranges cut anywhere (not only at the kernel's 16-row units), activation rows
  // quantized the way matmul does.
  {
    const GemmFn fn = gemm_kernel(c.type, Simd::Neon);
    const size_t stride = fmt == ActFormat::F32 ? cols * sizeof(float) : act_row_bytes(fmt, cols);
    std::vector<uint8_t> act(stride * kRows + 64);
    uint8_t* a = act.data() + ((64 - (reinterpret_cast<uintptr_t>(act.data()) & 63)) & 63);
    for (int64_t r = 0; r < kRows; ++r) {
      if (fmt == ActFormat::F32) std::memcpy(a + r * stride, x.data() + r * cols, cols * sizeof(float));
      else quantize_act_row(fmt, x.data() + r * cols, cols, a + r * stride, Simd::Neon);
    }
    std::vector<float> out(static_cast<size_t>(kRows * kOut), NAN);
    const int64_t cuts[] = {0, 1, 2, 5, 9, 10, 21, 22, 36, kOut};
    for (size_t k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; ++k) {
      GemmTask task{&w, a, stride, kRows, cuts[k], cuts[k + 1], out.data()};
      fn(task);
    }
    check(same_bits(out.data(), neon.data(), out.size()), std::string(c.name) + ": split output ranges");
  }
  set_simd("auto");
  if (dump) std::fwrite(neon.data(), sizeof(float), neon.size(), dump);
  std::printf("%-5s cols %4lld: max |neon-scalar|/sum|wx| %.2e, max |k-exact|/sum|wx| %.2e, %d batches bitwise %s\n",
              c.name, static_cast<long long>(cols), worst_ns, worst_ref, batches, invariant ? "equal" : "DIFFER");
}

}  // namespace

int check_ops();  // ops-check.cc

int main(int argc, char** argv) {
  FILE* dump = nullptr;
  if (argc == 3 && std::strcmp(argv[1], "--dump") == 0) dump = std::fopen(argv[2], "wb");
#if defined(__ARM_FEATURE_DOTPROD)
  const char* how = "SDOT (compiled for dotprod)";
#else
  const char* how = neon::has_dotprod() ? "SDOT (detected at run time)" : "SMULL + pairwise adds";
#endif
  std::printf("path: %s, int8 dot products by %s\n", simd_name(simd_detected()), how);
  if (simd_detected() != Simd::Neon) {
    std::printf("FAIL the detected path is not neon\n");
    return 1;
  }
  std::mt19937 rng(1234);
  {
    const std::vector<float> x = make_acts(9, 1024, rng);
    check_quantizer(ActFormat::Q8_32, "q8_32", x, 9, 1024);
    check_quantizer(ActFormat::Q8_K, "q8_K", x, 9, 1024);
  }
  ThreadPool p1(1), p2(2), p3(3);
  ThreadPool* pools[3] = {&p1, &p2, &p3};
  const TypeCase cases[] = {
      {"f32", WType::F32, 517},  {"f16", WType::F16, 517},   {"bf16", WType::BF16, 517}, {"q8_0", WType::Q8_0, 1024},
      {"q4_0", WType::Q4_0, 1024}, {"q4_1", WType::Q4_1, 1024}, {"q5_0", WType::Q5_0, 1024}, {"q5_1", WType::Q5_1, 1024},
      {"q4_K", WType::Q4_K, 1024}, {"q5_K", WType::Q5_K, 1024}, {"q6_K", WType::Q6_K, 1024},
  };
  for (const TypeCase& c : cases) check_type(c, rng, pools, dump);
  failures += check_ops();
  if (dump) std::fclose(dump);
  if (failures == 0) std::printf("neon-check: all passed\n");
  else std::printf("neon-check: %d FAILED\n", failures);
  return failures == 0 ? 0 : 1;
}
