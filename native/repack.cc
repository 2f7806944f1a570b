#include "repack.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "file-pages.h"

#ifndef _WIN32
#include <sys/mman.h>
#endif

namespace rlm {
namespace {

constexpr int64_t G = kGroupRows;

// A type's block in a file row and in a group (see repack.h for the group layouts).
struct Form {
  int elems = 0;         // elements per block
  int block_bytes = 0;   // bytes of a block in a file row
  int quant_at = 0;      // where a file block's quant bytes start
  int quant_bytes = 0;   // quant bytes of a file block (nibbles, or q8_0's bytes)
  uint8_t flip = 0;      // xor on every quant byte (q8_0: w + 128)
  bool five = false;     // high bits (q5_0, q5_K): a lo and a hi 64-bit mask per chunk
  bool k = false;        // super-block: d, dmin, scales and mins ahead of the quants
  size_t group_block = 0;
  bool fp = false;       // f16/bf16: one 2-byte element a block, no scales
  bool six = false;      // q6_K: its own layout (pack_q6k)
};

bool form_of(WType t, Form* f) {
  switch (t) {
    case WType::Q4_0: *f = {32, 18, 2, 16, 0x00, false, false, 0}; break;
    case WType::Q5_0: *f = {32, 22, 6, 16, 0x00, true, false, 0}; break;
    case WType::Q8_0: *f = {32, 34, 2, 32, 0x80, false, false, 0}; break;
    case WType::Q4_K: *f = {256, 144, 16, 128, 0x00, false, true, 0}; break;
    case WType::Q5_K: *f = {256, 176, 48, 128, 0x00, true, true, 0}; break;
    case WType::Q6_K:
      *f = {256, 210, 0, 0, 0x00, false, false, 16 * 210, false, true};
      return true;
    case WType::F16:
    case WType::BF16:
      *f = {1, 2, 0, 2, 0x00, false, false, 2 * G, true};
      return true;
    default: return false;
  }
  const size_t head = f->k ? 2 * 2 * G + 2 * 8 * G : 2 * G;
  const size_t masks = f->five ? static_cast<size_t>(f->quant_bytes / 4) * 16 : 0;
  f->group_block = head + static_cast<size_t>(f->quant_bytes) * G + masks;
  return true;
}

size_t quants_at(const Form& f) { return f.k ? 2 * 2 * G + 2 * 8 * G : 2 * G; }

// The chunks come in runs (a super-block's pair of sub-blocks, or a whole 32-block), each
// run's high-bit masks right after its quants: the kernels read a group's bytes in order.
int run_chunks(const Form& f) { return f.k ? 8 : f.quant_bytes / 4; }
size_t run_bytes(const Form& f) { return static_cast<size_t>(run_chunks(f)) * (64 + (f.five ? 16 : 0)); }
size_t chunk_at(const Form& f, int c) {
  return quants_at(f) + static_cast<size_t>(c / run_chunks(f)) * run_bytes(f) + 64 * static_cast<size_t>(c % run_chunks(f));
}
size_t mask_at(const Form& f, int c) {
  const int n = run_chunks(f);
  return quants_at(f) + static_cast<size_t>(c / n) * run_bytes(f) + 64 * static_cast<size_t>(n) + 16 * static_cast<size_t>(c % n);
}

// Sets the fifth bit of quant byte q's low nibble (hi: high nibble) in a file block of
// q5_0 (qh at 2, 32 bits) or q5_K (qh[32] at 16; byte q of pair p = q / 32 holds
// sub-blocks 2p, low, and 2p + 1, high).
void set_high_bit(const Form& f, uint8_t* blk, int q, bool hi) {
  if (f.k) {
    const int p = q / 32, l = q % 32;
    blk[16 + l] |= static_cast<uint8_t>(1u << (2 * p + (hi ? 1 : 0)));
    return;
  }
  blk[2 + (q + (hi ? 16 : 0)) / 8] |= static_cast<uint8_t>(1u << ((q + (hi ? 16 : 0)) % 8));
}

// q4_K/q5_K's 6-bit scale and min of sub-block j (get_scale_min_k4) and back.
void k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

void k_encode(const uint8_t* sc, const uint8_t* mn, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
}

// q6_K: d[16] f16; the scales as int8 pairs [8][16][2] (pair k: scales 2k and 2k + 1 of
// each row); ql in 32 chunks (row i's dword in chunk c: ql bytes 4c..4c+3); qh in 16.
constexpr size_t kQ6Scales = 32, kQ6Ql = 32 + 256, kQ6Qh = 32 + 256 + 2048;

void q6k_block(const uint8_t* blk, int64_t i, uint8_t* out, bool pack) {
  const auto move = [&](uint8_t* file, uint8_t* group) {
    if (pack) *group = *file;
    else *file = *group;
  };
  uint8_t* b = const_cast<uint8_t*>(blk);
  move(b + 208, out + 2 * i);
  move(b + 209, out + 2 * i + 1);
  for (int s = 0; s < 16; ++s) move(b + 192 + s, out + kQ6Scales + 32 * (s / 2) + 2 * i + s % 2);
  for (int q = 0; q < 128; ++q) move(b + q, out + kQ6Ql + 64 * (q / 4) + 4 * i + q % 4);
  for (int q = 0; q < 64; ++q) move(b + 128 + q, out + kQ6Qh + 64 * (q / 4) + 4 * i + q % 4);
}

void pack_group(const WeightView& w, const Form& f, int64_t g, uint8_t* dst) {
  const int64_t nb = w.cols / f.elems;
  if (f.six) {
    std::memset(dst, 0, f.group_block * static_cast<size_t>(nb));
    for (int64_t i = 0; i < G && g * G + i < w.rows; ++i) {
      const uint8_t* src = w.data + static_cast<size_t>(g * G + i) * w.row_bytes;
      for (int64_t b = 0; b < nb; ++b) q6k_block(src + b * f.block_bytes, i, dst + b * f.group_block, true);
    }
    return;
  }
  if (f.fp) {
    // 64 elements of the 16 rows at a time through a tile that stays in L1: the rows are
    // read in runs and the group written in order.
    constexpr int64_t kTile = 64;
    uint16_t tile[G][kTile];
    const int64_t live = std::min<int64_t>(G, w.rows - g * G);
    for (int64_t k0 = 0; k0 < nb; k0 += kTile) {
      const int64_t kn = std::min<int64_t>(kTile, nb - k0);
      for (int64_t i = 0; i < G; ++i) {
        if (i < live) std::memcpy(tile[i], w.data + static_cast<size_t>(g * G + i) * w.row_bytes + 2 * k0, static_cast<size_t>(2 * kn));
        else std::memset(tile[i], 0, static_cast<size_t>(2 * kn));
      }
      uint16_t* out = reinterpret_cast<uint16_t*>(dst) + k0 * G;
      for (int64_t k = 0; k < kn; ++k)
        for (int64_t i = 0; i < G; ++i) out[k * G + i] = tile[i][k];
    }
    return;
  }
  const int chunks = f.quant_bytes / 4;
  size_t qat[32], mat[32];
  for (int c = 0; c < chunks; ++c) {
    qat[c] = chunk_at(f, c);
    mat[c] = mask_at(f, c);
  }
  const uint32_t flip4 = f.flip * 0x01010101u;
  std::memset(dst, 0, f.group_block * static_cast<size_t>(nb));
  for (int64_t i = 0; i < G; ++i) {
    const int64_t row = g * G + i;
    if (row >= w.rows) break;
    const uint8_t* src = w.data + static_cast<size_t>(row) * w.row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src + b * f.block_bytes;
      uint8_t* out = dst + b * f.group_block;
      std::memcpy(out + 2 * i, blk, 2);
      if (f.k) {
        std::memcpy(out + 2 * G + 2 * i, blk + 2, 2);
        for (int j = 0; j < 8; ++j) k_scale_min(blk + 4, j, out + 4 * G + G * j + i, out + 12 * G + G * j + i);
      }
      for (int c = 0; c < chunks; ++c) {
        uint32_t v;
        std::memcpy(&v, blk + f.quant_at + 4 * c, 4);
        v ^= flip4;
        std::memcpy(out + qat[c] + 4 * i, &v, 4);
        if (!f.five) continue;
        // The fifth bits of the chunk's 4 bytes, low nibbles then high: 4 bits each, placed
        // at bits 4i..4i+3 of the chunk's two masks.
        uint32_t lo = 0, hi = 0;
        if (f.k) {
          const int p = c / 8;
          uint32_t qh;
          std::memcpy(&qh, blk + 16 + 4 * (c % 8), 4);
          for (int k = 0; k < 4; ++k) {
            lo |= ((qh >> (8 * k + 2 * p)) & 1u) << k;
            hi |= ((qh >> (8 * k + 2 * p + 1)) & 1u) << k;
          }
        } else {
          uint32_t qh;
          std::memcpy(&qh, blk + 2, 4);
          lo = (qh >> (4 * c)) & 15u;
          hi = (qh >> (16 + 4 * c)) & 15u;
        }
        uint8_t* m = out + mat[c];
        m[i / 2] |= static_cast<uint8_t>(lo << (4 * (i % 2)));
        m[8 + i / 2] |= static_cast<uint8_t>(hi << (4 * (i % 2)));
      }
    }
  }
}

}  // namespace

