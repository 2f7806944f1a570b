// dequantize_row: the reference decoders of every weight type, operation for operation
// those of src/formats/quant*.ts (ggml's dequantize_row_*), so both give the same floats.
#include <cstring>
#include <vector>

#include "f16.h"
#include "matmul.h"
#include "repack.h"

namespace rlm {
namespace {

void deq_q8_0(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 34, y += 32) {
    const float d = read_f16(b);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  }
}

void deq_q4_0(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 18, y += 32) {
    const float d = read_f16(b);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((b[2 + j] & 15) - 8) * d;
      y[j + 16] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
    }
  }
}

void deq_q4_1(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 20, y += 32) {
    const float d = read_f16(b);
    const float m = read_f16(b + 2);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(b[4 + j] & 15) * d + m;
      y[j + 16] = static_cast<float>(b[4 + j] >> 4) * d + m;
    }
  }
}

void deq_q5_0(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 22, y += 32) {
    const float d = read_f16(b);
    const uint32_t qh = read_u32(b + 2);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[6 + j] & 15) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (b[6 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

void deq_q5_1(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 24, y += 32) {
    const float d = read_f16(b);
    const float m = read_f16(b + 2);
    const uint32_t qh = read_u32(b + 4);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((b[8 + j] & 15) | (((qh >> j) & 1) << 4)) * d + m;
      y[j + 16] = static_cast<float>((b[8 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) * d + m;
    }
  }
}

int k_scale(const uint8_t* s, int j) { return j < 4 ? s[j] & 63 : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); }
int k_min(const uint8_t* s, int j) { return j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }

template <bool kFive>
void deq_k4(const uint8_t* b, int64_t nb, float* y) {
  constexpr int kBytes = kFive ? 176 : 144;
  for (int64_t i = 0; i < nb; ++i, b += kBytes) {
    const float d = read_f16(b);
    const float dmin = read_f16(b + 2);
    const uint8_t* s = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* q = b + (kFive ? 48 : 16);
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
      const float d1 = d * static_cast<float>(k_scale(s, j));
      const float m1 = dmin * static_cast<float>(k_min(s, j));
      const float d2 = d * static_cast<float>(k_scale(s, j + 1));
      const float m2 = dmin * static_cast<float>(k_min(s, j + 1));
      for (int l = 0; l < 32; ++l) {
        int lo = q[l] & 15;
        int hi = q[l] >> 4;
        if (kFive) {
          lo |= ((qh[l] >> j) & 1) << 4;
          hi |= ((qh[l] >> (j + 1)) & 1) << 4;
        }
        y[l] = d1 * static_cast<float>(lo) - m1;
        y[l + 32] = d2 * static_cast<float>(hi) - m2;
      }
    }
  }
}

void deq_q6_k(const uint8_t* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, b += 210) {
    const float d = read_f16(b + 208);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = b + 64 * h;
      const uint8_t* qh = b + 128 + 32 * h;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h);
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
        y[l + 32] =
            d * static_cast<float>(sc[is + 2]) * static_cast<float>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        y[l + 96] =
            d * static_cast<float>(sc[is + 6]) * static_cast<float>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
  }
}

}  // namespace

void dequantize_row(const WeightView& w, int64_t row, float* out) {
  if (w.layout != Layout::Rows) {
    thread_local std::vector<uint8_t> bytes;  // embedding lookups run per row, on any thread
    if (bytes.size() < w.row_bytes) bytes.resize(w.row_bytes);
    unpack_row(w, row, bytes.data());
    WeightView one = w;
    one.data = bytes.data();
    one.layout = Layout::Rows;
    dequantize_row(one, 0, out);
    return;
  }
  const uint8_t* p = w.data + row * w.row_bytes;
  const int64_t n = w.cols;
  switch (w.type) {
    case WType::F32: std::memcpy(out, p, static_cast<size_t>(n) * 4); return;
    case WType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = read_f16(p + 2 * i);
      return;
    case WType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(read_u16(p + 2 * i));
      return;
    case WType::Q8_0: deq_q8_0(p, n / 32, out); return;
    case WType::Q4_0: deq_q4_0(p, n / 32, out); return;
    case WType::Q4_1: deq_q4_1(p, n / 32, out); return;
    case WType::Q5_0: deq_q5_0(p, n / 32, out); return;
    case WType::Q5_1: deq_q5_1(p, n / 32, out); return;
    case WType::Q4_K: deq_k4<false>(p, n / 256, out); return;
    case WType::Q5_K: deq_k4<true>(p, n / 256, out); return;
    case WType::Q6_K: deq_q6_k(p, n / 256, out); return;
  }
}

}  // namespace rlm
