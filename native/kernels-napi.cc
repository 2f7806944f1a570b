// JS entry points of the kernels, for tests and benchmarks. All synchronous.
//   simdPath(): string
//   setSimdPath(name: "auto" | "scalar" | "avx2" | "neon"): boolean        (test hook)
//   matmul(weights, ggmlType, wRows, wCols, x, xRows, threads): Float32Array [xRows x wRows]
//   matmulGroup([[weights, ggmlType, wRows, wCols], ...], x, xRows, threads): Float32Array[]
//   dequantizeRow(weights, ggmlType, wRows, wCols, row, repacked): Float32Array
//   quantizeActivations(x, ggmlType, cols): Float32Array  (d * q of the 8-bit rows; tests)
//   benchMatmul(weights, ggmlType, wRows, wCols, copies, x, xRows, threads, minSeconds): number
//     (seconds per call: the best of 8 windows; each call takes the next of `copies` matrices)
//   memoryBandwidth(threads): number (GB/s)
#include <napi.h>

#include <chrono>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "bandwidth.h"
#include "cpu.h"
#include "matmul.h"
#include "quantize-act.h"
#include "repack.h"
#include "thread-chooser.h"

namespace rlm {
namespace {

// Held by every entry point that uses the shared pools and scratch (JS worker threads may
// each load the addon; they share this state).
std::mutex g_mu;

// One pool per distinct thread count, kept for the life of the process.
ThreadPool& pool_for(int threads) {
  static std::map<int, ThreadPool*> pools;
  if (threads < 1) threads = ThreadPool::hardware_threads();
  auto it = pools.find(threads);
  if (it == pools.end()) it = pools.emplace(threads, new ThreadPool(threads)).first;
  return *it->second;
}

MatmulScratch& shared_scratch() {
  static MatmulScratch s;
  return s;
}

Napi::Value fail(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool is_int(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  return d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<int64_t>(d));
}

// Reads (weights, ggmlType, wRows, wCols) from v[0..3] into a view over `copies`
// consecutive matrices; an empty string when they are valid, else why not.
std::string weight_view_of(const Napi::Value* v, int64_t copies, WeightView* w) {
  if (!v[0].IsTypedArray() || v[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return "weights must be a Uint8Array";
  for (size_t k = 1; k < 4; ++k)
    if (!is_int(v[k])) return "ggmlType, wRows and wCols must be non-negative integers";
  int bs = 0, bb = 0;
  const int type = v[1].As<Napi::Number>().Int32Value();
  if (!wtype_info(type, &bs, &bb)) return "unsupported ggml type " + std::to_string(type);
  const auto bytes = v[0].As<Napi::Uint8Array>();
  w->data = bytes.Data();
  w->type = static_cast<WType>(type);
  w->rows = v[2].As<Napi::Number>().Int64Value();
  w->cols = v[3].As<Napi::Number>().Int64Value();
  if (w->cols % bs != 0) return "wCols is not a whole number of blocks of " + std::to_string(bs);
  w->row_bytes = static_cast<size_t>(w->cols / bs) * static_cast<size_t>(bb);
  if (static_cast<double>(w->row_bytes) * static_cast<double>(w->rows) * static_cast<double>(copies) >
      static_cast<double>(bytes.ByteLength()))
    return "weights holds fewer bytes than wRows x wCols of this type";
  return "";
}

// The same, at info[i..i+3].
std::string weight_view(const Napi::CallbackInfo& info, size_t i, int64_t copies, WeightView* w) {
  const Napi::Value v[4] = {info[i], info[i + 1], info[i + 2], info[i + 3]};
  return weight_view_of(v, copies, w);
}

std::string float_rows(const Napi::Value& v, int64_t rows, int64_t cols, const float** out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    return "x must be a Float32Array";
  const auto x = v.As<Napi::Float32Array>();
  if (static_cast<double>(x.ElementLength()) < static_cast<double>(rows) * static_cast<double>(cols))
    return "x holds fewer than xRows x wCols floats";
  *out = x.Data();
  return "";
}

// The layout the runner would give w on the active path: repacked where the path wants it
// (the copy is held by `packed`), else w itself.
const WeightView& as_runner_loads(const WeightView& w, PackedMatrix* packed, ThreadPool& pool) {
  if (!repack_wanted(w.type, simd_active())) return w;
  *packed = repack_alone(w, &pool);
  return packed->view;
}

Napi::Value SimdPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), simd_path()); }

Napi::Value SetSimdPath(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return fail(info.Env(), "setSimdPath(name: string)");
  return Napi::Boolean::New(info.Env(), set_simd(info[0].As<Napi::String>().Utf8Value().c_str()));
}

// matmulGroup([[weights, ggmlType, wRows, wCols], ...], x, xRows, threads): one output per
// matrix, all of the same wCols, computed as one group (the runner's q/k/v and gate/up).
Napi::Value MatmulGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) return fail(env, "matmulGroup: the first argument must be an array of weights");
  const auto list = info[0].As<Napi::Array>();
  const uint32_t count = list.Length();
  if (count < 1 || count > 8) return fail(env, "matmulGroup: 1 to 8 matrices");
  if (!is_int(info[2]) || !is_int(info[3])) return fail(env, "matmulGroup: xRows and threads must be non-negative integers");
  const int64_t rows = info[2].As<Napi::Number>().Int64Value();
  std::vector<WeightView> ws(count);
  for (uint32_t j = 0; j < count; ++j) {
    const Napi::Value e = list.Get(j);
    if (!e.IsArray() || e.As<Napi::Array>().Length() != 4) return fail(env, "matmulGroup: each matrix is [weights, ggmlType, wRows, wCols]");
    const auto a = e.As<Napi::Array>();
    const Napi::Value v[4] = {a.Get(0u), a.Get(1u), a.Get(2u), a.Get(3u)};
    const std::string err = weight_view_of(v, 1, &ws[j]);
    if (!err.empty()) return fail(env, "matmulGroup: " + err);
    if (ws[j].cols != ws[0].cols) return fail(env, "matmulGroup: every matrix must have the same wCols");
  }
  const float* x = nullptr;
  const std::string err = float_rows(info[1], rows, ws[0].cols, &x);
  if (!err.empty()) return fail(env, "matmulGroup: " + err);
  auto outs = Napi::Array::New(env, count);
  std::vector<MatmulJob> jobs(count);
  std::vector<PackedMatrix> packed(count);
  std::lock_guard<std::mutex> lock(g_mu);
  ThreadPool& pool = pool_for(info[3].As<Napi::Number>().Int32Value());
  for (uint32_t j = 0; j < count; ++j) {
    auto out = Napi::Float32Array::New(env, static_cast<size_t>(rows * ws[j].rows));
    outs.Set(j, out);
    jobs[j] = MatmulJob{&as_runner_loads(ws[j], &packed[j], pool), out.Data()};
  }
  matmul_group(jobs.data(), static_cast<int>(count), x, rows, pool, shared_scratch());
  return outs;
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WeightView w;
  std::string err = weight_view(info, 0, 1, &w);
  if (err.empty() && (!is_int(info[5]) || !is_int(info[6]))) err = "xRows and threads must be non-negative integers";
  const float* x = nullptr;
  const int64_t rows = err.empty() ? info[5].As<Napi::Number>().Int64Value() : 0;
  if (err.empty()) err = float_rows(info[4], rows, w.cols, &x);
  if (!err.empty()) return fail(env, "matmul: " + err);
  auto out = Napi::Float32Array::New(env, static_cast<size_t>(rows * w.rows));
  std::lock_guard<std::mutex> lock(g_mu);
  ThreadPool& pool = pool_for(info[6].As<Napi::Number>().Int32Value());
  PackedMatrix packed;
  matmul(as_runner_loads(w, &packed, pool), x, rows, out.Data(), pool, shared_scratch());
  return out;
}

