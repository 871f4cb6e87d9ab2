// oneDNN kernels for TF.js's wasm backend: convolution forward (bias, ReLU), backward data, backward weights (+ bias
// gradient), matmul (bias, ReLU) and the max / average pooling gradients; and the training loop's per-step dictionary
// encoding, bit for bit the JS function it replaces. Every call gets the wasm heap (a Uint8Array over the WebAssembly.Memory) and
// byte offsets of the tensors in it, and computes in place there: no copies through JS. The heap can grow (and so
// move) between calls, so nothing keeps a pointer into it past the call.
//
// Primitives are created once per shape and kept in a per-environment cache (each worker_thread that loads the addon
// has its own engine, stream, cache and scratchpads, so concurrent threads never share a scratchpad). Layouts are
// TF.js's: activations NHWC, filters HWIO, matrices row-major. Every oneDNN or validation error becomes a JS
// exception; nothing here aborts the process.
#include <napi.h>
#include <dnnl.hpp>
#include <omp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Geometry of a 2-D convolution as TF.js's computeConv2DInfo gives it (dilations as TF.js counts them: 1 = none).
struct Conv {
  int64_t n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pl, pb, pr, dh, dw;
  static constexpr int kFields = 17;
  memory::dims src() const { return {n, c, h, w}; }
  memory::dims weights() const { return {o, c, kh, kw}; }
  memory::dims dst() const { return {n, o, oh, ow}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }
  int64_t srcSize() const { return n * h * w * c; }
  int64_t weightsSize() const { return kh * kw * c * o; }
  int64_t dstSize() const { return n * oh * ow * o; }
};

// Geometry of a 2-D pooling as TF.js's computePool2DInfo gives it (no dilation).
struct Pool {
  int64_t n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr;
  static constexpr int kFields = 14;
  memory::dims src() const { return {n, c, h, w}; }
  memory::dims dst() const { return {n, c, oh, ow}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims kernel() const { return {kh, kw}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }
  int64_t srcSize() const { return n * h * w * c; }
  int64_t dstSize() const { return n * oh * ow * c; }
};

// A pooling gradient. Max pooling's backward needs the forward's workspace (where each window's maximum was), which
// TF.js's MaxPoolGrad does not carry: the forward runs again on x into memory of our own, then the backward.
struct PoolGrad {
  bool max;
  dnnl::pooling_forward::primitive_desc fwdPd;
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
  memory dst, workspace, fwdScratch, scratch;
};

// A convolution's weights as TF.js keeps them (HWIO) against the layout its primitive chose: when they differ, a
// buffer in the primitive's layout and the reorder between the two (HWIO -> primitive for weights a primitive reads,
// primitive -> HWIO for the weight gradient it writes).
struct WeightsLayout {
  bool reorder = false;
  dnnl::reorder prim;
  memory own;

  void setup(const memory::desc& primitive, const memory::desc& user, bool written, const dnnl::engine& engine) {
    reorder = primitive != user;
    if (!reorder) return;
    own = memory(primitive, engine);
    prim = written ? dnnl::reorder(dnnl::reorder::primitive_desc(engine, primitive, engine, user)) : dnnl::reorder(dnnl::reorder::primitive_desc(engine, user, engine, primitive));
  }
  // The weights a primitive reads, brought into its layout.
  memory read(dnnl::stream& stream, memory& user) {
    if (!reorder) return user;
    prim.execute(stream, user, own);
    return own;
  }
  // Where a primitive writes its weight gradient; copied to the user's array by written().
  memory target(memory& user) const { return reorder ? own : user; }
  void written(dnnl::stream& stream, memory& user) {
    if (reorder) prim.execute(stream, own, user);
  }
};

struct ConvFwd {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  WeightsLayout weights;
  memory scratch;
};

struct ConvBwdData {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
  WeightsLayout weights;
  memory scratch;
};

struct ConvBwdWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
  WeightsLayout weights;
  memory scratch;
};

struct MatMul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  memory::desc a, b, bias, c;
  memory scratch;
};

dnnl::primitive_attr makeAttr(bool relu) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return attr;
}

// The heap and the bounds every tensor must fall within.
struct Heap {
  uint8_t* base;
  size_t bytes;
  float* at(int64_t offset, int64_t elements, const char* what) const {
    if (offset < 0 || elements < 0 || offset % 4 != 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(elements) * 4 > bytes) {
      throw std::runtime_error(std::string(what) + " lies outside the wasm heap");
    }
    return reinterpret_cast<float*>(base + offset);
  }
};

