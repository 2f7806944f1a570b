// JS entry points of the model runner: `new NativeRunner(desc, capacity, kvF16, threads)` (the
// description read by runner-desc.cc), `runner.forward(...) -> Promise<Float32Array>` computed on a libuv worker that drives the
// runner's own thread pool (the event loop stays free), `runner.close()`, `runner.info()`.
// The model description holds Uint8Array views of the mapped file; the runner keeps a
// reference to it so the mapping outlives every forward.
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "runner.h"
#include "runner-desc.h"

namespace rlm {

namespace {

bool get_i32(const Napi::Value& v, const char* what, std::vector<int32_t>* out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    return throw_error(v.Env(), std::string("forward: ") + what + " must be an Int32Array");
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  out->assign(a.Data(), a.Data() + a.ElementLength());
  return true;
}

}  // namespace

class NativeRunner : public Napi::ObjectWrap<NativeRunner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRunner",
                       {InstanceMethod<&NativeRunner::Forward>("forward"), InstanceMethod<&NativeRunner::Close>("close"),
                        InstanceMethod<&NativeRunner::Info>("info"), InstanceMethod<&NativeRunner::ExportKv>("exportKv"),
                        InstanceMethod<&NativeRunner::ImportKv>("importKv")});
  }

  explicit NativeRunner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRunner>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsObject() || !info[1].IsNumber() || !info[3].IsNumber()) {
      throw_error(env, "new NativeRunner(desc, capacity, kvF16, threads)");
      return;
    }
    ModelDesc desc;
    if (!read_desc(info[0].As<Napi::Object>(), &desc)) return;
    const int64_t capacity = info[1].As<Napi::Number>().Int64Value();
    const int threads = info[3].As<Napi::Number>().Int32Value();
    if (capacity <= 0 || capacity > INT32_MAX) {
      throw_error(env, "KV capacity must be a positive 32-bit slot count");
      return;
    }
    try {
      runner_ = std::make_unique<Runner>(std::move(desc), capacity, info[2].ToBoolean().Value(), threads < 1 ? 1 : threads);
    } catch (const std::exception& e) {
      throw_error(env, std::string("cannot create the native runner: ") + e.what());
      return;
    }
    desc_ = Napi::Persistent(info[0].As<Napi::Object>());
  }

  // Called from the worker when a forward ends on the JS thread.
  void Finished() {
    busy_ = false;
    if (close_pending_ && io_pending_ == 0) Release();
  }

  // Called when a KV copy ends on the JS thread.
  void IoFinished() {
    io_pending_--;
    if (close_pending_ && !busy_ && io_pending_ == 0) Release();
  }

  Runner* runner() { return runner_.get(); }

 private:
  class ForwardWorker;
  class KvIoWorker;

  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ExportKv(const Napi::CallbackInfo& info);
  Napi::Value ImportKv(const Napi::CallbackInfo& info);
  Napi::Value KvIo(const Napi::CallbackInfo& info, bool out);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (busy_ || io_pending_ > 0) close_pending_ = true;
    else Release();
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", runner_ ? runner_->threads() : 0);
    o.Set("decodeThreads", runner_ ? runner_->decode_threads() : 0);
    o.Set("kvBytes", static_cast<double>(runner_ ? runner_->kv_bytes() : 0));
    o.Set("matmul", simd_path());
    o.Set("packedBytes", static_cast<double>(runner_ ? runner_->packed_bytes() : 0));
    o.Set("releasedBytes", static_cast<double>(runner_ ? runner_->released_bytes() : 0));
    o.Set("ops", ops_path());
    return o;
  }

  void Release() {
    runner_.reset();
    if (!desc_.IsEmpty()) desc_.Reset();
  }

  std::unique_ptr<Runner> runner_;
  Napi::ObjectReference desc_;
  bool busy_ = false;
  bool close_pending_ = false;
  int io_pending_ = 0;
};

