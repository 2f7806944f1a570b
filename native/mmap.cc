#include "mmap.h"

#include "file-pages.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace {

struct Mapping {
  void* addr;
  size_t len;
};

// The live mappings by start address, for release_file_pages.
std::mutex g_maps_mu;
std::map<uintptr_t, size_t> g_maps;

void Unmap(Napi::Env /*env*/, void* /*data*/, Mapping* m) {
#ifndef _WIN32
  if (m->len > 0) {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps.erase(reinterpret_cast<uintptr_t>(m->addr));
    munmap(m->addr, m->len);
  }
#endif
  delete m;
}

}  // namespace

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "mapFile(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
#ifdef _WIN32
  Napi::Error::New(env, "mapFile is not supported on this platform").ThrowAsJavaScriptException();
  return env.Undefined();
#else
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    Napi::Error::New(env, path + ": " + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    Napi::Error::New(env, path + ": " + std::strerror(e)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t len = static_cast<size_t>(st.st_size);
  if (len == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  // MAP_PRIVATE + PROT_WRITE: a stray write from JS copies the page instead of faulting.
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) {
    Napi::Error::New(env, path + ": mmap failed: " + std::strerror(e)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* m = new Mapping{addr, len};
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps[reinterpret_cast<uintptr_t>(addr)] = len;
  }
  return Napi::ArrayBuffer::New(env, addr, len, Unmap, m);
#endif
}

namespace rlm {

size_t release_file_pages(const void* p, size_t n) {
#ifdef _WIN32
  (void)p;
  (void)n;
  return 0;
#else
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_maps_mu);
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