Napi::Value DequantizeRow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WeightView w;
  std::string err = weight_view(info, 0, 1, &w);
  if (err.empty() && (!is_int(info[4]) || info[4].As<Napi::Number>().Int64Value() >= w.rows))
    err = "row out of range";
  if (!err.empty()) return fail(env, "dequantizeRow: " + err);
  auto out = Napi::Float32Array::New(env, static_cast<size_t>(w.cols));
  const int64_t row = info[4].As<Napi::Number>().Int64Value();
  if (info[5].ToBoolean().Value()) {
    std::lock_guard<std::mutex> lock(g_mu);
    PackedMatrix packed;
    dequantize_row(as_runner_loads(w, &packed, pool_for(1)), row, out.Data());
    return out;
  }
  dequantize_row(w, row, out.Data());
  return out;
}

Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int bs = 0, bb = 0;
  if (!is_int(info[1]) || !is_int(info[2]) || !wtype_info(info[1].As<Napi::Number>().Int32Value(), &bs, &bb))
    return fail(env, "quantizeActivations(x, ggmlType, cols)");
  const ActFormat fmt = act_format(static_cast<WType>(info[1].As<Napi::Number>().Int32Value()));
  const int64_t cols = info[2].As<Napi::Number>().Int64Value();
  if (fmt == ActFormat::F32 || cols == 0 || cols % act_block(fmt) != 0)
    return fail(env, "quantizeActivations: not a quantized type, or cols not a whole number of blocks");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    return fail(env, "quantizeActivations: x must be a Float32Array");
  const auto x = info[0].As<Napi::Float32Array>();
  const int64_t rows = static_cast<int64_t>(x.ElementLength()) / cols;
  auto out = Napi::Float32Array::New(env, static_cast<size_t>(rows * cols));
  std::vector<uint8_t> buf(act_row_bytes(fmt, cols) + 64);
  uint8_t* row = buf.data() + ((64 - (reinterpret_cast<uintptr_t>(buf.data()) & 63)) & 63);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_act_row(fmt, x.Data() + r * cols, cols, row, simd_active());
    dequantize_act_row(fmt, row, cols, out.Data() + r * cols);
  }
  return out;
}

