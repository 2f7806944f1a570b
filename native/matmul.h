#pragma once
// Matrix multiplication of f32 activations by weights of any supported type.
//
// out[r * w.rows + o] = sum_i x[r * w.cols + i] * W[o][i]   for r < rows, o < w.rows
//
// Batch invariance: the value computed for (r, o) depends only on row r of x and row o of
// W, never on `rows`, on the thread count, or on how work is split. For quantized weights
// the activations are first quantized per row to an 8-bit block format (q8_0, q8_1 or q8_K,
// as the weight type needs) and integer dot products are used.
#include "common.h"
#include "thread-pool.h"

#include <vector>

namespace rlm {

/** Reusable scratch for activation quantization (grows as needed, never shrinks). */
struct MatmulScratch {
  std::vector<uint8_t> qx;
  // matmul_each's per-job activations, row strides and first output units.
  std::vector<const uint8_t*> act;
  std::vector<size_t> stride;
  std::vector<int64_t> first;
};

void matmul(const WeightView& w, const float* x, int64_t rows, float* out, ThreadPool& pool, MatmulScratch& scratch);

/** One product of a group: the weights and where their outputs go (rows x w->rows). */
struct MatmulJob {
  const WeightView* w;
  float* out;
};

/**
 * Several matmuls of the same activations (a layer's q, k and v; gate and up) as one
 * parallel region: the activations are quantized once per format, and the threads split
 * the outputs of all the jobs together, so a decode step waits on one barrier instead of
 * one per matrix. Every output is what matmul() gives it.
 */
void matmul_group(const MatmulJob* jobs, int count, const float* x, int64_t rows, ThreadPool& pool, MatmulScratch& scratch);

/** One product with its own activations: rows x w->cols of x into rows x w->rows of out. */
struct MatmulInput {
  const WeightView* w;
  const float* x;
  int64_t rows;
  float* out;
};

/**
 * Products of different activations as one parallel region (the experts a step's rows are
 * routed to, each on its own rows): every job's activations are quantized in one pass, and
 * the threads split the outputs of all the jobs together. Every output is what matmul()
 * gives it. Jobs with no rows are skipped; all share one column count.
 */
void matmul_each(const MatmulInput* jobs, int count, ThreadPool& pool, MatmulScratch& scratch);

/** Decodes row `row` of w into out[0..w.cols) (embedding lookup, reference checks). */
void dequantize_row(const WeightView& w, int64_t row, float* out);

/** Human-readable name of the SIMD path in use: "avx2", "neon" or "scalar". */
const char* simd_path();

}  // namespace rlm
