#pragma once
// AVX-512 pieces of attention (attend-avx512.cc), called from attend-avx2.cc when
// simd_active() is Avx512. Every function carries its target attribute.
#include "ops.h"
#include "ops-avx2.h"

#ifdef RLM_HAVE_AVX2_OPS

#include <algorithm>
#include <cstddef>
#include <cstdint>

#define RLM_ATTEND512 __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw")))

namespace rlm {
namespace ops_avx2 {

// Most query heads per kv head that attend_group_lanes takes, and fewest query heads in all
// (below them, lanes would go mostly empty and attend_group's own path is as fast).
constexpr int kMaxLaneHeads = 16;
constexpr int kMinLaneQueries = 5;
constexpr int kMaxLaneBlocks = (kMaxAttendGroup * kMaxLaneHeads + 15) / 16;

/** Whether attend_group_lanes takes a group of `rows` rows of `heads` query heads of `hd`. */
bool attend_lanes_fits(int rows, int heads, int hd);

/**
 * attend_group (ops.h), bit for bit, with the query heads in vector lanes; needs
 * attend_lanes_fits, and the scratch attend_rows_scratch_floats gives for n rows.
 */
void attend_group_lanes(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off, int64_t shared,
                        float scale, float softcap, float* scratch);

// The shortest and the longest of n lengths.
inline void len_range(const int64_t* lens, int n, int64_t* lo, int64_t* hi) {
  *lo = *hi = lens[0];
  for (int q = 1; q < n; q++) {
    *lo = lens[q] < *lo ? lens[q] : *lo;
    *hi = lens[q] > *hi ? lens[q] : *hi;
  }
}

/** Queries per call of weighted_v_rows_wide_any: as many as 28 accumulators hold (0: hd not 64 or 128). */
constexpr int wide_queries(int hd) { return hd == 64 ? 6 : hd == 128 ? 3 : 0; }

/**
 * out[q][0..hd) = sum over p < lens[q] of w[q][p * ws] V[p][off..], for nq <= wide_queries(hd)
 * queries reading one slot list, each V row read and converted once for all of them; every
 * output element is one fma chain in position order.
 */
void weighted_v_rows_wide_any(int nq, int hd, const float* const* w, int64_t ws, const int64_t* lens, const KVView& kv,
                              int64_t off, const int32_t* slots, float* const* out);

}  // namespace ops_avx2
}  // namespace rlm

#endif