bool repack_wanted(WType t, Simd s) {
  Form f;
  return s == Simd::Avx512 && form_of(t, &f);
}

size_t packed_bytes(const WeightView& w) {
  Form f;
  if (!form_of(w.type, &f)) return 0;
  const size_t groups = static_cast<size_t>((w.rows + G - 1) / G);
  return (groups * f.group_block * static_cast<size_t>(w.cols / f.elems) + 63) & ~static_cast<size_t>(63);
}

PackBuffer::PackBuffer(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  size_ = (bytes + align - 1) & ~(align - 1);
  if (size_ == 0) return;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(align, size_));
  if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHuge) madvise(data_, size_, MADV_HUGEPAGE);
#endif
}

PackBuffer& PackBuffer::operator=(PackBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

PackBuffer::~PackBuffer() { std::free(data_); }

WeightView repack_rows16(const WeightView& w, uint8_t* dst, ThreadPool* pool, bool release) {
  Form f;
  if (!form_of(w.type, &f) || w.layout != Layout::Rows) {
    throw std::invalid_argument("repack_rows16: not a type the 16-row kernels cover");
  }
  const int64_t groups = (w.rows + G - 1) / G;
  WeightView v = w;
  v.layout = Layout::Rows16;
  v.group_bytes = f.group_block * static_cast<size_t>(w.cols / f.elems);
  v.data = dst;
  // In slices of about 4 MiB of the source, each slice's file pages given back as soon as it
  // is copied: a matrix never sits in memory twice, only a slice of it.
  const size_t group_src = w.row_bytes * static_cast<size_t>(G);
  const int64_t slice = std::max<int64_t>(1, static_cast<int64_t>((size_t{4} << 20) / (group_src > 0 ? group_src : 1)));
  for (int64_t s0 = 0; s0 < groups; s0 += slice) {
    const int64_t s1 = std::min(groups, s0 + slice);
    const auto work = [&](int64_t g0, int64_t g1, int) {
      for (int64_t g = s0 + g0; g < s0 + g1; ++g) pack_group(w, f, g, dst + static_cast<size_t>(g) * v.group_bytes);
    };
    if (pool != nullptr && s1 - s0 > 1) pool->run(s1 - s0, work);
    else work(0, s1 - s0, 0);
    if (release) {
      const int64_t r1 = std::min(w.rows, s1 * G);
      release_file_pages(w.data + static_cast<size_t>(s0 * G) * w.row_bytes, static_cast<size_t>(r1 - s0 * G) * w.row_bytes);
    }
  }
  return v;
}

PackedMatrix repack_alone(const WeightView& w, ThreadPool* pool) {
  PackedMatrix p;
  p.buf = PackBuffer(packed_bytes(w));
  p.view = repack_rows16(w, p.buf.data(), pool, false);
  return p;
}

void unpack_row(const WeightView& w, int64_t row, uint8_t* out) {
  if (w.layout == Layout::Rows) {
    std::memcpy(out, w.data + static_cast<size_t>(row) * w.row_bytes, w.row_bytes);
    return;
  }
  Form f;
  form_of(w.type, &f);
  const int64_t nb = w.cols / f.elems;
  const int64_t i = row % G;
  const uint8_t* group = w.data + static_cast<size_t>(row / G) * w.group_bytes;
  std::memset(out, 0, w.row_bytes);
  if (f.fp) {
    for (int64_t k = 0; k < nb; ++k) std::memcpy(out + 2 * k, group + k * f.group_block + 2 * i, 2);
    return;
  }
  if (f.six) {
    for (int64_t b = 0; b < nb; ++b) q6k_block(out + b * f.block_bytes, i, const_cast<uint8_t*>(group) + b * f.group_block, false);
    return;
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* in = group + b * f.group_block;
    uint8_t* blk = out + b * f.block_bytes;
    std::memcpy(blk, in + 2 * i, 2);
    if (f.k) {
      std::memcpy(blk + 2, in + 2 * G + 2 * i, 2);
      uint8_t sc[8], mn[8];
      for (int j = 0; j < 8; ++j) {
        sc[j] = in[4 * G + G * j + i];
        mn[j] = in[12 * G + G * j + i];
      }
      k_encode(sc, mn, blk + 4);
    }
    for (int c = 0; c < f.quant_bytes / 4; ++c) {
      for (int k = 0; k < 4; ++k) {
        const int qb = 4 * c + k;
        blk[f.quant_at + qb] = in[chunk_at(f, c) + 4 * i + k] ^ f.flip;
        if (!f.five) continue;
        const int bit = static_cast<int>(4 * i + k);
        const uint8_t* m = in + mask_at(f, c);
        if ((m[bit / 8] >> (bit % 8)) & 1) set_high_bit(f, blk, qb, false);
        if ((m[8 + bit / 8] >> (bit % 8)) & 1) set_high_bit(f, blk, qb, true);
      }
    }
  }
}

}  // namespace rlm
