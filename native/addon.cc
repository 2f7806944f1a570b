#include <napi.h>

#include "mmap.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  return exports;
}

NODE_API_MODULE(radixlm_native, Init)
