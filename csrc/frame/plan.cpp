// The compiled inference plan (fastnn/plan.h): checks at add(), memory layout and execution.
//
// Memory. Each slot lives in one of three places: the caller's arrays (plan inputs and outputs),
// the shared "full" arena (slots that cross from one segment to another, sized for the whole
// batch), or a per-thread chunk arena (slots produced and consumed inside one chunked segment,
// sized for one chunk). Inside an arena, slots whose lifetimes (first write .. last read) do not
// overlap share memory: offsets are per-sample element counts (rounded up to 16 floats, one
// cache line), multiplied by the arena's rows, assigned first-fit in op order.
#include "fastnn/plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>


#ifdef _OPENMP
#include <omp.h>
#endif
#include <unistd.h>

namespace fastnn {

namespace {

const char* kind_name(PlanKind k) {
  switch (k) {
    case PlanKind::conv2d: return "conv2d";
    case PlanKind::linear: return "linear";
    case PlanKind::maxpool2d: return "maxpool2d";
    case PlanKind::avgpool2d: return "avgpool2d";
    case PlanKind::global_avgpool: return "global_avgpool";
    case PlanKind::unary: return "unary";
    case PlanKind::batchnorm: return "batchnorm";
    case PlanKind::add: return "add";
    case PlanKind::concat: return "concat";
    case PlanKind::softmax: return "softmax";
    case PlanKind::log_softmax: return "log_softmax";
  }
  return "?";
}

std::string str(int64_t v) { return std::to_string(v); }

constexpr int64_t kMaxSlot = int64_t(1) << 40;  // elements per sample of one slot

// The product of extents, or -1 when one is negative or it overflows (never equal to a slot's
// size, so the size check reports it).
int64_t extent(std::initializer_list<int64_t> dims) {
  int64_t v = 1;
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(v, d, &v)) return -1;
  return v;
}

// rows x per_row elements, or std::invalid_argument when that overflows.
int64_t workspace(int64_t per_row, int64_t rows) {
  int64_t v = 0;
  if (__builtin_mul_overflow(per_row, rows, &v) || v > (int64_t(1) << 60))
    throw std::invalid_argument("plan.run: a workspace of " + str(per_row) + " x " + str(rows) +
                                " elements is too large");
  return v;
}

int64_t round16(int64_t v) { return (v + 15) / 16 * 16; }

// Bytes of one thread's chunk workspace: twice the per-core L2 (sysconf where the C library knows
// it; 1 MiB otherwise); FASTNN_PLAN_CHUNK_BYTES overrides it. Twice, not half: measured on the
// MNIST CNN (Zen 4, 1 MiB L2, one thread, b256) 0.25/0.5/1/2/4 MiB gave 31/30/27/25.3/25.6 ms --
// a chunk's activations are each read once soon after being written, so they need not all fit,
// while Winograd and the GEMM gain from more tiles per call.
int64_t chunk_budget_bytes() {
  static const int64_t b = [] {
    if (const char* e = std::getenv("FASTNN_PLAN_CHUNK_BYTES")) {
      const long long v = std::atoll(e);
      if (v > 0) return static_cast<int64_t>(v);
    }
    long l2 = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l2 <= 0) l2 = 1 << 20;
    return 2 * static_cast<int64_t>(l2);
  }();
  return b;
}

// First-fit offsets (per sample) for slots with lifetimes [first, last] (op indices). Returns the
// arena's per-sample size.
int64_t assign_offsets(const std::vector<int>& slots, const std::vector<int64_t>& size,
                       const std::vector<int>& first, const std::vector<int>& last,
                       std::vector<int64_t>& off) {
  std::vector<int> placed;
  int64_t total = 0;
  for (int s : slots) {
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int q : placed)
      if (!(last[q] < first[s] || last[s] < first[q])) busy.emplace_back(off[q], off[q] + round16(size[q]));
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    const int64_t need = round16(size[s]);
    for (const auto& iv : busy) {
      if (iv.first >= at + need) break;
      at = std::max(at, iv.second);
    }
    off[s] = at;
    total = std::max(total, at + need);
    placed.push_back(s);
  }
  return total;
}

// The eval batch norm of op (its live statistics) over rows x channels x inner, in place: the
// layer's own frame function, so the same bits as the BatchNorm layer.
void apply_batchnorm(const PlanOp& op, const float* x, float* y, int64_t rows, int64_t channels,
                     int64_t inner) {
  batchnorm_forward_eval(x, rows, channels, inner, op.bn_w, op.bn_b, op.bn_mean, op.bn_var,
                         op.bn_eps, y, nullptr, nullptr);
}

