#include "mmap.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "file-pages.h"

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

void Unmap(Napi::Env /*env*/, void* /*data*/, Mapping* m) {
#ifndef _WIN32
  if (m->len > 0) {
    rlm::forget_mapping(m->addr);
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
  rlm::note_mapping(addr, len);
  return Napi::ArrayBuffer::New(env, addr, len, Unmap, m);
#endif
}
