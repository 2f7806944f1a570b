#include "common.h"

namespace rlm {

bool wtype_info(int ggml_type, int* block_size, int* block_bytes) {
  int bs = 0;
  int bb = 0;
  switch (static_cast<WType>(ggml_type)) {
    case WType::F32: bs = 1; bb = 4; break;
    case WType::F16: bs = 1; bb = 2; break;
    case WType::BF16: bs = 1; bb = 2; break;
    case WType::Q4_0: bs = 32; bb = 18; break;
    case WType::Q4_1: bs = 32; bb = 20; break;
    case WType::Q5_0: bs = 32; bb = 22; break;
    case WType::Q5_1: bs = 32; bb = 24; break;
    case WType::Q8_0: bs = 32; bb = 34; break;
    case WType::Q4_K: bs = 256; bb = 144; break;
    case WType::Q5_K: bs = 256; bb = 176; break;
    case WType::Q6_K: bs = 256; bb = 210; break;
    default: return false;
  }
  if (block_size) *block_size = bs;
  if (block_bytes) *block_bytes = bb;
  return true;
}

}  // namespace rlm