// exportKv(slots) -> Promise<Uint8Array> and importKv(slots, bytes) -> Promise<void>: a
// token-major copy of the slots' K and V (runner-kv.cc) on a libuv worker, off the event loop
// and off the runner's compute threads; the caller keeps the slots out of every forward pass
// until it settles.
class NativeRunner::KvIoWorker : public Napi::AsyncWorker {
 public:
  KvIoWorker(Napi::Env env, NativeRunner* owner, std::vector<int32_t> slots, Napi::Uint8Array in)
      : Napi::AsyncWorker(env, "radixlm.kv"), owner_(owner), slots_(std::move(slots)), deferred_(Napi::Promise::Deferred::New(env)) {
    const size_t len = slots_.size() * owner->runner()->kv_token_bytes();
    if (in.IsEmpty()) {
      out_ = Napi::Persistent(Napi::Uint8Array::New(env, len));
      data_ = out_.Value().Data();
    } else {
      in_ = Napi::Persistent(in);
      data_ = in.Data();
    }
    self_ = Napi::Persistent(owner->Value());
    owner->io_pending_++;
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (out_.IsEmpty()) owner_->runner()->import_kv(slots_.data(), slots_.size(), data_);
    else owner_->runner()->export_kv(slots_.data(), slots_.size(), data_);
  }

  void OnOK() override {
    Napi::Value v = out_.IsEmpty() ? Env().Undefined() : out_.Value();
    owner_->IoFinished();
    deferred_.Resolve(v);
  }

  void OnError(const Napi::Error& e) override {
    owner_->IoFinished();
    deferred_.Reject(e.Value());
  }

 private:
  NativeRunner* owner_;
  std::vector<int32_t> slots_;
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Uint8Array> out_, in_;
  Napi::ObjectReference self_;
  uint8_t* data_ = nullptr;
};

Napi::Value NativeRunner::ExportKv(const Napi::CallbackInfo& info) { return KvIo(info, true); }
Napi::Value NativeRunner::ImportKv(const Napi::CallbackInfo& info) { return KvIo(info, false); }

Napi::Value NativeRunner::KvIo(const Napi::CallbackInfo& info, bool out) {
  Napi::Env env = info.Env();
  if (!runner_ || close_pending_) {
    throw_error(env, "runner is closed");
    return env.Undefined();
  }
  std::vector<int32_t> slots;
  if (info.Length() < (out ? 1u : 2u) || !get_i32(info[0], "slots", &slots)) {
    if (!env.IsExceptionPending()) throw_error(env, out ? "exportKv(slots)" : "importKv(slots, bytes)");
    return env.Undefined();
  }
  const std::string err = runner_->check_slots(slots.data(), slots.size());
  if (!err.empty()) {
    throw_error(env, err);
    return env.Undefined();
  }
  Napi::Uint8Array in;
  if (!out) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[1].As<Napi::Uint8Array>().ElementLength() != slots.size() * runner_->kv_token_bytes()) {
      throw_error(env, "importKv: bytes must be a Uint8Array of slots.length x the KV bytes per token");
      return env.Undefined();
    }
    in = info[1].As<Napi::Uint8Array>();
  }
  auto* worker = new KvIoWorker(env, this, std::move(slots), in);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

