#include "repack.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace rlm {
namespace {

// One type's block as the two layouts hold it.
struct Form {
  int block_bytes;   // bytes of a block in a file row
  int quant_bytes;   // quant bytes of a block (after its f16 scale)
  uint8_t flip;      // xor applied to every quant byte (q8_0: w + 128)
};

bool form_of(WType t, Form* f) {
  switch (t) {
    case WType::Q4_0: *f = {18, 16, 0x00}; return true;
    case WType::Q8_0: *f = {34, 32, 0x80}; return true;
    default: return false;
  }
}

size_t group_block_bytes(const Form& f) { return 2 * kGroupRows + static_cast<size_t>(f.quant_bytes) * kGroupRows; }

void pack_group(const WeightView& w, const Form& f, int64_t g, uint8_t* dst) {
  const int64_t nb = w.cols / 32;
  const size_t gb = group_block_bytes(f);
  const int chunks = f.quant_bytes / 4;
  std::memset(dst, 0, gb * static_cast<size_t>(nb));
  for (int64_t i = 0; i < kGroupRows; ++i) {
    const int64_t row = g * kGroupRows + i;
    if (row >= w.rows) break;
    const uint8_t* src = w.data + static_cast<size_t>(row) * w.row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src + b * f.block_bytes;
      uint8_t* out = dst + b * gb;
      std::memcpy(out + 2 * i, blk, 2);
      for (int c = 0; c < chunks; ++c) {
        for (int k = 0; k < 4; ++k) out[2 * kGroupRows + 64 * c + 4 * i + k] = blk[2 + 4 * c + k] ^ f.flip;
      }
    }
  }
}

}  // namespace

bool repack_wanted(WType t, Simd s) {
  Form f{};
  return s == Simd::Avx512 && form_of(t, &f);
}

PackedMatrix& PackedMatrix::operator=(PackedMatrix&& o) noexcept {
  if (this != &o) {
    std::free(bytes_);
    bytes_ = o.bytes_;
    view_ = o.view_;
    o.bytes_ = nullptr;
  }
  return *this;
}

PackedMatrix::~PackedMatrix() { std::free(bytes_); }

PackedMatrix repack_rows16(const WeightView& w, ThreadPool* pool) {
  Form f{};
  if (!form_of(w.type, &f) || w.layout != Layout::Rows) throw std::invalid_argument("repack_rows16: not a type the 16-row kernels cover");
  const int64_t groups = (w.rows + kGroupRows - 1) / kGroupRows;
  PackedMatrix p;
  p.view_ = w;
  p.view_.layout = Layout::Rows16;
  p.view_.group_bytes = group_block_bytes(f) * static_cast<size_t>(w.cols / 32);
  const size_t total = p.bytes();
  p.bytes_ = static_cast<uint8_t*>(std::aligned_alloc(64, (total + 63) & ~static_cast<size_t>(63)));
  if (p.bytes_ == nullptr) throw std::bad_alloc();
  p.view_.data = p.bytes_;
  const auto work = [&](int64_t g0, int64_t g1, int) {
    for (int64_t g = g0; g < g1; ++g) pack_group(w, f, g, p.bytes_ + static_cast<size_t>(g) * p.view_.group_bytes);
  };
  if (pool != nullptr && groups > 1) pool->run(groups, work);
  else work(0, groups, 0);
  return p;
}

void unpack_row(const WeightView& w, int64_t row, uint8_t* out) {
  if (w.layout == Layout::Rows) {
    std::memcpy(out, w.data + static_cast<size_t>(row) * w.row_bytes, w.row_bytes);
    return;
  }
  Form f{};
  form_of(w.type, &f);
  const int64_t nb = w.cols / 32;
  const int64_t i = row % kGroupRows;
  const uint8_t* group = w.data + static_cast<size_t>(row / kGroupRows) * w.group_bytes;
  const size_t gb = group_block_bytes(f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* in = group + b * gb;
    uint8_t* blk = out + b * f.block_bytes;
    std::memcpy(blk, in + 2 * i, 2);
    for (int c = 0; c < f.quant_bytes / 4; ++c) {
      for (int k = 0; k < 4; ++k) blk[2 + 4 * c + k] = in[2 * kGroupRows + 64 * c + 4 * i + k] ^ f.flip;
    }
  }
}

}  // namespace rlm
