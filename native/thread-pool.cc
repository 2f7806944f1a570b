#include "thread-pool.h"

#include <chrono>


#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RLM_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define RLM_PAUSE() __asm__ __volatile__("yield")
#else
#define RLM_PAUSE() std::this_thread::yield()
#endif

namespace rlm {

ThreadPool::ThreadPool(int threads) : nthreads_(threads < 1 ? 1 : threads), active_(threads < 1 ? 1 : threads) {
  threads_.reserve(nthreads_ - 1);
  for (int i = 1; i < nthreads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

// Polls `done` for about `us` microseconds; true as soon as it holds.
template <class F>
bool spin_until(int us, F done) {
  if (done()) return true;
  if (us == 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      RLM_PAUSE();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

// Ranges are claimed, not owned: taken from an atomic counter by whichever thread asks
// first (the caller included), so a worker that the OS has not scheduled yet, or has parked
// for another process, delays nothing but the one range it holds.
void ThreadPool::claim_and_run(int thread) {
  for (;;) {
    const uint64_t v = claim_.fetch_add(1, std::memory_order_acq_rel);
    const int64_t count = static_cast<int64_t>(v >> 32);
    const int64_t c = static_cast<int64_t>(v & 0xffffffffu);
    if (c >= count) return;
    const int64_t n = job_n_;
    const int64_t b = range_begin(n, c, count);
    const int64_t e = range_begin(n, c + 1, count);
    if (b < e) (*job_)(b, e, thread);
    if (done_.fetch_add(1) + 1 == count && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lk(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    const auto fresh = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(spin_us_.load(std::memory_order_relaxed), fresh)) {
      std::unique_lock<std::mutex> lk(mu_);
      sleepers_.fetch_add(1);
      start_cv_.wait(lk, [&] { return generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    if (index < active_.load()) claim_and_run(index);
  }
}

void ThreadPool::run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (active_.load() == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  job_ = &fn;
  job_n_ = n;
  job_ranges_ = ranges(n);
  done_.store(0);
  claim_.store(static_cast<uint64_t>(job_ranges_) << 32, std::memory_order_release);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lk(mu_);
    start_cv_.notify_all();
  }
  claim_and_run(0);
  const int64_t count = job_ranges_;
  const auto finished = [&] { return done_.load(std::memory_order_acquire) == count; };
  if (!spin_until(spin_us_.load(std::memory_order_relaxed), finished)) {
    std::unique_lock<std::mutex> lk(mu_);
    caller_sleeping_.store(true);
    done_cv_.wait(lk, [&] { return done_.load() == count; });
    caller_sleeping_.store(false);
  }
  job_ = nullptr;
}

}  // namespace rlm
