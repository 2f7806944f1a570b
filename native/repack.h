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
//   q5_K (2880): as q4_K, each pair's 8 chunks followed by their masks as in q5_0.
//   q6_K (3360): d[16] f16; the int8 scales in pairs [8][16][2]; 32 chunks of ql, 16 of qh.
//   f16, bf16 (32 bytes an element): element k of the 16 rows, one after another.
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

/** Bytes w takes repacked (a multiple of 64); 0 for a type the 16-row kernels do not cover. */
size_t packed_bytes(const WeightView& w);

/**
 * Memory for repacked matrices: one block for all of a runner's, 2 MiB aligned and
 * advised for transparent huge pages (the kernels stream every matrix once a step, and
 * 4 KiB pages would cost a TLB miss every 4 KiB).
 */
class PackBuffer {
 public:
  PackBuffer() = default;
  explicit PackBuffer(size_t bytes);
  PackBuffer(PackBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  PackBuffer& operator=(PackBuffer&& o) noexcept;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/**
 * Repacks w (Layout::Rows, a covered type) into dst (packed_bytes(w) bytes); the groups
 * split over pool when given. With `release`, the whole pages of w in a file mapping are
 * given back slice by slice as they are copied (release_file_pages).
 */
WeightView repack_rows16(const WeightView& w, uint8_t* dst, ThreadPool* pool, bool release);

/** A matrix repacked into a buffer of its own (tests, benchmarks). */
struct PackedMatrix {
  PackBuffer buf;
  WeightView view;
};

PackedMatrix repack_alone(const WeightView& w, ThreadPool* pool);

/** Row `row` of w in the file's layout (w.row_bytes bytes) into out, whatever w's layout. */
void unpack_row(const WeightView& w, int64_t row, uint8_t* out);

}  // namespace rlm
