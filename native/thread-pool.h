#pragma once
// A persistent pool of worker threads. run() splits [0, n) into fixed contiguous ranges,
// a few per thread, which the threads claim as they go, and blocks until all are done. Which
// thread computes an item never changes what is computed for it: kernels keep each output's
// reduction inside one item. Several small ranges rather than one per thread: when another
// process takes a core and the OS parks one of our threads, the others take its share
// instead of waiting out its time slice.
//
// Workers spin briefly (about spin_us microseconds) after each job before they sleep, so
// the back-to-back calls of a decode step do not pay a wake-up each; the caller spins
// likewise while it waits for the others to finish. Briefly: 20 us covers the gaps inside a
// decode step, while a spin of 200 us made a worker a thread that always wants a core, and
// beside another busy process two threads decoded at 0.82x the speed of one (now 1.03x;
// smollm2-135m q8_0, 2 cores, tools/contention/run.mjs).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rlm {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return nthreads_; }

  /**
   * Threads that take part in later runs: the first k (at least 1, at most size()); the
   * others stay asleep. Not to be called while a run is in progress.
   */
  void set_active(int k) { active_.store(k < 1 ? 1 : (k > nthreads_ ? nthreads_ : k)); }
  int active() const { return active_.load(); }

  /**
   * Calls fn(begin, end, thread) over a partition of [0, n) into ranges(n) ranges; thread
   * (0 for the caller, below size()) says which thread runs it, so that fn may use
   * per-thread scratch, and no two calls with the same thread run at once. The caller's
   * thread takes part. One run at a time (concurrent callers queue); fn must not call run()
   * on the same pool.
   */
  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

  /** Ranges per thread, when there are items enough. */
  static constexpr int kRangesPerThread = 4;

  /** How many ranges run() cuts [0, n) into. */
  int64_t ranges(int64_t n) const {
    const int64_t r = static_cast<int64_t>(active_.load()) * kRangesPerThread;
    return n < r ? n : r;
  }

  /** Range c of `count` always covers [n * c / count, n * (c + 1) / count). */
  static int64_t range_begin(int64_t n, int64_t c, int64_t count) { return n * c / count; }

  /** The number of hardware threads (at least 1): the default pool size. */
  static int hardware_threads();

  /** How long idle workers spin before sleeping (microseconds; default 20). */
  void set_spin_us(int us) { spin_us_.store(us < 0 ? 0 : us); }

 private:
  void worker(int index);
  void claim_and_run(int thread);

  int nthreads_;
  std::atomic<int> active_{1};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::mutex run_mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_ranges_ = 0;
  std::atomic<uint64_t> generation_{0};
  // The job's range count (high half) and the next range to claim (low half), in one word:
  // a worker that wakes late for an earlier job can never pair that job's count with this
  // job's claims.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> spin_us_{20};
};

}  // namespace rlm
