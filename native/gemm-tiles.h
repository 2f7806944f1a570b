#pragma once
// Walks a GemmTask in register tiles of up to RM weight rows x RN activation rows. Weight
// rows are taken in panels of about kPanelBytes so that a panel stays in L2 while every
// activation row passes over it. K::template tile<m, n>(task, o, r) computes outputs
// o..o+m-1 of rows r..r+n-1 over the full reduction length.
#include <array>
#include <cstdint>
#include <utility>

#include "kernels.h"

namespace rlm {

using TileFn = void (*)(const GemmTask&, int64_t, int64_t);

constexpr size_t kPanelBytes = 256 * 1024;

/**
 * How far ahead a tile prefetches its rows: the first multiple of the tile's bytes at least
 * 8 KiB on (the same blocks of a later tile). Adds, not a division: a tile over a short
 * row runs only a few dozen blocks, and a division costs more than one of them.
 */
inline size_t prefetch_distance(size_t tile_bytes) {
  size_t pf = tile_bytes > 0 ? tile_bytes : 1;
  while (pf < 8192) pf += tile_bytes > 0 ? tile_bytes : 1;
  return pf;
}

template <class K, int RM, int RN, int... I>
constexpr std::array<TileFn, RM * RN> make_tile_table(std::integer_sequence<int, I...>) {
  return {{&K::template tile<I / RN + 1, I % RN + 1>...}};
}

template <class K, int RM, int RN>
void gemm_tiled(const GemmTask& t) {
  static constexpr std::array<TileFn, RM * RN> table =
      make_tile_table<K, RM, RN>(std::make_integer_sequence<int, RM * RN>());
  const size_t rb = t.w->row_bytes > 0 ? t.w->row_bytes : 1;
  int64_t panel = static_cast<int64_t>(kPanelBytes / rb) / RM * RM;
  if (panel < RM) panel = RM;
  for (int64_t ob = t.o0; ob < t.o1; ob += panel) {
    const int64_t oe = ob + panel < t.o1 ? ob + panel : t.o1;
    for (int64_t r = 0; r < t.rows; r += RN) {
      const int rn = static_cast<int>(t.rows - r < RN ? t.rows - r : RN);
      for (int64_t o = ob; o < oe; o += RM) {
        const int rm = static_cast<int>(oe - o < RM ? oe - o : RM);
        table[(rm - 1) * RN + (rn - 1)](t, o, r);
      }
    }
  }
}

}  // namespace rlm