class Native : public Napi::Addon<Native> {
 public:
  Native(Napi::Env env, Napi::Object exports) : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    DefineAddon(exports, {
        InstanceMethod("convForward", &Native::ConvForward),
        InstanceMethod("convBackwardData", &Native::ConvBackwardData),
        InstanceMethod("convBackwardWeights", &Native::ConvBackwardWeights),
        InstanceMethod("matmul", &Native::MatMulCall),
        InstanceMethod("poolBackward", &Native::PoolBackward),
        InstanceMethod("quantizeDictionary", &Native::QuantizeDictionary),
        InstanceMethod("setThreads", &Native::SetThreads),
        InstanceMethod("threads", &Native::Threads),
        InstanceMethod("implementations", &Native::Implementations),
        InstanceMethod("version", &Native::Version),
        InstanceMethod("clearCache", &Native::ClearCache),
    });
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  int threads_ = 1;
  std::unordered_map<std::string, std::unique_ptr<ConvFwd>> fwd_;
  std::unordered_map<std::string, std::unique_ptr<ConvBwdData>> bwdData_;
  std::unordered_map<std::string, std::unique_ptr<ConvBwdWeights>> bwdWeights_;
  std::unordered_map<std::string, std::unique_ptr<MatMul>> matmul_;
  std::unordered_map<std::string, std::unique_ptr<PoolGrad>> poolGrad_;
  std::vector<std::string> impls_;

  // OpenMP's thread count is a per-OS-thread setting: apply ours on the thread that calls in.
  void applyThreads() {
    thread_local int applied = -1;
    if (applied != threads_) {
      omp_set_num_threads(threads_);
      applied = threads_;
    }
  }