class NativeRunner::ForwardWorker : public Napi::AsyncWorker {
 public:
  // `into`: the caller's Float32Array to write the logits into (its first rows x vocab
  // floats), or empty for a fresh array. Reusing one keeps a long generation from piling up
  // logits arrays that V8 does not count (external memory) and so collects late.
  // `hidden`: the caller's Float32Array for the hidden rows (hidden_rows x hidden floats,
  // checked by the caller), held until the step is done.
  ForwardWorker(Napi::Env env, NativeRunner* owner, StepInput in, Napi::Float32Array into, Napi::Float32Array hidden)
      : Napi::AsyncWorker(env, "radixlm.forward"),
        owner_(owner),
        in_(std::move(in)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    const size_t len = in_.logit_rows.size() * static_cast<size_t>(owner->runner()->model().vocab);
    if (!into.IsEmpty() && into.ElementLength() >= len && len > 0) {
      out_data_ = into.Data();
      out_ = Napi::Persistent(Napi::Float32Array::New(env, len, into.ArrayBuffer(), into.ByteOffset()));
    } else {
      // Uninitialized memory the forward fills whole (Float32Array::New would zero it first).
      auto* data = static_cast<float*>(std::malloc(len > 0 ? len * sizeof(float) : 1));
      if (data == nullptr) {
        failed_ = true;
        SetError("native forward: out of memory for the logits");
      } else {
        Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, data, len * sizeof(float), [](Napi::Env, void* p) { std::free(p); });
        out_data_ = data;
        out_ = Napi::Persistent(Napi::Float32Array::New(env, len, buf, 0));
      }
    }
    if (!hidden.IsEmpty()) {
      hidden_data_ = hidden.Data();
      hidden_ = Napi::Persistent(hidden);
    }
    self_ = Napi::Persistent(owner->Value());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (failed_) return;  // the error is already set
    try {
      owner_->runner()->forward(in_, out_data_, hidden_data_);
    } catch (const std::exception& e) {
      SetError(std::string("native forward failed: ") + e.what());
    }
  }

  void OnOK() override {
    owner_->Finished();
    deferred_.Resolve(out_.Value());
  }

  void OnError(const Napi::Error& e) override {
    owner_->Finished();
    deferred_.Reject(e.Value());
  }

 private:
  NativeRunner* owner_;
  StepInput in_;
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Float32Array> out_, hidden_;
  Napi::ObjectReference self_;  // keeps the runner alive while the step runs
  float* out_data_ = nullptr;
  float* hidden_data_ = nullptr;
  bool failed_ = false;
};

Napi::Value NativeRunner::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!runner_ || close_pending_) {
    throw_error(env, "runner is closed");
    return env.Undefined();
  }
  if (busy_) {
    throw_error(env, "forward: the previous step is still running");
    return env.Undefined();
  }
  if (info.Length() < 7) {
    throw_error(env, "forward(tokens, positions, seqStart, seqCount, slotOffset, slots, logitRows)");
    return env.Undefined();
  }
  StepInput in;
  std::vector<int32_t> offsets;
  if (!get_i32(info[0], "tokens", &in.tokens) || !get_i32(info[1], "positions", &in.positions) ||
      !get_i32(info[2], "seqStart", &in.seq_start) || !get_i32(info[3], "seqCount", &in.seq_count) ||
      !get_i32(info[4], "slotOffset", &offsets) || !get_i32(info[5], "slots", &in.slots) ||
      !get_i32(info[6], "logitRows", &in.logit_rows)) {
    return env.Undefined();
  }
  in.slot_offset.assign(offsets.begin(), offsets.end());
  const std::string err = runner_->check(in);
  if (!err.empty()) {
    throw_error(env, "plan: " + err);
    return env.Undefined();
  }
  Napi::Float32Array into;
  if (info.Length() > 7 && info[7].IsTypedArray() && info[7].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    into = info[7].As<Napi::Float32Array>();
  }
  // Optional: hiddenRows (Int32Array) and the Float32Array their hidden states go to.
  Napi::Float32Array hidden;
  if (info.Length() > 8 && !info[8].IsUndefined()) {
    if (!get_i32(info[8], "hiddenRows", &in.hidden_rows)) return env.Undefined();
    const std::string herr = runner_->check(in);
    if (!herr.empty()) {
      throw_error(env, "plan: " + herr);
      return env.Undefined();
    }
    const size_t need = in.hidden_rows.size() * static_cast<size_t>(runner_->model().hidden);
    if (need > 0) {
      if (info.Length() < 10 || !info[9].IsTypedArray() || info[9].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
          info[9].As<Napi::Float32Array>().ElementLength() < need) {
        throw_error(env, "forward: hiddenRows needs a Float32Array of hiddenRows.length x hidden floats");
        return env.Undefined();
      }
      hidden = info[9].As<Napi::Float32Array>();
    }
  }
  auto* worker = new ForwardWorker(env, this, std::move(in), into, hidden);
  busy_ = true;
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// setOpsPath("auto" | "scalar" | "avx2" | "neon") -> boolean: the test hook of ops.h.
Napi::Value SetOpsPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw_error(env, "setOpsPath(name: string)");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, set_ops_path(info[0].As<Napi::String>().Utf8Value().c_str()));
}

void register_runner(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRunner", NativeRunner::Define(env));
  exports.Set("setOpsPath", Napi::Function::New(env, SetOpsPath));
}

}  // namespace rlm
