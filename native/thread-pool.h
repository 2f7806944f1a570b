#pragma once
// A persistent pool of worker threads. run() splits [0, n) into fixed contiguous ranges,
// one per thread, and blocks until all are done. Which thread computes an item never
// changes what is computed for it: kernels keep each output's reduction inside one item.
#include <condition_variable>
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

  /** Calls fn(begin, end, thread) over a partition of [0, n); the caller's thread takes part. */
  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);

  int nthreads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace rlm
