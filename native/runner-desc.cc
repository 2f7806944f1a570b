// The model description a NativeRunner is built from (see runner-desc.h): numbers, norm and
// bias vectors (copied: they are small) and weight views used in place, each checked.
#include "runner-desc.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace rlm {

bool throw_error(Napi::Env env, const std::string& msg) {
  Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

namespace {

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

}  // namespace

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

}  // namespace rlm
