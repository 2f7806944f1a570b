// Attention of one layer (see runner.h): which rows attend together, sharing each K/V read,
// and the pass over (block, kv head) items on the pool. Whatever the blocks and whichever
// thread runs an item, every row's result is the same bits (ops.h).
#include "runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>

namespace rlm {

// Rows of one sequence whose attention runs together, sharing each K/V read. More rows
// share more, but each adds `group` query heads of scores to a thread's scratch, and the
// items must stay many enough to spread over the threads. About 48 query heads fill three
// 16-lane vectors of the AVX-512 form (attend-avx512.cc); never fewer than 8 rows.
static int attend_rows_per_block(int group) {
  return std::min(kMaxAttendGroup, std::max(8, 48 / std::max(group, 1)));
}

// Decoding rows of different sequences attend together when their first this many
// positions are in the same slots.
constexpr int64_t kMinSharedPositions = 64;

// Below this many multiply-adds, attention runs on the calling thread instead of waking the pool.
constexpr double kInlineAttentionMacs = 256 * 1024;

size_t Runner::attention_scratch_floats(int64_t max_len) const {
  const int group = m_.heads / m_.kv_heads;
  return attend_rows_scratch_floats(max_len, group, attend_rows_per_block(group), m_.head_dim);
}

void Runner::find_attention_blocks(const StepInput& in, int64_t n) {
  // Blocks of up to attend_rows_per_block() consecutive rows of one sequence (a prefill
  // chunk's rows), which share each K/V read (shared -1: one slot list). Decoding rows of different
  // sequences whose slot lists begin alike (requests on one cached prefix, the samples of
  // n > 1) form blocks too, sharing the reads of that common prefix.
  blocks_.clear();
  block_shared_.clear();
  const int64_t most = attend_rows_per_block(m_.heads / m_.kv_heads);
  const auto slots_of = [&](int64_t r) { return in.slots.data() + in.slot_offset[row_seq_[r]]; };
  const auto decoding = [&](int64_t r) { return in.seq_count[row_seq_[r]] == 1; };
  for (int64_t r = 0; r < n;) {
    int64_t e = r + 1;
    int64_t shared = -1;
    if (e < n && row_seq_[e] == row_seq_[r]) {
      while (e < n && e - r < most && row_seq_[e] == row_seq_[r]) e++;
    } else if (decoding(r)) {
      const int32_t* first = slots_of(r);
      shared = in.positions[r] + 1;
      while (e < n && e - r < most && decoding(e)) {
        const int32_t* other = slots_of(e);
        const int64_t lim = std::min<int64_t>(shared, in.positions[e] + 1);
        int64_t c = 0;
        while (c < lim && first[c] == other[c]) c++;
        if (c < kMinSharedPositions) break;
        shared = c;
        e++;
      }
      if (e - r == 1) shared = -1;
    }
    blocks_.push_back(r);
    block_shared_.push_back(shared);
    r = e;
  }
  blocks_.push_back(n);
  balance_attention_blocks();
}

void Runner::balance_attention_blocks() {
  // Few items that do not divide among the threads (a decode step of 4 requests on one
  // prefix with 3 kv heads: 3 items, 2 threads) leave a thread idle for a whole item: halve
  // the largest decoding block until they divide or are plenty. Its rows then read the
  // shared K/V twice, a smaller cost than the idle thread. Any split gives the same bits.
  // The threads are those the step runs on (a decode step may take fewer than the pool's).
  const int64_t threads = pool_.active();
  for (;;) {
    const int64_t nblocks = static_cast<int64_t>(blocks_.size()) - 1;
    const int64_t items = nblocks * m_.kv_heads;
    if (threads == 1 || items % threads == 0 || items >= 4 * threads) return;
    int64_t best = -1;
    for (int64_t b = 0; b < nblocks; b++) {
      if (block_shared_[b] >= 0 && blocks_[b + 1] - blocks_[b] > 1 &&
          (best < 0 || blocks_[b + 1] - blocks_[b] > blocks_[best + 1] - blocks_[best])) best = b;
    }
    if (best < 0) return;
    const int64_t mid = blocks_[best] + (blocks_[best + 1] - blocks_[best]) / 2;
    blocks_.insert(blocks_.begin() + best + 1, mid);
    const int64_t shared = block_shared_[best];
    block_shared_.insert(block_shared_.begin() + best + 1, blocks_[best + 2] - mid > 1 ? shared : -1);
    if (mid - blocks_[best] == 1) block_shared_[best] = -1;
  }
}

void Runner::attention(const StepInput& in, int64_t n, int li) {
  const KVView kv = kv_view(li);
  const int hd = m_.head_dim;
  const int kvh = m_.kv_heads;
  const int group = m_.heads / m_.kv_heads;
  const float scale = m_.attn_scale > 0 ? m_.attn_scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const float softcap = m_.attn_softcap;
  const int64_t window = m_.layers[li].window;
  const auto lo_of = [&](int64_t len) { return window > 0 && len > window ? len - window : int64_t{0}; };
  const size_t stride = attention_scratch_floats(cap_len_);
  // The blocks are the same in every layer of a pass: found in its first.
  if (li == 0) find_attention_blocks(in, n);
  const int64_t nblocks = static_cast<int64_t>(blocks_.size()) - 1;
  const int64_t items = nblocks * kvh;
  // Items are (block, kv head) pairs: the query heads of one group share each K/V row read.
  // They are handed out dynamically, costliest first (the last rows of a prefill see the
  // most positions); each head's reduction is done whole by one thread.
  // Little work (a decode step over short contexts) runs on the calling thread alone: the
  // pool's barrier would cost more. Which thread computes an item never changes its value.
  int64_t positions = 0;
  for (int64_t r = 0; r < n; r++) positions += in.positions[r] + 1 - lo_of(in.positions[r] + 1);
  const bool inline_all = static_cast<double>(positions) * kvh * group * hd < kInlineAttentionMacs;
  std::atomic<int64_t> next{0};
  pool_.run(inline_all ? 1 : pool_.size(), [&](int64_t, int64_t, int t) {
    float* scratch = scores_.data() + static_cast<size_t>(t) * stride;
    for (;;) {
      const int64_t i = items - 1 - next.fetch_add(1, std::memory_order_relaxed);
      if (i < 0) break;
      const int64_t b = i / kvh;
      const int j = static_cast<int>(i % kvh);
      const int64_t r = blocks_[b];
      const int rows = static_cast<int>(blocks_[b + 1] - r);
      const int32_t* slots = in.slots.data() + in.slot_offset[row_seq_[r]];
      const int64_t off = r * q_dim_ + static_cast<int64_t>(j) * group * hd;
      const int64_t len = in.positions[r] + 1;
      if (rows == 1) {
        attend(q_.data() + off, group, hd, kv, kv_head_offset(j), slots, len, lo_of(len), scale, softcap, scratch,
               att_.data() + off);
      } else if (block_shared_[b] < 0) {
        attend_rows(q_.data() + off, q_dim_, rows, group, hd, kv, kv_head_offset(j), slots, len, window, scale, softcap,
                    scratch, att_.data() + off, q_dim_);
      } else {
        AttendRow g[kMaxAttendGroup];
        for (int k = 0; k < rows; k++) {
          const int64_t rr = r + k;
          const int64_t o = rr * q_dim_ + static_cast<int64_t>(j) * group * hd;
          const int64_t len_k = in.positions[rr] + 1;
          g[k] = AttendRow{q_.data() + o, att_.data() + o, in.slots.data() + in.slot_offset[row_seq_[rr]], len_k, lo_of(len_k)};
        }
        attend_group(g, rows, group, hd, kv, kv_head_offset(j), block_shared_[b], scale, softcap, scratch);
      }
    }
  });
}

}  // namespace rlm
