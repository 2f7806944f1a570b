#pragma once
// How many threads a decode step runs on, measured rather than guessed. Beside another busy
// process, two threads get a fair share of about 1.33 cores between them and wait for each
// other whenever the OS parks one mid-range, while a decode step (bound by memory) is well
// under 1.5x faster on two threads than on one even alone: so there two threads can lose to
// one. Decode steps run on the current count; now and then a probe runs kRounds rounds of
// kBlock steps on the other count and kBlock on the current one, interleaved so that a change
// in the machine's load over the probe weighs on both sides alike. The other count becomes
// current when the median of its steps is kSwitch below the current count's; otherwise the
// gap to the next probe doubles (up to kMaxEvery), and a clear loss (kClear), seen after the
// first round, ends the probe there. A step's results never depend on how
// many threads computed it, so probing costs only time (a fraction of 1% once settled, where
// the other count is 30% slower). StepThreads keeps one per size of small step; larger steps
// take every thread.
#include <algorithm>
#include <cstdint>

namespace rlm {

class ThreadChooser {
 public:
  static constexpr int kBlock = 4;
  static constexpr int kRounds = 3;
  static constexpr int kSamples = kBlock * kRounds;
  static constexpr int kMinEvery = 32;
  static constexpr int kMaxEvery = 512;
  static constexpr double kSwitch = 0.97;  // the other count's median below this x current's
  static constexpr double kClear = 1.2;    // ... above this after one round: the probe ends

  explicit ThreadChooser(int threads = 1) : full_(threads), current_(threads) {}

  /** Threads for a step of `rows` rows that this chooser measures, or (decode false) any other. */
  int pick(bool decode, int64_t rows) {
    if (!decode || full_ == 1) return full_;
    if (probe_step_ >= 0 && rows != probe_rows_) {  // another batch: unlike steps, start over later
      probe_step_ = -1;
      since_ = 0;
    }
    if (probe_step_ < 0 && since_ >= every_) {
      probe_step_ = 0;
      probe_rows_ = rows;
      n_other_ = n_current_ = 0;
    }
    last_ = probe_step_ >= 0 && on_other(probe_step_) ? other() : current_;
    return last_;
  }

  /** The wall time of the decode step just run with what pick() returned. */
  void record(double ms) {
    if (full_ == 1) return;
    if (probe_step_ < 0) {
      ++since_;
      return;
    }
    if (last_ == current_) {
      current_ms_[n_current_++] = ms;
    } else {
      other_ms_[n_other_++] = ms;
    }
    ++probe_step_;
    if (probe_step_ % (2 * kBlock) != 0) return;
    // A clear loss after the first round ends the probe: then it costs kBlock slow steps.
    const double o = median(other_ms_, n_other_), c = median(current_ms_, n_current_);
    if (probe_step_ < 2 * kSamples && !(o > kClear * c)) return;
    probe_step_ = -1;
    since_ = 0;
    if (o < kSwitch * c) {
      current_ = other();
      every_ = kMinEvery;
    } else {
      // Staying: probe half as often. On 1 thread, at least 4x as often as on all: a
      // neighbour that goes away must not leave decode at the 1-thread speed for long.
      every_ = std::min(2 * every_, current_ == full_ ? kMaxEvery : kMaxEvery / 4);
    }
  }

  int current() const { return current_; }

 private:
  int other() const { return current_ == full_ ? 1 : full_; }
  static bool on_other(int step) { return (step / kBlock) % 2 == 0; }

  static double median(const double* v, int n) {
    double s[kSamples];
    for (int i = 0; i < n; ++i) {  // insertion sort: a dozen values
      int j = i;
      for (; j > 0 && s[j - 1] > v[i]; --j) s[j] = s[j - 1];
      s[j] = v[i];
    }
    return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }

  int full_;
  int current_;
  int last_ = 0;
  int every_ = kMinEvery;
  int since_ = 0;
  int probe_step_ = -1;  // -1: not probing
  int64_t probe_rows_ = 0;
  double other_ms_[kSamples] = {};
  double current_ms_[kSamples] = {};
  int n_other_ = 0, n_current_ = 0;
};

/**
 * One ThreadChooser per size of small step: each row count up to 16, then 17 to 32 together.
 * Where one thread beats two depends on the rows a step computes (on a small model two
 * threads lose up to a few rows and win past them), and small steps come in every size:
 * decode batches, a speculative step's drafted rows, short prefill chunks. A size's chooser
 * measures only steps of that size, so steps of other sizes in between neither reset nor
 * skew its probes. Larger steps take every thread.
 */
class StepThreads {
 public:
  static constexpr int64_t kEachUpTo = 16;
  static constexpr int64_t kMaxRows = 32;

  explicit StepThreads(int threads) {
    for (int i = 0; i < kSizes; ++i) sizes_[i] = ThreadChooser(threads);
  }

  /** Threads for a step of `rows` rows. */
  int pick(int64_t rows) {
    last_ = size_of(rows);
    return last_ < 0 ? sizes_[0].pick(false, rows) : sizes_[last_].pick(true, rows);
  }

  /** The wall time of the step just run with what pick() returned. */
  void record(double ms) {
    if (last_ >= 0) sizes_[last_].record(ms);
  }

  /** Threads one-row steps (a single sequence's decode) run on now. */
  int decode() const { return sizes_[0].current(); }

 private:
  static constexpr int kSizes = static_cast<int>(kEachUpTo) + 1;

  static int size_of(int64_t rows) {
    if (rows < 1 || rows > kMaxRows) return -1;
    return static_cast<int>(rows <= kEachUpTo ? rows - 1 : kEachUpTo);
  }

  ThreadChooser sizes_[kSizes];
  int last_ = -1;
};

}  // namespace rlm