  template <typename F>
  Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, F&& f) {
    try {
      applyThreads();
      f();
      return info.Env().Undefined();
    } catch (const dnnl::error& e) {
      throw Napi::Error::New(info.Env(), std::string("oneDNN ") + op + ": " + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) + ")");
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("oneDNN ") + op + ": " + e.what());
    }
  }

  static Heap heapOf(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray()) throw std::runtime_error("argument 0 must be the wasm heap (a Uint8Array)");
    auto heap = info[0].As<Napi::Uint8Array>();
    return Heap{heap.Data(), heap.ByteLength()};
  }

  static int64_t offsetArg(const Napi::CallbackInfo& info, size_t i) {
    if (!info[i].IsNumber()) throw std::runtime_error("argument " + std::to_string(i) + " must be a heap offset");
    return info[i].As<Napi::Number>().Int64Value();
  }

  static std::vector<int64_t> intsArg(const Napi::CallbackInfo& info, size_t i, size_t count) {
    if (!info[i].IsTypedArray()) throw std::runtime_error("argument " + std::to_string(i) + " must be an Int32Array");
    auto a = info[i].As<Napi::Int32Array>();
    if (a.ElementLength() < count) throw std::runtime_error("argument " + std::to_string(i) + " is too short");
    std::vector<int64_t> v(count);
    for (size_t k = 0; k < count; k++) v[k] = a[k];
    return v;
  }

  static Conv convArg(const Napi::CallbackInfo& info, size_t i) {
    auto v = intsArg(info, i, Conv::kFields);
    Conv g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16]};
    for (int64_t d : {g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.dh, g.dw}) {
      if (d < 1) throw std::runtime_error("convolution dimensions must be positive");
    }
    for (int64_t p : {g.pt, g.pl, g.pb, g.pr}) {
      if (p < 0) throw std::runtime_error("convolution padding must not be negative");
    }
    return g;
  }

  static Pool poolArg(const Napi::CallbackInfo& info, size_t i) {
    auto v = intsArg(info, i, Pool::kFields);
    Pool g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
    for (int64_t d : {g.n, g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw}) {
      if (d < 1) throw std::runtime_error("pooling dimensions must be positive");
    }
    for (int64_t p : {g.pt, g.pl, g.pb, g.pr}) {
      if (p < 0) throw std::runtime_error("pooling padding must not be negative");
    }
    return g;
  }

  static std::string key(const char* kind, const std::vector<int64_t>& v) {
    std::string k(kind);
    for (int64_t x : v) k += ',' + std::to_string(x);
    return k;
  }

  static std::vector<int64_t> fields(const Conv& g) {
    return {g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw};
  }

  memory::desc nhwc(const memory::dims& d) { return memory::desc(d, dt::f32, tag::nhwc); }
  memory::desc hwio(const Conv& g) { return memory::desc(g.weights(), dt::f32, tag::hwio); }
  memory::desc anyWeights(const Conv& g) { return memory::desc(g.weights(), dt::f32, tag::any); }
  memory::desc biasDesc(const Conv& g) { return memory::desc({g.o}, dt::f32, tag::a); }

  dnnl::convolution_forward::primitive_desc forwardPd(const Conv& g, bool bias, bool relu) {
    auto d = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, nhwc(g.src()), anyWeights(g), biasDesc(g), nhwc(g.dst()), g.strides(), g.dilates(), g.padL(), g.padR())
                  : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, nhwc(g.src()), anyWeights(g), nhwc(g.dst()), g.strides(), g.dilates(), g.padL(), g.padR());
    return dnnl::convolution_forward::primitive_desc(d, makeAttr(relu), engine_);
  }

  void note(const std::string& k, const char* impl) { impls_.push_back(k + " -> " + impl); }

  // convForward(heap, x, w, bias (-1: none), y, geometry Int32Array[17], relu)
  Napi::Value ConvForward(const Napi::CallbackInfo& info) {
    return guarded(info, "Conv2D", [&] {
      Heap heap = heapOf(info);
      Conv g = convArg(info, 5);
      bool relu = info[6].ToBoolean();
      int64_t biasOff = offsetArg(info, 3);
      float* x = heap.at(offsetArg(info, 1), g.srcSize(), "x");
      float* w = heap.at(offsetArg(info, 2), g.weightsSize(), "filter");
      float* b = biasOff < 0 ? nullptr : heap.at(biasOff, g.o, "bias");
      float* y = heap.at(offsetArg(info, 4), g.dstSize(), "output");
      auto f = fields(g);
      f.push_back(b != nullptr);
      f.push_back(relu);
      std::string k = key("fwd", f);
      auto it = fwd_.find(k);
      if (it == fwd_.end()) {
        auto e = std::make_unique<ConvFwd>();
        e->pd = forwardPd(g, b != nullptr, relu);
        e->prim = dnnl::convolution_forward(e->pd);
        e->weights.setup(e->pd.weights_desc(), hwio(g), false, engine_);
        e->scratch = memory(e->pd.scratchpad_desc(), engine_);
        note(k, e->pd.impl_info_str());
        it = fwd_.emplace(k, std::move(e)).first;
      }
      ConvFwd& e = *it->second;
      memory wUser(hwio(g), engine_, w);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(e.pd.src_desc(), engine_, x)},
          {DNNL_ARG_DST, memory(e.pd.dst_desc(), engine_, y)},
          {DNNL_ARG_SCRATCHPAD, e.scratch},
      };
      args.emplace(DNNL_ARG_WEIGHTS, e.weights.read(stream_, wUser));
      if (b) args.emplace(DNNL_ARG_BIAS, memory(biasDesc(g), engine_, b));
      e.prim.execute(stream_, args);
      stream_.wait();
    });
  }

  // convBackwardData(heap, dy, w, dx, geometry)
  Napi::Value ConvBackwardData(const Napi::CallbackInfo& info) {
    return guarded(info, "Conv2DBackpropInput", [&] {
      Heap heap = heapOf(info);
      Conv g = convArg(info, 4);
      float* dy = heap.at(offsetArg(info, 1), g.dstSize(), "dy");
      float* w = heap.at(offsetArg(info, 2), g.weightsSize(), "filter");
      float* dx = heap.at(offsetArg(info, 3), g.srcSize(), "dx");
      std::string k = key("bwd_data", fields(g));
      auto it = bwdData_.find(k);
      if (it == bwdData_.end()) {
        auto e = std::make_unique<ConvBwdData>();
        auto hint = forwardPd(g, false, false);
        dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, nhwc(g.src()), anyWeights(g), nhwc(g.dst()), g.strides(), g.dilates(), g.padL(), g.padR());
        e->pd = dnnl::convolution_backward_data::primitive_desc(d, makeAttr(false), engine_, hint);
        e->prim = dnnl::convolution_backward_data(e->pd);
        e->weights.setup(e->pd.weights_desc(), hwio(g), false, engine_);
        e->scratch = memory(e->pd.scratchpad_desc(), engine_);
        note(k, e->pd.impl_info_str());
        it = bwdData_.emplace(k, std::move(e)).first;
      }
      ConvBwdData& e = *it->second;
      memory wUser(hwio(g), engine_, w);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_DIFF_DST, memory(e.pd.diff_dst_desc(), engine_, dy)},
          {DNNL_ARG_DIFF_SRC, memory(e.pd.diff_src_desc(), engine_, dx)},
          {DNNL_ARG_SCRATCHPAD, e.scratch},
      };
      args.emplace(DNNL_ARG_WEIGHTS, e.weights.read(stream_, wUser));
      e.prim.execute(stream_, args);
      stream_.wait();
    });
  }

  // convBackwardWeights(heap, x, dy, dw, dbias (-1: none), geometry)
  Napi::Value ConvBackwardWeights(const Napi::CallbackInfo& info) {
    return guarded(info, "Conv2DBackpropFilter", [&] {
      Heap heap = heapOf(info);
      Conv g = convArg(info, 5);
      int64_t dbOff = offsetArg(info, 4);
      float* x = heap.at(offsetArg(info, 1), g.srcSize(), "x");
      float* dy = heap.at(offsetArg(info, 2), g.dstSize(), "dy");
      float* dw = heap.at(offsetArg(info, 3), g.weightsSize(), "dw");
      float* db = dbOff < 0 ? nullptr : heap.at(dbOff, g.o, "bias gradient");
      auto f = fields(g);
      f.push_back(db != nullptr);
      std::string k = key("bwd_weights", f);
      auto it = bwdWeights_.find(k);
      if (it == bwdWeights_.end()) {
        auto e = std::make_unique<ConvBwdWeights>();
        auto hint = forwardPd(g, db != nullptr, false);
        auto d = db ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, nhwc(g.src()), anyWeights(g), biasDesc(g), nhwc(g.dst()), g.strides(), g.dilates(), g.padL(), g.padR())
                    : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, nhwc(g.src()), anyWeights(g), nhwc(g.dst()), g.strides(), g.dilates(), g.padL(), g.padR());
        e->pd = dnnl::convolution_backward_weights::primitive_desc(d, makeAttr(false), engine_, hint);
        e->prim = dnnl::convolution_backward_weights(e->pd);
        e->weights.setup(e->pd.diff_weights_desc(), hwio(g), true, engine_);
        e->scratch = memory(e->pd.scratchpad_desc(), engine_);
        note(k, e->pd.impl_info_str());
        it = bwdWeights_.emplace(k, std::move(e)).first;
      }
      ConvBwdWeights& e = *it->second;
      memory dwUser(hwio(g), engine_, dw);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(e.pd.src_desc(), engine_, x)},
          {DNNL_ARG_DIFF_DST, memory(e.pd.diff_dst_desc(), engine_, dy)},
          {DNNL_ARG_DIFF_WEIGHTS, e.weights.target(dwUser)},
          {DNNL_ARG_SCRATCHPAD, e.scratch},
      };
      if (db) args.emplace(DNNL_ARG_DIFF_BIAS, memory(biasDesc(g), engine_, db));
      e.prim.execute(stream_, args);
      e.weights.written(stream_, dwUser);
      stream_.wait();
    });
  }

  // matmul(heap, a, b, bias (-1: none), c, dims Int32Array[batch, m, k, n, transposeA, transposeB], relu):
  // c[batch, m, n] = op(a) op(b) (+ bias[n]) (ReLU), op(a) = a [m, k] or a stored as [k, m] when transposed.
  Napi::Value MatMulCall(const Napi::CallbackInfo& info) {
    return guarded(info, "MatMul", [&] {
      Heap heap = heapOf(info);
      auto v = intsArg(info, 5, 6);
      bool relu = info[6].ToBoolean();
      int64_t bt = v[0], m = v[1], kk = v[2], n = v[3];
      bool ta = v[4] != 0, tb = v[5] != 0;
      if (bt < 1 || m < 1 || kk < 1 || n < 1) throw std::runtime_error("matmul dimensions must be positive");
      int64_t biasOff = offsetArg(info, 3);
      float* a = heap.at(offsetArg(info, 1), bt * m * kk, "a");
      float* b = heap.at(offsetArg(info, 2), bt * kk * n, "b");
      float* bias = biasOff < 0 ? nullptr : heap.at(biasOff, n, "bias");
      float* c = heap.at(offsetArg(info, 4), bt * m * n, "c");
      std::string k = key("matmul", {bt, m, kk, n, ta, tb, bias != nullptr, relu});
      auto it = matmul_.find(k);
      if (it == matmul_.end()) {
        auto e = std::make_unique<MatMul>();
        e->a = memory::desc({bt, m, kk}, dt::f32, ta ? memory::dims{m * kk, 1, m} : memory::dims{m * kk, kk, 1});
        e->b = memory::desc({bt, kk, n}, dt::f32, tb ? memory::dims{kk * n, 1, kk} : memory::dims{kk * n, n, 1});
        e->c = memory::desc({bt, m, n}, dt::f32, memory::dims{m * n, n, 1});
        e->bias = memory::desc({1, 1, n}, dt::f32, memory::dims{n, n, 1});
        auto d = bias ? dnnl::matmul::desc(e->a, e->b, e->bias, e->c) : dnnl::matmul::desc(e->a, e->b, e->c);
        e->pd = dnnl::matmul::primitive_desc(d, makeAttr(relu), engine_);
        e->prim = dnnl::matmul(e->pd);
        e->scratch = memory(e->pd.scratchpad_desc(), engine_);
        note(k, e->pd.impl_info_str());
        it = matmul_.emplace(k, std::move(e)).first;
      }
      MatMul& e = *it->second;
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(e.a, engine_, a)},
          {DNNL_ARG_WEIGHTS, memory(e.b, engine_, b)},
          {DNNL_ARG_DST, memory(e.c, engine_, c)},
          {DNNL_ARG_SCRATCHPAD, e.scratch},
      };
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(e.bias, engine_, bias));
      e.prim.execute(stream_, args);
      stream_.wait();
    });
  }

  // poolBackward(heap, x (max; -1 for average), dy, dx, geometry Int32Array[14], max): dx of a max pooling (ties to
  // the first maximum of a window) or of an average pooling that divides by the cells a window covers (padding
  // excluded, as TF.js's forward average pool does).
  Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
    bool max = info[5].ToBoolean();
    return guarded(info, max ? "MaxPoolGrad" : "AvgPoolGrad", [&] {
      Heap heap = heapOf(info);
      Pool g = poolArg(info, 4);
      int64_t xOff = offsetArg(info, 1);
      if (max && xOff < 0) throw std::runtime_error("max pooling's gradient needs its input");
      float* x = max ? heap.at(xOff, g.srcSize(), "x") : nullptr;
      float* dy = heap.at(offsetArg(info, 2), g.dstSize(), "dy");
      float* dx = heap.at(offsetArg(info, 3), g.srcSize(), "dx");
      std::vector<int64_t> f{g.n, g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, max};
      std::string k = key("pool_bwd", f);
      auto it = poolGrad_.find(k);
      if (it == poolGrad_.end()) {
        auto e = std::make_unique<PoolGrad>();
        e->max = max;
        auto alg = max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
        dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, alg, nhwc(g.src()), nhwc(g.dst()), g.strides(), g.kernel(), g.padL(), g.padR());
        e->fwdPd = dnnl::pooling_forward::primitive_desc(fd, makeAttr(false), engine_);
        dnnl::pooling_backward::desc bd(alg, nhwc(g.src()), nhwc(g.dst()), g.strides(), g.kernel(), g.padL(), g.padR());
        e->pd = dnnl::pooling_backward::primitive_desc(bd, makeAttr(false), engine_, e->fwdPd);
        e->prim = dnnl::pooling_backward(e->pd);
        e->scratch = memory(e->pd.scratchpad_desc(), engine_);
        if (max) {
          e->fwd = dnnl::pooling_forward(e->fwdPd);
          e->dst = memory(e->fwdPd.dst_desc(), engine_);
          e->workspace = memory(e->fwdPd.workspace_desc(), engine_);
          e->fwdScratch = memory(e->fwdPd.scratchpad_desc(), engine_);
          note(k + " (forward for the workspace)", e->fwdPd.impl_info_str());
        }
        note(k, e->pd.impl_info_str());
        it = poolGrad_.emplace(k, std::move(e)).first;
      }
      PoolGrad& e = *it->second;
      std::unordered_map<int, memory> args{
          {DNNL_ARG_DIFF_DST, memory(e.pd.diff_dst_desc(), engine_, dy)},
          {DNNL_ARG_DIFF_SRC, memory(e.pd.diff_src_desc(), engine_, dx)},
          {DNNL_ARG_SCRATCHPAD, e.scratch},
      };
      if (max) {
        e.fwd.execute(stream_, {{DNNL_ARG_SRC, memory(e.fwdPd.src_desc(), engine_, x)}, {DNNL_ARG_DST, e.dst}, {DNNL_ARG_WORKSPACE, e.workspace}, {DNNL_ARG_SCRATCHPAD, e.fwdScratch}});
        args.emplace(DNNL_ARG_WORKSPACE, e.workspace);
      }
      e.prim.execute(stream_, args);
      stream_.wait();
    });
  }

  template <typename T, napi_typedarray_type Type>
  static Napi::TypedArrayOf<T> typedArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Type) {
      throw std::runtime_error(std::string("argument ") + std::to_string(i) + " (" + what + ") has the wrong type");
    }
    return info[i].As<Napi::TypedArrayOf<T>>();
  }

  // quantizeDictionary(src Float32Array, entries Float32Array, mids Float64Array, scales Float64Array, dst Float32Array):
  // dictionary.ts's quantizeDictionary: the code of x = w / scale is the number of midpoints below x (branch-free
  // binary search; NaN to 0), the decoded value entry * scale rounded to float32.
  Napi::Value QuantizeDictionary(const Napi::CallbackInfo& info) {
    return guarded(info, "quantizeDictionary", [&] {
      auto src = typedArg<float, napi_float32_array>(info, 0, "src");
      auto entries = typedArg<float, napi_float32_array>(info, 1, "entries");
      auto mids = typedArg<double, napi_float64_array>(info, 2, "mids");
      auto scales = typedArg<double, napi_float64_array>(info, 3, "scales");
      auto dst = typedArg<float, napi_float32_array>(info, 4, "dst");
      const size_t size = entries.ElementLength();
      if (size < 2 || (size & (size - 1)) != 0 || mids.ElementLength() != size - 1) throw std::runtime_error("entries must be a power of two (at least 2) with one midpoint fewer");
      if (dst.ElementLength() != src.ElementLength() || scales.ElementLength() < 1) throw std::runtime_error("dst must be as long as src, and scales not empty");
      const float* w = src.Data();
      const float* e = entries.Data();
      const double* m = mids.Data();
      const double* sc = scales.Data();
      float* out = dst.Data();
      const size_t n = src.ElementLength(), units = scales.ElementLength();
      for (size_t i = 0, u = 0; i < n; i++) {
        const double scale = sc[u];
        if (++u == units) u = 0;
        const double x = static_cast<double>(w[i]) / scale;
        size_t c = 0;
        for (size_t h = size >> 1; h > 0; h >>= 1) c += x > m[c + h - 1] ? h : 0;
        out[i] = static_cast<float>(static_cast<double>(e[c]) * scale);
      }
    });
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1) {
      throw Napi::TypeError::New(info.Env(), "setThreads takes a positive integer");
    }
    threads_ = info[0].As<Napi::Number>().Int32Value();
    return info.Env().Undefined();
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }

  Napi::Value Implementations(const Napi::CallbackInfo& info) {
    auto out = Napi::Array::New(info.Env(), impls_.size());
    for (size_t i = 0; i < impls_.size(); i++) out.Set(static_cast<uint32_t>(i), impls_[i]);
    return out;
  }

  Napi::Value Version(const Napi::CallbackInfo& info) {
    const dnnl_version_t* v = dnnl_version();
    return Napi::String::New(info.Env(), std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  }

  Napi::Value ClearCache(const Napi::CallbackInfo& info) {
    fwd_.clear();
    bwdData_.clear();
    bwdWeights_.clear();
    matmul_.clear();
    poolGrad_.clear();
    impls_.clear();
    return info.Env().Undefined();
  }
};

}  // namespace

NODE_API_ADDON(Native)
