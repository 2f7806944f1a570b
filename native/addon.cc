// The radixlm native addon: each part registers its functions here.
#include <napi.h>

#include "mmap.h"

namespace rlm {
void register_kernels(Napi::Env env, Napi::Object exports);
void register_runner(Napi::Env env, Napi::Object exports);
}  // namespace rlm

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  rlm::register_kernels(env, exports);
  rlm::register_runner(env, exports);
  return exports;
}

NODE_API_MODULE(radixlm_native, Init)
