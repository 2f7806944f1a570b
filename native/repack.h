#pragma once
// Repacking at load: on the AVX-512 path, matrices of the types its 16-row kernels cover are
// copied once, when a runner is built, into Layout::Rows16. Rows are taken 16 at a time (the
// last group padded with zero rows); for each block of the row length, a group holds the
// 16 rows' scales and then their quant bytes interleaved 4 at a time, so that one 64-byte
// load (a chunk) brings 4 quant bytes of each of 16 rows, the lanes of a VNNI dot product:
//   q4_0 (288 bytes a block): d[16] f16; 4 chunks, chunk c holding each row's nibble bytes
//        4c..4c+3 (elements 4c..4c+3 in the low nibbles, 16+4c.. in the high ones).
//   q5_0 (352): as q4_0, then per chunk two 64-bit masks, bit 4i+k the fifth bit of the
//        low (then high) nibble of byte k of row i's dword.
//   q8_0 (544): d[16] f16; 8 chunks of the quants with the top bit flipped (w + 128,
//        unsigned, as vpdpbusd wants them).
//   q4_K (2368 a super-block): d[16], dmin[16] f16; the 6-bit scales as bytes [8][16] and
//        the mins likewise; 32 chunks, 8 per pair p of sub-blocks (2p in the low nibbles,
//        2p + 1 in the high ones).
//   q5_K (2880): as q4_K, then the high-bit masks per chunk as in q5_0.
// Each output of a group then sits in its own lane from the first block to the last, so
// its sum is one fixed sequence however many activation rows a tile takes. The sizes are
// those of the file (q4_K and q5_K: 2.8% and 2.3% more, the scales unpacked).
#include <cstddef>
#include <cstdint>

#include "common.h"
#include "cpu.h"
#include "thread-pool.h"

namespace rlm {

constexpr int64_t kGroupRows = 16;

/** Whether matrices of type t are repacked (to Rows16) for path s. */
bool repack_wanted(WType t, Simd s);

/** A repacked matrix: owns its bytes (64-byte aligned); view() is what the kernels read. */
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(PackedMatrix&& o) noexcept : bytes_(o.bytes_), view_(o.view_) { o.bytes_ = nullptr; }
  PackedMatrix& operator=(PackedMatrix&& o) noexcept;
  PackedMatrix(const PackedMatrix&) = delete;
  PackedMatrix& operator=(const PackedMatrix&) = delete;
  ~PackedMatrix();

  const WeightView& view() const { return view_; }
  size_t bytes() const { return view_.group_bytes * static_cast<size_t>((view_.rows + kGroupRows - 1) / kGroupRows); }

 private:
  friend PackedMatrix repack_rows16(const WeightView& w, ThreadPool* pool);
  uint8_t* bytes_ = nullptr;
  WeightView view_;
};

/** Repacks w (Layout::Rows, a type repack_wanted covers) into Rows16; the groups split over pool when given. */
PackedMatrix repack_rows16(const WeightView& w, ThreadPool* pool);

/** Row `row` of w in the file's layout (w.row_bytes bytes) into out, whatever w's layout. */
void unpack_row(const WeightView& w, int64_t row, uint8_t* out);

}  // namespace rlm