Napi::Value BenchMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_int(info[4]) || info[4].As<Napi::Number>().Int64Value() < 1) return fail(env, "benchMatmul: copies >= 1");
  const int64_t copies = info[4].As<Napi::Number>().Int64Value();
  WeightView w;
  std::string err = weight_view(info, 0, copies, &w);
  if (err.empty() && (!is_int(info[6]) || !is_int(info[7]) || !info[8].IsNumber()))
    err = "xRows, threads and minSeconds must be numbers";
  const float* x = nullptr;
  const int64_t rows = err.empty() ? info[6].As<Napi::Number>().Int64Value() : 0;
  if (err.empty()) err = float_rows(info[5], rows, w.cols, &x);
  if (!err.empty()) return fail(env, "benchMatmul: " + err);
  std::lock_guard<std::mutex> lock(g_mu);
  ThreadPool& pool = pool_for(info[7].As<Napi::Number>().Int32Value());
  const double min_s = info[8].As<Napi::Number>().DoubleValue();
  std::vector<float> out(static_cast<size_t>(rows * w.rows));
  const size_t stride = w.row_bytes * static_cast<size_t>(w.rows);
  std::vector<WeightView> views(static_cast<size_t>(copies), w);
  std::vector<PackedMatrix> packed(static_cast<size_t>(copies));
  for (int64_t k = 0; k < copies; ++k) {
    views[k].data = w.data + static_cast<size_t>(k) * stride;
    views[k] = as_runner_loads(views[k], &packed[k], pool);
  }
  auto call = [&](int64_t k) { matmul(views[k % copies], x, rows, out.data(), pool, shared_scratch()); };
  for (int64_t k = 0; k < copies; ++k) call(k);  // warm-up pass
  // Windows of about a tenth of the time each; the best window's mean, since on a shared
  // machine the slow ones measure the neighbours.
  const int windows = 8;
  double best = 1e30;
  int64_t next = 0;
  for (int wi = 0; wi < windows; ++wi) {
    int64_t calls = 0;
    double sec = 0;
    const auto t0 = std::chrono::steady_clock::now();
    do {
      call(next++);
      ++calls;
      sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (sec < min_s / windows || calls < copies);
    const double per = sec / static_cast<double>(calls);
    if (per < best) best = per;
  }
  return Napi::Number::New(env, best);
}

// Test hook: the thread counts StepThreads picks over a run of steps, where step i computes
// rows[i] rows (0: a long prefill chunk) and takes ms1[i] on 1 thread and msFull[i] on all
// `threads`.
Napi::Value SimulateThreadChooser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !is_int(info[0]) || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsTypedArray()) {
    Napi::TypeError::New(env, "simulateThreadChooser(threads, rows: Int32Array, ms1: Float64Array, msFull: Float64Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int threads = info[0].As<Napi::Number>().Int32Value();
  auto rows = info[1].As<Napi::Int32Array>();
  auto ms1 = info[2].As<Napi::Float64Array>();
  auto ms_full = info[3].As<Napi::Float64Array>();
  const size_t n = rows.ElementLength();
  if (threads < 1 || ms1.ElementLength() != n || ms_full.ElementLength() != n) {
    Napi::RangeError::New(env, "simulateThreadChooser: threads >= 1 and arrays of one length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  StepThreads chooser(threads);
  auto picks = Napi::Int32Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    const int k = chooser.pick(rows[i] > 0 ? rows[i] : 512);
    picks[i] = k;
    chooser.record(k == 1 ? ms1[i] : ms_full[i]);
  }
  return picks;
}

Napi::Value MemoryBandwidth(const Napi::CallbackInfo& info) {
  const int threads = is_int(info[0]) ? info[0].As<Napi::Number>().Int32Value() : 0;
  std::lock_guard<std::mutex> lock(g_mu);
  return Napi::Number::New(info.Env(), measure_bandwidth(pool_for(threads)));
}

}  // namespace

void register_kernels(Napi::Env env, Napi::Object exports) {
  exports.Set("simdPath", Napi::Function::New(env, SimdPath));
  exports.Set("setSimdPath", Napi::Function::New(env, SetSimdPath));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("matmulGroup", Napi::Function::New(env, MatmulGroup));
  exports.Set("dequantizeRow", Napi::Function::New(env, DequantizeRow));
  exports.Set("quantizeActivations", Napi::Function::New(env, QuantizeActivations));
  exports.Set("benchMatmul", Napi::Function::New(env, BenchMatmul));
  exports.Set("simulateThreadChooser", Napi::Function::New(env, SimulateThreadChooser));
  exports.Set("memoryBandwidth", Napi::Function::New(env, MemoryBandwidth));
}

}  // namespace rlm
