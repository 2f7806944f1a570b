#pragma once
// Reads the model description a NativeRunner is built from (src/kernels/native.ts's
// NativeModelDesc) into a ModelDesc, checking every field against the shapes it implies.
#include <napi.h>

#include <string>

#include "runner.h"

namespace rlm {

/** Throws a JavaScript Error with `msg` and returns false, for `return throw_error(...)`. */
bool throw_error(Napi::Env env, const std::string& msg);

/** Fills `m` from `d`; on a bad field throws a JavaScript Error naming it and returns false. */
bool read_desc(Napi::Object d, ModelDesc* m);

}  // namespace rlm
