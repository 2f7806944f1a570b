// JS entry points of the model runner. STUB: to be written.
#include <napi.h>

namespace rlm {
void register_runner(Napi::Env /*env*/, Napi::Object /*exports*/) {}
}  // namespace rlm
