#pragma once
// The small kernels of the forward pass besides matmul: RMSNorm, RoPE, SiLU x mul, residual
// add, f16 KV storage and attention over the paged KV pool. Each works on one row (or one
// (token, head) pair) at a time with a fixed order of reduction, so a row's result never
// depends on the batch it shares or on the thread that computes it. The SIMD path (AVX2 +
// FMA + F16C on x86-64, NEON on arm64) is chosen once per process; the scalar path serves
// every other machine.
#include <cstddef>
#include <cstdint>

namespace rlm {

/** "avx2" or "neon" when the vectorized ops are in use, otherwise "scalar". */
const char* ops_path();

/**
 * Test hook: "auto" (the best path this CPU runs), "scalar", "avx2" or "neon"; false, changing
 * nothing, for a path this CPU cannot run. Never call it while a forward runs.
 */
bool set_ops_path(const char* name);

uint16_t f32_to_f16_bits(float x);  // round to nearest, ties to even
float f16_bits_to_f32(uint16_t h);

/**
 * out = x / sqrt(mean(x^2) + eps) * w over n values, in double as the reference does (the
 * sum of squares in four interleaved partial sums, a fixed order per row).
 */
void rms_norm(const float* x, const float* w, int64_t n, double eps, float* out);

/** cs[2i] = cos(pos * inv_freq[i]), cs[2i+1] = sin(...) for i < half (double). */
void rope_angles(int32_t pos, const double* inv_freq, int half, double* cs);

/**
 * Rotates one head of `dim` values in place with angles from rope_angles. "neox" pairs i with
 * i + dim/2; interleaved pairs 2i with 2i+1.
 */
void rope(float* x, int dim, const double* cs, bool interleaved);

/** g[i] = silu(g[i]) * u[i]. */
void silu_mul(float* g, const float* u, int64_t n);

/**
 * g[i] = gelu(g[i]) * u[i] with GELU's tanh form (Gemma's GeGLU), computed as
 * x / (1 + exp(-2 t)), t = sqrt(2/pi) (x + 0.044715 x^3): the same function as
 * 0.5 x (1 + tanh(t)).
 */
void gelu_tanh_mul(float* g, const float* u, int64_t n);

/** x[i] *= s. */
void scale_in_place(float* x, float s, int64_t n);

/** x[i] += y[i]. */
void add_in_place(float* x, const float* y, int64_t n);

/** Writes n values as f32 or as f16 bits (dst is then uint16_t*). */
void store_kv_row(const float* src, void* dst, int64_t n, bool f16);

/** One layer's K and V stores in the pool: slot s of a head at s * stride + that head's offset, f16 bits or f32. */
struct KVView {
  const void* k = nullptr;
  const void* v = nullptr;
  bool f16 = true;
  int64_t stride = 0;
};

/** Floats of scratch `attend` needs for `len` positions and `heads` query heads. */
size_t attend_scratch_floats(int64_t len, int heads);

/**
 * Attention of `heads` query heads that share one kv head (grouped-query attention): for
 * each g < heads, out[g*hd ..] = softmax(cap(q[g*hd ..] . K^T * scale)) V over positions
 * lo..len-1, position p living in slot slots[p], the kv head starting at `kv_off` within a
 * row. cap(s) = softcap * tanh(s / softcap) (Gemma 2), or s when softcap is 0. Each head's
 * reduction runs in position order and is the same whether its group is computed together
 * or one head at a time.
 *
 * A window (`lo` > 0, sliding-window layers) keeps every row's bits its own: the sums run
 * over blocks of 8 positions counted from 0, and the positions of lo's block before lo
 * take weight exactly 0 (a -inf score), whether the row runs alone or in a group that
 * starts at an earlier row's block.
 */
void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
            int64_t lo, float scale, float softcap, float* scratch, float* out);

/**
 * One query row of an attend_group: its query heads, its output, its positions' slots and
 * their count, and the first position it attends to (0 but in a sliding window).
 */
struct AttendRow {
  const float* q;
  float* out;
  const int32_t* slots;
  int64_t len;
  int64_t lo;
};

/** Most rows attend_rows and attend_group take at once. */
constexpr int kMaxAttendGroup = 16;

/**
 * `attend` for up to kMaxAttendGroup rows that read the same KV slots for their first
 * `shared` positions (sequences that share a cached prefix: the rows of one prefill chunk,
 * or decoding requests forked from one prompt): those K/V rows are read and converted once
 * for all of them. `shared` is at most the shortest row's len, or at least the longest's
 * when every row reads one slot list. Each row's result is bit for bit what attend gives it.
 */
void attend_group(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off, int64_t shared,
                  float scale, float softcap, float* scratch);

/** Floats of scratch `attend_rows` needs. */
size_t attend_rows_scratch_floats(int64_t len, int heads, int rows, int hd);

/**
 * `attend` for `rows` consecutive positions of one sequence, row i with its query heads at
 * q + i * q_stride, its output at out + i * out_stride, and len0 + i positions, of which it
 * sees the last `window` (0: all). Each row's result is bit for bit what attend gives it
 * alone; the rows share each K/V read.
 */
void attend_rows(const float* q, int64_t q_stride, int rows, int heads, int hd, const KVView& kv, int64_t kv_off,
                 const int32_t* slots, int64_t len0, int64_t window, float scale, float softcap, float* scratch, float* out,
                 int64_t out_stride);

/**
 * Scores s[0..len) of one query head before its softmax: capped (see attend), and those
 * before `lo` set to -inf so that their weights come out exactly 0. Every path calls it.
 */
void prepare_scores(float* s, int64_t lo, int64_t len, float softcap);

namespace ops_avx2 {
// The vectorized twins (ops-avx2.cc); only called when supported() is true.
bool supported();
void silu_mul(float* g, const float* u, int64_t n);
void gelu_tanh_mul(float* g, const float* u, int64_t n);
void store_f16(const float* src, uint16_t* dst, int64_t n);
// Windows arrive shifted (ops.cc): lo < 8, or a row's lo within the group's first block of 8.
void attend(const float* q, int heads, int hd, const KVView& kv, int64_t kv_off, const int32_t* slots, int64_t len,
            int64_t lo, float scale, float softcap, float* scratch, float* out);
void attend_group(const AttendRow* rows, int n, int heads, int hd, const KVView& kv, int64_t kv_off, int64_t shared,
                  float scale, float softcap, float* scratch);
}  // namespace ops_avx2

}  // namespace rlm