// Runs one op on `rows` samples.
void run_op(const PlanOp& op, const std::vector<float*>& ptr, const std::vector<int64_t>& size,
            int64_t rows) {
  const float* x = ptr[op.in[0]];
  float* y = ptr[op.out];
  bool act_done = false;
  switch (op.kind) {
    case PlanKind::conv2d: {
      Conv2dGeom g = op.conv;
      g.n = rows;
      conv2d_forward(x, op.w, op.b, y, g, op.algo, op.pre.get());
      if (op.bn_on) apply_batchnorm(op, y, y, rows, g.k, g.oh * g.ow);
      break;
    }
    case PlanKind::linear: {
      Epilogue ep;
      if (op.act_on && static_cast<int>(op.act) <= static_cast<int>(Unary::tanh) &&
          !unary_backward_needs_input(op.act, op.act_param)) {
        ep.act = static_cast<Act>(static_cast<int>(op.act));
        ep.param = op.act_param.p1;
        act_done = true;
      }
      if (op.bn_on) ep = Epilogue();  // the activation goes after the batch norm
      act_done = act_done && !op.bn_on;
      linear_forward(MatView{x, rows, op.in_features, op.in_features, 1}, op.w, op.b,
                     op.out_features, ep, y, op.bf16);
      if (op.bn_on) apply_batchnorm(op, y, y, rows, op.out_features, 1);
      break;
    }
    case PlanKind::maxpool2d:  // values only: no argmax
      maxpool2d_forward(x, rows * op.channels, op.pool, y, nullptr);
      break;
    case PlanKind::avgpool2d:
      avgpool2d_forward(x, rows * op.channels, op.pool, y);
      break;
    case PlanKind::global_avgpool:
      global_avgpool_forward(x, rows * op.channels, op.inner, y);
      break;
    case PlanKind::unary:
      unary_forward(op.act, op.act_param, x, y, rows * size[op.out]);
      act_done = true;
      break;
    case PlanKind::batchnorm:
      apply_batchnorm(op, x, y, rows, op.channels, op.inner);
      break;
    case PlanKind::add: {
      const float* x2 = ptr[op.in[1]];
      const int64_t n = rows * size[op.out];
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] + x2[i];
      break;
    }
    case PlanKind::concat: {
      const int64_t out = size[op.out];
      for (int64_t r = 0; r < rows; ++r) {
        int64_t at = 0;
        for (int s : op.in) {
          std::memcpy(y + r * out + at, ptr[s] + r * size[s], sizeof(float) * size[s]);
          at += size[s];
        }
      }
      break;
    }
    case PlanKind::softmax:
      softmax_forward(x, y, rows, op.channels, op.inner);
      break;
    case PlanKind::log_softmax:
      log_softmax_forward(x, y, rows, op.channels, op.inner);
      break;
  }
  if (op.act_on && !act_done) unary_forward(op.act, op.act_param, y, y, rows * size[op.out]);
}

}  // namespace

struct InferencePlan::Impl {
  // run() releases the GIL: two Python threads may call one model's plan at once. Its workspaces
  // and layout are shared state, so every public method holds this lock (calls
  // on one plan run one after the other; different plans run concurrently).
  std::mutex mu;
  std::vector<int64_t> size;          // per-sample elements of each slot
  std::vector<int> inputs, outputs;
  std::vector<PlanOp> ops;
  std::vector<int> producer;          // op index writing each slot (-1: an input / none)

  // Layout (finalized on the first run after the last add).
  bool ready = false;
  std::vector<int> seg_of;            // segment of each op
  std::vector<std::pair<int, int>> segs;  // [begin, end) op ranges
  std::vector<bool> seg_chunked;
  std::vector<int> where;             // 0 caller, 1 full arena, 2 chunk arena
  std::vector<int64_t> off;           // per-sample offset in its arena
  int64_t full_per_row = 0, chunk_per_row = 0;

  int64_t budget = 0;  // chunk workspace bytes per thread (0: chunk_budget_bytes())
  bool prepack = false;  // off until Python tracks weight versions (fastnn/nn/_plan.py)

