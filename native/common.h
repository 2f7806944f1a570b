#pragma once
// Types shared by every native kernel: weight types (GGML ids) and views of weight matrices
// that live in the memory-mapped model file.
#include <cstddef>
#include <cstdint>

namespace rlm {

enum class WType : int {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
  Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
};

/** Elements per block and bytes per block of a weight type; false for unknown ids. */
bool wtype_info(int ggml_type, int* block_size, int* block_bytes);

/**
 * How a matrix's bytes are laid out: Rows, one row after another as in the file; Rows16,
 * repacked at load (repack.h) into groups of 16 rows whose blocks are interleaved, so that
 * one vector load brings the same bytes of 16 rows.
 */
enum class Layout : uint8_t { Rows = 0, Rows16 = 1 };

/** A [rows x cols] weight matrix of any type, used in place. */
struct WeightView {
  const uint8_t* data = nullptr;
  WType type = WType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;      // bytes of one row in the file's layout
  Layout layout = Layout::Rows;
  size_t group_bytes = 0;    // Rows16: bytes of one group of 16 rows
};

}  // namespace rlm
