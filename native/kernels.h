#pragma once
// The per-type matmul kernels behind rlm::matmul (internal to native/).
//
// A kernel computes one thread's share of a matmul: outputs [o0, o1) of every activation
// row. Every (row, output) pair is reduced by one fixed sequence of float operations that
// depends only on the weight type and the SIMD path: the tiled multi-row code and the
// one-row code run that same sequence per pair, so results are batch invariant.
#include <cstddef>
#include <cstdint>

#include "common.h"
#include "cpu.h"
#include "quantize-act.h"

namespace rlm {

struct GemmTask {
  const WeightView* w;
  const uint8_t* act;  // rows of f32 x (float weights) or of quantized activations
  size_t act_stride;   // bytes from one activation row to the next
  int64_t rows;
  int64_t o0, o1;
  float* out;          // out[r * w->rows + o]
};

using GemmFn = void (*)(const GemmTask&);

/** The kernel for weight type t on path s (the scalar one when s has none). */
GemmFn gemm_kernel(WType t, Simd s);

/** The kernel for w: by its layout first (a repacked matrix has one), else gemm_kernel. */
GemmFn gemm_kernel_for(const WeightView& w, Simd s);

// One family each; null for types the family does not cover.
GemmFn gemm_scalar(WType t);
GemmFn gemm_float_avx2(WType t);
GemmFn gemm_q32_avx2(WType t);
GemmFn gemm_k_avx2(WType t);
GemmFn gemm_q32_vnni(WType t, VnniForm form);
GemmFn gemm_k_vnni(WType t, VnniForm form);
GemmFn gemm_x16_avx512(WType t);        // Layout::Rows16 matrices (repack.h), quantized
GemmFn gemm_x16_float_avx512(WType t);  // and f16/bf16
#if defined(__aarch64__) && defined(__ARM_NEON)
GemmFn gemm_float_neon(WType t);
GemmFn gemm_q32_neon(WType t);
GemmFn gemm_k_neon(WType t);
#endif

}  // namespace rlm