  // Packs (or re-packs, after invalidate_weights or a change of algorithm or ISA) the weights of
  // every convolution for the algorithm it runs on `rows` samples, before any op runs.
  void prepare_weights(int64_t rows) {
    for (PlanOp& op : ops) {
      if (op.kind != PlanKind::conv2d) continue;
      Conv2dGeom g = op.conv;
      g.n = rows;
      if (!prepack) op.pre.reset();
      else if (!conv2d_prepack_fits(op.pre.get(), g, op.algo)) op.pre = conv2d_prepack(op.w, g, op.algo);
    }
  }

  // Per-op wall time when profiling: [thread][op] seconds, summed over calls.
  bool profiling = false;
  std::vector<std::vector<double>> prof;

  // threads: how many threads the op's own kernels use (the team size outside chunks, 1 inside),
  // so that its wall time counts as that many thread-seconds.
  void run_one(int i, const std::vector<float*>& ptr, int64_t rows, int tid, int threads = 1) {
    if (!profiling) {
      run_op(ops[i], ptr, size, rows);
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    run_op(ops[i], ptr, size, rows);
    prof[tid][i] += threads * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  void prof_threads(int team) {
    if (static_cast<int>(prof.size()) < team) prof.resize(team);
    for (auto& v : prof) v.resize(ops.size(), 0.0);
  }

  // Workspaces kept between calls.
  std::vector<float> full;
  std::vector<std::vector<float>> chunk;       // per thread

  static bool chunkable(const PlanOp& op) { return op.kind != PlanKind::linear; }

  void finalize() {
    const int n_ops = static_cast<int>(ops.size());
    const int n_slots = static_cast<int>(size.size());
    seg_of.assign(n_ops, 0);
    segs.clear();
    seg_chunked.clear();
    for (int i = 0; i < n_ops; ++i) {
      const bool ch = chunkable(ops[i]);
      if (i == 0 || ch != seg_chunked.back()) {
        segs.emplace_back(i, i);
        seg_chunked.push_back(ch);
      }
      segs.back().second = i + 1;
      seg_of[i] = static_cast<int>(segs.size()) - 1;
    }
    std::vector<int> first(n_slots, -1), last(n_slots, -1);
    std::vector<bool> crosses(n_slots, false);
    for (int i = 0; i < n_ops; ++i) {
      first[ops[i].out] = i;
      last[ops[i].out] = std::max(last[ops[i].out], i);
      for (int s : ops[i].in) {
        last[s] = std::max(last[s], i);
        if (producer[s] >= 0 && seg_of[producer[s]] != seg_of[i]) crosses[s] = true;
      }
    }
    where.assign(n_slots, 0);
    off.assign(n_slots, 0);
    std::vector<int> to_full, to_chunk;
    std::vector<bool> external(n_slots, false);
    for (int s : inputs) external[s] = true;
    for (int s : outputs) external[s] = true;
    for (int s = 0; s < n_slots; ++s) {
      if (external[s] || producer[s] < 0) continue;
      if (crosses[s] || !seg_chunked[seg_of[producer[s]]]) {
        where[s] = 1;
        to_full.push_back(s);
      } else {
        where[s] = 2;
        to_chunk.push_back(s);
      }
    }
    auto by_first = [&](int a, int b) { return first[a] < first[b]; };
    std::sort(to_full.begin(), to_full.end(), by_first);
    std::sort(to_chunk.begin(), to_chunk.end(), by_first);
    full_per_row = assign_offsets(to_full, size, first, last, off);
    chunk_per_row = assign_offsets(to_chunk, size, first, last, off);
    ready = true;
  }

  int64_t chunk_for(int64_t n, int nt) const {
    if (nt > 1 && n < 2 * nt) return n;  // batched: op after op, each threaded
    const int64_t per_row = std::max<int64_t>(chunk_per_row, 1) * static_cast<int64_t>(sizeof(float));
    int64_t cs = std::max<int64_t>(1, (budget > 0 ? budget : chunk_budget_bytes()) / per_row);
    cs = std::min(cs, n / nt + (n % nt != 0));  // ceil(n / nt) without overflow
    return std::max<int64_t>(cs, 1);
  }

  // Pointers of every slot for rows [r0, r0 + rows) of the batch; chunk-arena slots at base.
  void pointers(std::vector<float*>& ptr, const std::vector<const float*>& xs,
                const std::vector<float*>& ys, int64_t r0, float* chunk_base, int64_t chunk_rows,
                int64_t n) {
    for (size_t i = 0; i < inputs.size(); ++i)
      ptr[inputs[i]] = const_cast<float*>(xs[i]) + r0 * size[inputs[i]];
    for (size_t j = 0; j < outputs.size(); ++j) ptr[outputs[j]] = ys[j] + r0 * size[outputs[j]];
    for (size_t s = 0; s < size.size(); ++s) {
      if (where[s] == 1) ptr[s] = full.data() + off[s] * n + r0 * size[s];
      else if (where[s] == 2) ptr[s] = chunk_base + off[s] * chunk_rows;
    }
  }
};

InferencePlan::InferencePlan(std::vector<int64_t> slot_sizes, std::vector<int> inputs,
                             std::vector<int> outputs)
    : p_(std::make_unique<Impl>()) {
  const int n = static_cast<int>(slot_sizes.size());
  for (int s = 0; s < n; ++s)
    if (slot_sizes[s] < 1 || slot_sizes[s] > kMaxSlot)
      throw std::invalid_argument("plan: slot " + str(s) + ": expected 1 to 2**40 elements per sample, got " +
                                  str(slot_sizes[s]));
  if (inputs.empty()) throw std::invalid_argument("plan: inputs: expected at least one slot");
  if (outputs.empty()) throw std::invalid_argument("plan: outputs: expected at least one slot");
  std::vector<int> seen(n, 0);
  for (int s : inputs) {
    if (s < 0 || s >= n) throw std::invalid_argument("plan: input slot " + str(s) + " out of range [0, " + str(n) + ")");
    if (seen[s]++) throw std::invalid_argument("plan: input slot " + str(s) + " listed twice");
  }
  for (int s : outputs) {
    if (s < 0 || s >= n) throw std::invalid_argument("plan: output slot " + str(s) + " out of range [0, " + str(n) + ")");
    if (seen[s]++) throw std::invalid_argument("plan: output slot " + str(s) + " listed twice or also an input");
  }
  p_->size = std::move(slot_sizes);
  p_->inputs = std::move(inputs);
  p_->outputs = std::move(outputs);
  p_->producer.assign(n, -1);
}

InferencePlan::~InferencePlan() = default;

int64_t InferencePlan::n_ops() const {
  std::lock_guard<std::mutex> lock(p_->mu);
  return static_cast<int64_t>(p_->ops.size());
}

void InferencePlan::add(const PlanOp& op) {
  Impl& P = *p_;
  std::lock_guard<std::mutex> lock(P.mu);
  const int n = static_cast<int>(P.size.size());
  const std::string what = std::string("plan: op ") + str(static_cast<int64_t>(P.ops.size())) + " (" +
                           kind_name(op.kind) + "): ";
  const size_t want_in = op.kind == PlanKind::add ? 2 : op.kind == PlanKind::concat ? 0 : 1;
  if ((want_in && op.in.size() != want_in) || op.in.empty())
    throw std::invalid_argument(what + "expected " + (want_in ? str(want_in) : "at least 1") +
                                " input slots, got " + str(static_cast<int64_t>(op.in.size())));
  std::vector<bool> is_input(n, false);
  for (int s : P.inputs) is_input[s] = true;
  for (int s : op.in) {
    if (s < 0 || s >= n) throw std::invalid_argument(what + "input slot " + str(s) + " out of range");
    if (!is_input[s] && P.producer[s] < 0)
      throw std::invalid_argument(what + "input slot " + str(s) + " is read before any op writes it");
  }
  if (op.out < 0 || op.out >= n) throw std::invalid_argument(what + "output slot " + str(op.out) + " out of range");
  if (is_input[op.out] || P.producer[op.out] >= 0)
    throw std::invalid_argument(what + "output slot " + str(op.out) + " is already written (an input or another op's output)");
  const int64_t in = P.size[op.in[0]], out = P.size[op.out];
  auto expect = [&](const char* name, int64_t want, int64_t got) {
    if (want != got)
      throw std::invalid_argument(what + name + ": expected " + str(want) + " elements per sample, got " + str(got));
  };
  switch (op.kind) {
    case PlanKind::conv2d: {
      Conv2dGeom g = op.conv;
      g.n = 1;
      conv2d_check_geom(g);
      conv2d_check_algorithm(op.algo, g);
      if (!op.w) throw std::invalid_argument(what + "weight is null");
      expect("input (chw)", extent({g.c, g.h, g.w}), in);
      if (extent({g.k, g.oh, g.ow}) != out)
        throw std::invalid_argument(what + "weight: " + str(g.k) + " output channels x " + str(g.oh) +
                                    " x " + str(g.ow) + " = " + str(extent({g.k, g.oh, g.ow})) +
                                    " elements per sample, the output slot holds " + str(out));
      break;
    }
    case PlanKind::linear:
      if (!op.w) throw std::invalid_argument(what + "weight is null");
      if (op.in_features != in || op.out_features != out)
        throw std::invalid_argument(what + "weight: expected shape (" + str(out) + ", " + str(in) +
                                    ") (the output and input slots' elements per sample), got (" +
                                    str(op.out_features) + ", " + str(op.in_features) + ")");
      break;
    case PlanKind::maxpool2d:
    case PlanKind::avgpool2d:
      pool2d_check_geom(op.pool);
      expect("input", extent({op.channels, op.pool.h, op.pool.w}), in);
      expect("output", extent({op.channels, op.pool.oh, op.pool.ow}), out);
      break;
    case PlanKind::global_avgpool:
      expect("input", extent({op.channels, op.inner}), in);
      expect("output", op.channels, out);
      break;
    case PlanKind::unary:
      expect("output", in, out);
      break;
    case PlanKind::batchnorm:
      expect("input", extent({op.channels, op.inner}), in);
      expect("output", in, out);
      break;
    case PlanKind::add:
      expect("second input", in, P.size[op.in[1]]);
      expect("output", in, out);
      break;
    case PlanKind::concat: {
      int64_t total = 0;
      for (int s : op.in) total += P.size[s];
      expect("output (the inputs' sum)", total, out);
      break;
    }
    case PlanKind::softmax:
    case PlanKind::log_softmax:
      if (op.channels < 1) throw std::invalid_argument(what + "dim must be >= 1");
      expect("input", extent({op.channels, op.inner}), in);
      expect("output", in, out);
      break;
  }
  if (op.bn_on || op.kind == PlanKind::batchnorm) {
    if (op.bn_on && op.kind != PlanKind::conv2d && op.kind != PlanKind::linear)
      throw std::invalid_argument(what + "a fused batch norm follows conv2d or linear only");
    if (!op.bn_mean || !op.bn_var)
      throw std::invalid_argument(what + "batch norm: the running mean and variance are required");
    if (!(op.bn_eps >= 0.0f) || !std::isfinite(op.bn_eps))
      throw std::invalid_argument(what + "batch norm: eps must be finite and >= 0, got " +
                                  std::to_string(op.bn_eps));
  }
  if (op.act_on || op.kind == PlanKind::unary) {  // the activation's constants: checked once here
    float probe = 0.0f;
    unary_forward(op.act, op.act_param, &probe, &probe, 1);
  }
  P.producer[op.out] = static_cast<int>(P.ops.size());
  P.ops.push_back(op);
  P.ready = false;
}

void InferencePlan::set_chunk_bytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(p_->mu);
  if (bytes < 0)
    throw std::invalid_argument("plan: chunk_bytes: expected >= 0 (0: the default, twice the L2 cache), got " +
                                str(bytes));
  p_->budget = bytes;
}

void InferencePlan::set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(p_->mu);
  p_->profiling = on;
  p_->prof.clear();
}

