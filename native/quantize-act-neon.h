#pragma once
// The NEON activation quantizer (arm64 only): the same bytes as the scalar one.
#include <cstdint>

#include "quantize-act.h"

namespace rlm {

#if defined(__aarch64__) && defined(__ARM_NEON)
/** Quantizes x[0..cols) into the parts of `a` (f is Q8_32 or Q8_K). */
void quantize_row_neon(ActFormat f, const float* x, int64_t cols, const ActRow& a);
#endif

}  // namespace rlm
