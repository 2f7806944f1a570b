#include "file-pages.h"

#include <cstdint>
#include <map>
#include <mutex>

#ifndef _WIN32
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace rlm {
namespace {

// The live mappings by start address.
std::mutex g_mu;
std::map<uintptr_t, size_t> g_maps;

}  // namespace

void note_mapping(void* addr, size_t len) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_maps[reinterpret_cast<uintptr_t>(addr)] = len;
}

void forget_mapping(void* addr) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_maps.erase(reinterpret_cast<uintptr_t>(addr));
}

size_t release_file_pages(const void* p, size_t n) {
#ifdef _WIN32
  (void)p;
  (void)n;
  return 0;
#else
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_maps.upper_bound(a);
  if (it == g_maps.begin()) return 0;
  --it;
  if (a + n > it->first + it->second) return 0;  // not inside one mapping: heap memory, say
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (a + page - 1) & ~(page - 1);
  const uintptr_t hi = (a + n) & ~(page - 1);
  if (hi <= lo) return 0;
  // The file is never written through the mapping, so its pages are the file's bytes and
  // dropping them loses nothing.
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) != 0) return 0;
  return hi - lo;
#endif
}

}  // namespace rlm
