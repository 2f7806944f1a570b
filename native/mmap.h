#pragma once
#include <napi.h>

// mapFile(path) -> ArrayBuffer over a private, read-mostly mapping of the whole file.
// Weights are used in place from it; the mapping goes away when the buffer is collected.
Napi::Value MapFile(const Napi::CallbackInfo& info);
