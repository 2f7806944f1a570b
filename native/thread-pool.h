#pragma once
// A persistent pool of worker threads. run() splits [0, n) into fixed contiguous ranges,
// one per thread, and blocks until all are done. Which thread computes an item never
// changes what is computed for it: kernels keep each output's reduction inside one item.
//
// Workers spin briefly (about spin_us microseconds) after each job before they sleep, so
// the back-to-back calls of a decode step do not pay a wake-up each; the caller spins
// likewise while it waits for the others to finish.
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
   * Calls fn(begin, end, thread) over a partition of [0, n); the caller's thread takes part.
   * One run at a time (concurrent callers queue); fn must not call run() on the same pool.
   */
  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

  /** Thread t of size() always gets [n * t / size(), n * (t + 1) / size()); thread 0 is the caller. */
  static int64_t range_begin(int64_t n, int t, int threads) { return n * t / threads; }

  /** The number of hardware threads (at least 1): the default pool size. */
  static int hardware_threads();

  /** How long idle workers spin before sleeping (microseconds; default 200). */
  void set_spin_us(int us) { spin_us_.store(us < 0 ? 0 : us); }

 private:
  void worker(int index);
  void claim_and_run();

  int nthreads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::mutex run_mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> next_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> spin_us_{200};
};

}  // namespace rlm
