// JS entry points of the model runner: `new NativeRunner(desc, capacity, kvF16, threads)`,
// `runner.forward(...) -> Promise<Float32Array>` computed on a libuv worker that drives the
// runner's own thread pool (the event loop stays free), `runner.close()`, `runner.info()`.
// The model description holds Uint8Array views of the mapped file; the runner keeps a
// reference to it so the mapping outlives every forward.
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <cmath>
#include <string>
#include <utility>

#include "runner.h"

namespace rlm {

namespace {

bool throw_error(Napi::Env env, const std::string& msg) {
  Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

bool get_number(Napi::Object o, const char* key, double* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return throw_error(o.Env(), std::string("runner description: ") + key + " must be a number");
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

/** An optional softcap: absent gives 0 (none); otherwise a finite number above 0. */
bool get_softcap(Napi::Object o, const char* key, float* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  const double c = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(std::isfinite(c) && c > 0)) return throw_error(o.Env(), std::string("runner description: ") + key + " must be a finite number above 0");
  *out = static_cast<float>(c);
  return true;
}

/** A Float64Array of `want` inverse frequencies. */
bool get_inv_freq(Napi::Object o, const char* key, int64_t want, std::vector<double>* out) {
  Napi::Value inv = o.Get(key);
  if (!inv.IsTypedArray() || inv.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      static_cast<int64_t>(inv.As<Napi::Float64Array>().ElementLength()) != want) {
    return throw_error(o.Env(), std::string("runner description: ") + key + " must be a Float64Array of ropeDim/2 values");
  }
  Napi::Float64Array f = inv.As<Napi::Float64Array>();
  out->assign(f.Data(), f.Data() + f.ElementLength());
  return true;
}

bool get_int(Napi::Object o, const char* key, int64_t* out) {
  double d;
  if (!get_number(o, key, &d)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

/** A Float32Array (copied: norms and biases are small); absent/undefined gives empty. */
bool get_vector(Napi::Object o, const char* key, std::vector<float>* out, int64_t want, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return true;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    return throw_error(o.Env(), std::string("runner description: ") + key + " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != want) {
    return throw_error(o.Env(), std::string("runner description: ") + key + " has " + std::to_string(a.ElementLength()) +
                                    " values, expected " + std::to_string(want));
  }
  out->assign(a.Data(), a.Data() + a.ElementLength());
  return true;
}

/** A q or k norm: one head's (head_dim values) or the whole projection's (OLMoE); absent gives empty. */
bool get_norm(Napi::Object o, const char* key, std::vector<float>* out, int64_t head, int64_t whole) {
  Napi::Value v = o.Get(key);
  if (v.IsTypedArray() && static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength()) == whole) return get_vector(o, key, out, whole, true);
  return get_vector(o, key, out, head, true);
}

/** {type, rows, cols, bytes: Uint8Array} -> a view used in place. */
bool get_weight(Napi::Object o, const char* key, int64_t rows, int64_t cols, WeightView* out) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) return throw_error(env, std::string("runner description: missing weight ") + key);
  Napi::Object w = v.As<Napi::Object>();
  int64_t type, r, c;
  if (!get_int(w, "type", &type) || !get_int(w, "rows", &r) || !get_int(w, "cols", &c)) return false;
  Napi::Value b = w.Get("bytes");
  if (!b.IsTypedArray() || b.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return throw_error(env, std::string("runner description: ") + key + ".bytes must be a Uint8Array");
  }
  Napi::Uint8Array bytes = b.As<Napi::Uint8Array>();
  int block_size = 0, block_bytes = 0;
  if (!wtype_info(static_cast<int>(type), &block_size, &block_bytes)) {
    return throw_error(env, std::string(key) + ": weight type " + std::to_string(type) + " is not supported by the native kernels");
  }
  if (r != rows || c != cols) {
    return throw_error(env, std::string(key) + ": shape [" + std::to_string(r) + ", " + std::to_string(c) + "], expected [" +
                                std::to_string(rows) + ", " + std::to_string(cols) + "]");
  }
  if (c % block_size != 0) return throw_error(env, std::string(key) + ": row length is not a whole number of blocks");
  const size_t row_bytes = static_cast<size_t>(c / block_size) * static_cast<size_t>(block_bytes);
  if (bytes.ByteLength() != row_bytes * static_cast<size_t>(r)) return throw_error(env, std::string(key) + ": byte length does not match its shape");
  out->data = bytes.Data();
  out->type = static_cast<WType>(type);
  out->rows = r;
  out->cols = c;
  out->row_bytes = row_bytes;
  return true;
}

bool read_desc(Napi::Object d, ModelDesc* m) {
  int64_t heads, kv_heads, head_dim;
  if (!get_int(d, "vocab", &m->vocab) || !get_int(d, "hidden", &m->hidden) || !get_int(d, "ffn", &m->ffn) ||
      !get_int(d, "heads", &heads) || !get_int(d, "kvHeads", &kv_heads) || !get_int(d, "headDim", &head_dim) ||
      !get_number(d, "eps", &m->eps)) {
    return false;
  }
  Napi::Env env = d.Env();
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || head_dim <= 0 || head_dim % 2 != 0) {
    return throw_error(env, "runner description: bad head counts");
  }
  m->heads = static_cast<int>(heads);
  m->kv_heads = static_cast<int>(kv_heads);
  m->head_dim = static_cast<int>(head_dim);
  m->interleaved = d.Get("interleaved").ToBoolean().Value();
  m->rope_dim = static_cast<int>(head_dim);
  if (!d.Get("ropeDim").IsUndefined()) {
    int64_t rd;
    if (!get_int(d, "ropeDim", &rd)) return false;
    if (rd < 2 || rd > head_dim || rd % 2 != 0) return throw_error(env, "runner description: ropeDim must be even, from 2 to headDim");
    m->rope_dim = static_cast<int>(rd);
  }
  if (!d.Get("ropeScale").IsUndefined()) {
    if (!get_number(d, "ropeScale", &m->rope_scale)) return false;
    if (!(std::isfinite(m->rope_scale) && m->rope_scale > 0)) return throw_error(env, "runner description: ropeScale must be a finite number above 0");
  }
  if (!get_inv_freq(d, "invFreq", m->rope_dim / 2, &m->inv_freq)) return false;
  if (!d.Get("invFreqLocal").IsUndefined() && !get_inv_freq(d, "invFreqLocal", m->rope_dim / 2, &m->inv_freq_local)) return false;
  Napi::Value act = d.Get("activation");
  if (!act.IsUndefined()) {
    const std::string a = act.IsString() ? act.As<Napi::String>().Utf8Value() : "";
    if (a != "silu" && a != "gelu_tanh") return throw_error(env, "runner description: activation must be silu or gelu_tanh");
    m->gelu = a == "gelu_tanh";
  }
  if (!get_softcap(d, "attnSoftcap", &m->attn_softcap) || !get_softcap(d, "finalSoftcap", &m->final_softcap)) return false;
  Napi::Value moe = d.Get("moe");
  if (!moe.IsUndefined()) {
    if (!moe.IsObject()) return throw_error(env, "runner description: moe must be an object");
    Napi::Object mo = moe.As<Napi::Object>();
    int64_t experts, used, ffn;
    if (!get_int(mo, "experts", &experts) || !get_int(mo, "used", &used) || !get_int(mo, "expertFfn", &ffn)) return false;
    if (experts < 1 || experts > 4096 || used < 1 || used > experts || used > 64 || ffn < 1) {
      return throw_error(env, "runner description: moe needs 1 to 4096 experts, 1 to 64 (and at most experts) used, and a width from 1");
    }
    m->n_expert = static_cast<int>(experts);
    m->n_expert_used = static_cast<int>(used);
    m->expert_ffn = ffn;
    m->norm_topk = mo.Get("normTopK").ToBoolean().Value();
    if (!mo.Get("sharedFfn").IsUndefined()) {
      if (!get_int(mo, "sharedFfn", &m->shared_ffn)) return false;
      if (m->shared_ffn < 1) return throw_error(env, "runner description: moe.sharedFfn must be at least 1");
    }
  }
  const int64_t h = m->hidden, qd = heads * head_dim, kvd = kv_heads * head_dim;
  if (!get_weight(d, "embed", m->vocab, h, &m->embed) || !get_weight(d, "output", m->vocab, h, &m->output) ||
      !get_vector(d, "outputNorm", &m->output_norm, h, false)) {
    return false;
  }
  Napi::Value mv = d.Get("multipliers");
  if (!mv.IsUndefined()) {
    if (!mv.IsObject()) return throw_error(env, "runner description: multipliers must be an object");
    Napi::Object mo = mv.As<Napi::Object>();
    double e, a, r, l;
    if (!get_number(mo, "embedding", &e) || !get_number(mo, "attention", &a) || !get_number(mo, "residual", &r) ||
        !get_number(mo, "logit", &l)) {
      return false;
    }
    if (!(std::isfinite(e) && std::isfinite(a) && a > 0 && std::isfinite(r) && std::isfinite(l) && l != 0)) {
      return throw_error(env, "runner description: multipliers must be finite, attention above 0 and logit not 0");
    }
    m->embed_scale = static_cast<float>(e);
    m->attn_scale = static_cast<float>(a);
    m->residual_scale = static_cast<float>(r);
    m->logit_scale = static_cast<float>(l);
  }
  Napi::Value lv = d.Get("layers");
  if (!lv.IsArray()) return throw_error(env, "runner description: layers must be an array");
  Napi::Array layers = lv.As<Napi::Array>();
  m->layers.resize(layers.Length());
  for (uint32_t i = 0; i < layers.Length(); i++) {
    Napi::Object l = layers.Get(i).As<Napi::Object>();
    LayerDesc& L = m->layers[i];
    if (!get_vector(l, "attnNorm", &L.attn_norm, h, false) || !get_vector(l, "ffnNorm", &L.ffn_norm, h, false) ||
        !get_vector(l, "qBias", &L.q_bias, qd, true) || !get_vector(l, "kBias", &L.k_bias, kvd, true) ||
        !get_vector(l, "vBias", &L.v_bias, kvd, true) || !get_norm(l, "qNorm", &L.q_norm, head_dim, qd) ||
        !get_norm(l, "kNorm", &L.k_norm, head_dim, kvd) || !get_vector(l, "postAttnNorm", &L.post_attn_norm, h, true) ||
        !get_vector(l, "postFfnNorm", &L.post_ffn_norm, h, true) || !get_weight(l, "q", qd, h, &L.q) ||
        !get_weight(l, "k", kvd, h, &L.k) || !get_weight(l, "v", kvd, h, &L.v) || !get_weight(l, "o", h, qd, &L.o)) {
      return false;
    }
    if (m->n_expert == 0) {
      if (!get_weight(l, "gate", m->ffn, h, &L.gate) || !get_weight(l, "up", m->ffn, h, &L.up) ||
          !get_weight(l, "down", h, m->ffn, &L.down)) {
        return false;
      }
    } else {
      // Each stack [experts, rows, cols] comes as one [experts * rows, cols] matrix, cut here.
      const int64_t E = m->n_expert, f = m->expert_ffn;
      WeightView g, u, dn;
      if (!get_weight(l, "router", E, h, &L.router) || !get_weight(l, "gateExps", E * f, h, &g) ||
          !get_weight(l, "upExps", E * f, h, &u) || !get_weight(l, "downExps", E * h, f, &dn)) {
        return false;
      }
      const int64_t fs = m->shared_ffn;
      if (fs > 0 && (!get_vector(l, "sharedGateInp", &L.shared_gate_inp, h, false) || !get_weight(l, "sharedGate", fs, h, &L.shared_gate) ||
                     !get_weight(l, "sharedUp", fs, h, &L.shared_up) || !get_weight(l, "sharedDown", h, fs, &L.shared_down))) {
        return false;
      }
      for (int64_t e = 0; e < E; e++) {
        const auto cut = [e](WeightView w, int64_t rows) {
          w.data += static_cast<size_t>(e * rows) * w.row_bytes;
          w.rows = rows;
          return w;
        };
        L.exp_gate.push_back(cut(g, f));
        L.exp_up.push_back(cut(u, f));
        L.exp_down.push_back(cut(dn, h));
      }
    }
    Napi::Value rv = l.Get("rope");
    if (!rv.IsUndefined() && !rv.IsBoolean()) return throw_error(env, "runner description: a layer's rope must be a boolean");
    L.rope = rv.IsUndefined() || rv.As<Napi::Boolean>().Value();
    Napi::Value wv = l.Get("window");
    if (!wv.IsUndefined()) {
      const double w = wv.IsNumber() ? wv.As<Napi::Number>().DoubleValue() : -1;
      if (!(w >= 0 && w <= 2147483647.0 && w == std::floor(w))) {
        return throw_error(env, "runner description: a layer's window must be a whole number from 0");
      }
      L.window = static_cast<int64_t>(w);
    }
  }
  return true;
}

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
                        InstanceMethod<&NativeRunner::Info>("info")});
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
    if (close_pending_) Release();
  }

  Runner* runner() { return runner_.get(); }

 private:
  class ForwardWorker;

  Napi::Value Forward(const Napi::CallbackInfo& info);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (busy_) close_pending_ = true;
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
};

class NativeRunner::ForwardWorker : public Napi::AsyncWorker {
 public:
  // `into`: the caller's Float32Array to write the logits into (its first rows x vocab
  // floats), or empty for a fresh array. Reusing one keeps a long generation from piling up
  // logits arrays that V8 does not count (external memory) and so collects late.
  ForwardWorker(Napi::Env env, NativeRunner* owner, StepInput in, Napi::Float32Array into)
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
    self_ = Napi::Persistent(owner->Value());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (failed_) return;  // the error is already set
    try {
      owner_->runner()->forward(in_, out_data_);
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
  Napi::Reference<Napi::Float32Array> out_;
  Napi::ObjectReference self_;  // keeps the runner alive while the step runs
  float* out_data_ = nullptr;
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
  auto* worker = new ForwardWorker(env, this, std::move(in), into);
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