std::vector<double> InferencePlan::op_seconds() const {
  std::lock_guard<std::mutex> lock(p_->mu);
  std::vector<double> t(p_->ops.size(), 0.0);
  for (const auto& v : p_->prof)
    for (size_t i = 0; i < v.size() && i < t.size(); ++i) t[i] += v[i];
  return t;
}

void InferencePlan::set_prepack(bool on) {
  std::lock_guard<std::mutex> lock(p_->mu);
  p_->prepack = on;
  if (!on) invalidate_locked();
}

void InferencePlan::invalidate_weights() {
  std::lock_guard<std::mutex> lock(p_->mu);
  invalidate_locked();
}

void InferencePlan::invalidate_locked() {
  for (PlanOp& op : p_->ops) op.pre.reset();
}

int64_t InferencePlan::prepacked_ops() const {
  std::lock_guard<std::mutex> lock(p_->mu);
  int64_t k = 0;
  for (const PlanOp& op : p_->ops) k += op.pre != nullptr;
  return k;
}

int64_t InferencePlan::prepacked_bytes() const {
  std::lock_guard<std::mutex> lock(p_->mu);
  int64_t b = 0;
  for (const PlanOp& op : p_->ops) b += conv2d_prepack_bytes(op.pre.get());
  return b;
}

