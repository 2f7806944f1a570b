#pragma once
// Activation rows quantized to 8 bits once per matmul, in the layout the integer dot
// products read. One row is struct-of-arrays, every part starting 64-byte aligned:
//   Q8_32 (for q8_0, q4_0, q4_1, q5_0, q5_1 weights; ggml's q8_0 / q8_1 in one):
//     qs int8[nb * 32], d float[nb], s float[nb] where s = d * (sum of the block's qs),
//     ps int16[nb * 16] with ps[k] = qs[2k] + qs[2k + 1] (for weights stored with an offset),
//     sy int32[nb], the sum of each block's qs (the same, for the 16-row kernels)
//   Q8_K (for q4_K, q5_K, q6_K; ggml's q8_K):
//     qs int8[nb * 256], d float[nb], bsums int16[nb * 16] (sums of each 16 qs)
// Each block: amax = max |x|, d = amax / 127, q = round-half-even(x * (127 / amax)), so
// |q| <= 127 and |x - d q| <= d / 2 (to f32 rounding); all zero when amax is 0. The scalar
// AVX2 and NEON quantizers give identical bytes.
#include <cstddef>
#include <cstdint>

#include "common.h"
#include "cpu.h"

namespace rlm {

enum class ActFormat { F32, Q8_32, Q8_K };

ActFormat act_format(WType t);

/** Elements per block of a quantized activation format (1 for F32). */
int act_block(ActFormat f);

struct ActRow {
  const int8_t* qs;
  const float* d;
  const float* s;         // Q8_32 only
  const int16_t* ps;      // Q8_32 only
  const int32_t* sy;      // Q8_32 only
  const int16_t* bsums;   // Q8_K only
};

/** Bytes one quantized row of `cols` takes (a multiple of 64). */
size_t act_row_bytes(ActFormat f, int64_t cols);

constexpr size_t align64(size_t n) { return (n + 63) & ~static_cast<size_t>(63); }

/** The parts of a quantized row stored at `row` (64-byte aligned). Inline: every kernel tile calls it. */
inline ActRow act_row(ActFormat f, const uint8_t* row, int64_t cols) {
  const size_t n = static_cast<size_t>(cols);
  ActRow r{reinterpret_cast<const int8_t*>(row), nullptr, nullptr, nullptr, nullptr, nullptr};
  const uint8_t* p = row + align64(n);
  if (f == ActFormat::Q8_32) {
    const size_t nb = n / 32;
    r.d = reinterpret_cast<const float*>(p);
    r.s = reinterpret_cast<const float*>(p + align64(nb * 4));
    r.ps = reinterpret_cast<const int16_t*>(p + 2 * align64(nb * 4));
    r.sy = reinterpret_cast<const int32_t*>(p + 2 * align64(nb * 4) + align64(nb * 32));
  } else if (f == ActFormat::Q8_K) {
    const size_t nb = n / 256;
    r.d = reinterpret_cast<const float*>(p);
    r.bsums = reinterpret_cast<const int16_t*>(p + align64(nb * 4));
  }
  return r;
}

/** Quantizes x[0..cols) (a whole number of blocks) into the row at `row`. */
void quantize_act_row(ActFormat f, const float* x, int64_t cols, uint8_t* row, Simd simd);

/** d * q for every element of a quantized row (tests). */
void dequantize_act_row(ActFormat f, const uint8_t* row, int64_t cols, float* out);

}  // namespace rlm
