// A token's K and V copied out of the pool and back (the disk tier of the cache): token-major,
// so that a run of tokens is one contiguous item and any prefix of it is a prefix of the bytes.
// Only the slots named are touched, so a copy may run on a libuv worker beside a forward pass
// that uses other slots.
#include <cstring>
#include <string>

#include "runner.h"

namespace rlm {

size_t Runner::kv_token_bytes() const {
  return m_.layers.size() * 2 * static_cast<size_t>(kv_dim_) * (kv_f16_ ? 2 : 4);
}

std::string Runner::check_slots(const int32_t* slots, size_t n) const {
  for (size_t i = 0; i < n; i++) {
    if (slots[i] < 0 || slots[i] >= capacity_) return "KV slot " + std::to_string(slots[i]) + " out of range";
  }
  return "";
}

void Runner::export_kv(const int32_t* slots, size_t n, uint8_t* out) const {
  const size_t elem = kv_f16_ ? 2 : 4;
  const size_t row = static_cast<size_t>(m_.head_dim) * elem;
  for (size_t i = 0; i < n; i++) {
    for (int li = 0; li < static_cast<int>(m_.layers.size()); li++) {
      for (int which = 0; which < 2; which++) {
        const uint8_t* block = kv_block(li, which);
        for (int hh = 0; hh < m_.kv_heads; hh++) {
          std::memcpy(out, block + static_cast<size_t>(kv_head_offset(hh) + static_cast<int64_t>(slots[i]) * m_.head_dim) * elem, row);
          out += row;
        }
      }
    }
  }
}

void Runner::import_kv(const int32_t* slots, size_t n, const uint8_t* in) {
  const size_t elem = kv_f16_ ? 2 : 4;
  const size_t row = static_cast<size_t>(m_.head_dim) * elem;
  for (size_t i = 0; i < n; i++) {
    for (int li = 0; li < static_cast<int>(m_.layers.size()); li++) {
      for (int which = 0; which < 2; which++) {
        uint8_t* block = kv_block(li, which);
        for (int hh = 0; hh < m_.kv_heads; hh++) {
          std::memcpy(block + static_cast<size_t>(kv_head_offset(hh) + static_cast<int64_t>(slots[i]) * m_.head_dim) * elem, in, row);
          in += row;
        }
      }
    }
  }
}

}  // namespace rlm