int64_t InferencePlan::chunk_for(int64_t n) const {
  std::lock_guard<std::mutex> lock(p_->mu);
  if (!p_->ready) p_->finalize();
  return p_->chunk_for(n, get_num_threads());
}

void InferencePlan::run(const std::vector<const float*>& xs, int64_t n,
                        const std::vector<float*>& ys) {
  Impl& P = *p_;
  std::lock_guard<std::mutex> lock(P.mu);
  if (xs.size() != P.inputs.size() || ys.size() != P.outputs.size())
    throw std::invalid_argument("plan.run: expected " + str(static_cast<int64_t>(P.inputs.size())) +
                                " inputs and " + str(static_cast<int64_t>(P.outputs.size())) + " outputs");
  for (int s : P.outputs)
    if (P.producer[s] < 0)
      throw std::invalid_argument("plan.run: output slot " + str(s) + " has no producing op");
  if (n < 1) return;
  if (!P.ready) P.finalize();
  const int nt = get_num_threads();
  const int64_t cs = P.chunk_for(n, nt);
  const bool batched = cs >= n;
  P.prepare_weights(batched ? n : cs);
  // Every slot's rows x size, and the arenas, must be addressable.
  for (int64_t sz : P.size) workspace(sz, n);
  const int64_t full_need = workspace(P.full_per_row, n);
  if (static_cast<int64_t>(P.full.size()) < full_need) P.full.resize(full_need);
  const int slots = static_cast<int>(P.size.size());

  if (batched) {  // whole batch, op after op, every kernel threaded
    if (P.profiling) P.prof_threads(1);
    if (P.chunk.empty()) P.chunk.resize(1);
    const int64_t need = workspace(P.chunk_per_row, n);
    if (static_cast<int64_t>(P.chunk[0].size()) < need) P.chunk[0].resize(need);
    std::vector<float*> ptr(slots, nullptr);
    P.pointers(ptr, xs, ys, 0, P.chunk[0].data(), n, n);
    for (int i = 0; i < static_cast<int>(P.ops.size()); ++i) P.run_one(i, ptr, n, 0, nt);
    return;
  }
  const int64_t nchunks = (n + cs - 1) / cs;
  const int team = static_cast<int>(std::min<int64_t>(nt, nchunks));
  if (P.profiling) P.prof_threads(team);
  if (static_cast<int>(P.chunk.size()) < team) P.chunk.resize(team);
  for (int t = 0; t < team; ++t)
    if (static_cast<int64_t>(P.chunk[t].size()) < workspace(P.chunk_per_row, cs))
      P.chunk[t].resize(workspace(P.chunk_per_row, cs));
  for (size_t sg = 0; sg < P.segs.size(); ++sg) {
    const int b = P.segs[sg].first, e = P.segs[sg].second;
    if (!P.seg_chunked[sg]) {  // linear layers: the whole batch, the GEMM's own threads
      std::vector<float*> ptr(slots, nullptr);
      P.pointers(ptr, xs, ys, 0, P.chunk[0].data(), cs, n);
      for (int i = b; i < e; ++i) P.run_one(i, ptr, n, 0, nt);
      continue;
    }
    std::exception_ptr err = nullptr;
#pragma omp parallel num_threads(team)
    {
      int tid = 0;
#ifdef _OPENMP
      tid = omp_get_thread_num();
      omp_set_num_threads(1);  // kernels inside run on this thread alone
#endif
      std::vector<float*> ptr(slots, nullptr);
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < nchunks; ++c) {
        const int64_t r0 = c * cs, rows = std::min(cs, n - r0);
        // The kernels run inside a team of their own (one thread): their orphaned worksharing
        // loops (the GEMM driver's, when it runs single-threaded) must not bind to this team,
        // whose other threads never reach them.
#pragma omp parallel num_threads(1)
        {
          try {
            P.pointers(ptr, xs, ys, r0, P.chunk[tid].data(), cs, n);
            for (int i = b; i < e; ++i) P.run_one(i, ptr, rows, tid);
          } catch (...) {
#pragma omp critical(fastnn_plan_error)
            if (!err) err = std::current_exception();
          }
        }
      }
    }
    if (err) std::rethrow_exception(err);
  }
}

}  // namespace fastnn
