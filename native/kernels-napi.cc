// JS entry points of the kernels (tests and benchmarks). STUB: to be written.
#include <napi.h>

namespace rlm {
void register_kernels(Napi::Env /*env*/, Napi::Object /*exports*/) {}
}  // namespace rlm
