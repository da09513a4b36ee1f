// The compiled inference plan (csrc/frame/plan.cpp): a model's eval-mode forward as one C++ call.
//
// A plan is a list of ops over numbered value slots, each slot a (batch, per-sample elements)
// float32 array; the builder (fastnn/nn/_plan.py) fills it once per model version and input
// shape, with BatchNorm folded into the convolution before it and activations fused into the op
// that produces their input. run() then executes the ops without returning to Python:
//   * chunked: when the batch has enough samples, the batch is cut into chunks of `chunk` samples
//     sized so that a chunk's live activations take about twice the per-core L2 cache, and each
//     OpenMP thread runs whole chunks through consecutive per-sample ops (conv, pool,
//     activation, batch norm, add, concat) with its own workspace; the kernels inside run single-threaded
//     on cache-resident data. Linear layers (whose weight would otherwise be read once per chunk)
//     run between such segments on the whole batch with the GEMM's own threading.
//   * batched: a batch smaller than two samples per thread runs op after op on the whole batch,
//     each kernel threaded internally (batch-1 latency).
// Workspaces are kept between calls and grown only when a larger batch arrives: after the first
// call of a batch size, run() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

enum class PlanKind : int {
  conv2d = 0, linear = 1, maxpool2d = 2, avgpool2d = 3, global_avgpool = 4, unary = 5,
  batchnorm = 6, add = 7, concat = 8, softmax = 9, log_softmax = 10
};

// One op. Sizes are per sample; weights are borrowed (the caller keeps them alive and unchanged).
struct PlanOp {
  PlanKind kind = PlanKind::unary;
  std::vector<int> in;  // input slots (add: 2, concat: >= 1, otherwise 1)
  int out = -1;         // output slot
  Conv2dGeom conv;      // conv2d (n is set per call); ConvAlgo below
  ConvAlgo algo = ConvAlgo::automatic;
  Pool2dGeom pool;      // maxpool2d / avgpool2d: planes per sample = channels
  int64_t channels = 0, inner = 1;  // pools, global_avgpool, batchnorm: (channels, inner);
                                    // softmax: (dim, inner)
  int64_t in_features = 0, out_features = 0;  // linear
  bool bf16 = false;  // linear: the product in bf16 mixed precision (conv2d: algo bf16)
  const float* w = nullptr;  // conv2d/linear weight
  const float* b = nullptr;  // conv2d/linear bias (may be null)
  // An eval-mode batch norm: the op itself (batchnorm), or applied to a conv2d's / linear's
  // output channels (bn_on) in the same chunk, before the activation, by the layer's own
  // batchnorm_forward_eval. Its statistics and affine parameters are borrowed too and read at
  // every call, so a plan never holds stale folded weights. bn_w / bn_b may be null (affine=False).
  bool bn_on = false;
  const float *bn_w = nullptr, *bn_b = nullptr, *bn_mean = nullptr, *bn_var = nullptr;
  float bn_eps = 1e-5f;
  // unary: the activation itself; other ops: an activation fused onto their output (act_on).
  bool act_on = false;
  Unary act = Unary::relu;
  UnaryParam act_param;
  // conv2d: the weights packed for its kernel (conv2d_prepack), made by run() and kept until
  // invalidate_weights(); the caller promises w unchanged in between.
  std::shared_ptr<ConvPrepacked> pre;
};

class InferencePlan {
 public:
  // slot_sizes[s]: elements per sample of slot s (>= 1); inputs / outputs: the slots the caller
  // passes and receives (outputs distinct, none an input).
  InferencePlan(std::vector<int64_t> slot_sizes, std::vector<int> inputs, std::vector<int> outputs);
  ~InferencePlan();
  // Appends an op after checking its slots (defined before, in range) and that its geometry
  // maps the input slots' sizes onto the output slot's (std::invalid_argument naming the op).
  void add(const PlanOp& op);
  // xs[i]: n x slot_sizes[inputs[i]] contiguous; ys[j]: n x slot_sizes[outputs[j]], written.
  // Throws std::invalid_argument if an output slot has no producer.
  void run(const std::vector<const float*>& xs, int64_t n, const std::vector<float*>& ys);
  // The samples per chunk run() uses for batch n with the current thread count (n: batched).
  int64_t chunk_for(int64_t n) const;
  int64_t n_ops() const;
  // The chunk workspace per thread, in bytes (0, the default: twice the L2 cache, or
  // FASTNN_PLAN_CHUNK_BYTES); a chunk holds at least one sample whatever the budget.
  void set_chunk_bytes(int64_t bytes);
  // Profiling: while on, run() adds each op's wall time per thread (clears the sums when set);
  // op_seconds() is their sum over threads (thread-seconds) per op; an op run on the whole batch
  // with threaded kernels counts its wall time once per thread of the team.
  void set_profiling(bool on);
  // Packed weights: on, run() packs each convolution's weights once for the
  // algorithm it runs and reuses them until invalidate_weights() (the caller's weights changed)
  // or a call that picks another algorithm or kernel table; off (the default until the Python
  // side tracks weight versions): every call packs them.
  void set_prepack(bool on);
  void invalidate_weights();
  // Ops holding packed weights now, and their bytes.
  int64_t prepacked_ops() const;
  int64_t prepacked_bytes() const;
  std::vector<double> op_seconds() const;

 private:
  void invalidate_locked();
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace fastnn
