// Bucketed gradient averaging; see grad_sync.h. The flat buffers are allocated once and reused
// every step. A hook packs prev .grad + incoming grad, which is bit for bit what AccumulateGrad
// then stores in .grad (one fp32 add), so overlapped and post-backward packing give identical
// buckets and identical results; average() overwrites .grad with the reduced values afterwards.
#include "src/distributed/grad_sync.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "src/core/error.h"
#include "src/distributed/dist_error.h"

namespace ibllm::dist {

GradSync::GradSync(Communicator& comm, std::vector<at::Tensor> params, const DistConfig& cfg)
    : comm_(comm), params_(std::move(params)) {
  const auto bytes = static_cast<int64_t>(cfg.bucket_mb * 1024.0 * 1024.0);
  // Backward produces gradients roughly in reverse registration order: plan in that order so the
  // first bucket is the first to fill.
  const size_t n = params_.size();
  std::vector<at::Tensor> reversed(params_.rbegin(), params_.rend());
  buckets_ = plan_buckets(reversed, std::max<int64_t>(bytes, 1));
  bucket_of_.assign(n, 0);
  slot_of_.assign(n, 0);
  for (size_t k = 0; k < buckets_.size(); ++k)
    for (size_t j = 0; j < buckets_[k].members.size(); ++j) {
      auto& m = buckets_[k].members[j];
      m = n - 1 - m;
      bucket_of_[m] = k;
      slot_of_[m] = j;
    }
  // A local communicator never communicates; a real group of one still does (bench.grad_sync).
  if (comm_.backend() == "local") return;
  if (cfg.bf16_grad_comm && comm_.backend() == "gloo" && comm_.rank() == 0)
    spdlog::warn("dist.bf16_grad_comm: Gloo cannot reduce bf16, so gradients are rounded to bf16 "
                 "but still travel as fp32 (no bandwidth saved); the option pays off with NCCL");
  for (const auto& b : buckets_) {
    if (b.device != comm_.device())
      throw DistError("parameter " + std::to_string(b.members.front()) + " is on " +
                          b.device.str() + " but the " + comm_.backend() +
                          " communicator works on " + comm_.device().str(),
                      "move the model to the communicator's device before building GradSync");
    const at::ScalarType wire =
        (cfg.bf16_grad_comm && b.dtype == at::kFloat) ? at::kBFloat16 : b.dtype;
    buffers_.push_back(at::empty({b.numel}, at::TensorOptions(wire).device(b.device)));
  }
  reset_step();
  if (!cfg.overlap) return;
  for (size_t i = 0; i < n; ++i) {
    if (!params_[i].requires_grad() || !params_[i].is_leaf()) continue;  // packed by average()
    hooks_.push_back(params_[i].register_hook([this, i](const at::Tensor& g) { on_grad(i, g); }));
    hooked_.push_back(i);
  }
}

GradSync::~GradSync() {
  for (size_t h = 0; h < hooks_.size(); ++h) params_[hooked_[h]].remove_hook(hooks_[h]);
  // A step abandoned by an exception may leave collectives in flight: let them finish (or fail)
  // before their buffers go away.
  for (auto& p : pending_) {
    try {
      p->wait();
    } catch (const std::exception&) {
    }
  }
}

int64_t GradSync::comm_bytes() const {
  int64_t total = 0;
  for (const auto& b : buffers_) total += b.numel() * static_cast<int64_t>(b.element_size());
  return total;
}

void GradSync::reset_step() {
  armed_ = false;
  packed_.assign(params_.size(), 0);
  missing_.clear();
  for (const auto& b : buckets_) missing_.push_back(b.members.size());
  next_ = 0;
  pending_.clear();
}

void GradSync::begin_final_backward() {
  if (hooks_.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : pending_) p->wait();  // only after an abandoned step
  reset_step();
  started_in_backward_ = 0;
  armed_ = true;
}

void GradSync::on_grad(size_t i, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;  // an accumulation micro-batch: AccumulateGrad sums into .grad as usual
  if (packed_[i])
    throw DistError("the gradient of trainable parameter " + std::to_string(i) +
                        " arrived twice in one backward",
                    "call GradSync::begin_final_backward() before each step's last backward only");
  const size_t k = bucket_of_[i];
  const Bucket& b = buckets_[k];
  const at::Tensor& p = params_[i];
  at::Tensor slot = bucket_slot(b, buffers_[k], slot_of_[i], p.sizes());
  const at::Tensor prev = p.grad();
  if (!prev.defined()) {
    slot.copy_(grad);
  } else if (slot.scalar_type() == grad.scalar_type()) {
    slot.copy_(prev);
    slot.add_(grad);  // the same single add AccumulateGrad performs
  } else {
    slot.copy_(prev + grad);  // round to the wire dtype once, after the add
  }
  packed_[i] = 1;
  --missing_[k];
  const size_t before = next_;
  start_ready_buckets();
  started_in_backward_ += next_ - before;
}

void GradSync::start_ready_buckets() {
  while (next_ < buckets_.size() && missing_[next_] == 0) {
    pending_.push_back(comm_.start_all_reduce_sum(buffers_[next_]));
    ++next_;
  }
}

void GradSync::average(const std::vector<at::Tensor>& grads) {
  if (grads.size() != params_.size())
    throw DistError("GradSync::average got " + std::to_string(grads.size()) +
                        " gradients for " + std::to_string(params_.size()) + " parameters",
                    "pass one gradient per parameter, in the constructor's order");
  for (size_t i = 0; i < grads.size(); ++i) {
    const auto& g = grads[i];
    const auto& p = params_[i];
    if (!g.defined())
      throw DistError("gradient " + std::to_string(i) + " is undefined",
                      "zero-fill the gradients of parameters unused in this step, so every rank "
                      "reduces the same tensors");
    if (g.sizes() != p.sizes() || g.scalar_type() != p.scalar_type() || g.device() != p.device())
      throw DistError("gradient " + std::to_string(i) + " (" + std::string(at::toString(g.scalar_type())) +
                      " on " + g.device().str() + ") does not match its parameter (" +
                      std::string(at::toString(p.scalar_type())) + " on " + p.device().str() +
                      ", same shape expected)");
  }
  if (buffers_.empty()) return;  // local communicator
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
  // Members the hooks did not see (unused this step, frozen, or no overlap) are packed now.
  for (size_t k = next_; k < buckets_.size(); ++k) {
    const Bucket& b = buckets_[k];
    for (size_t j = 0; j < b.members.size(); ++j) {
      const size_t m = b.members[j];
      if (packed_[m]) continue;
      const auto& g = grads[m];
      bucket_slot(b, buffers_[k], j, g.sizes()).copy_(g);
      packed_[m] = 1;
    }
    missing_[k] = 0;
  }
  start_ready_buckets();
  auto pending = std::move(pending_);
  reset_step();
  for (auto& p : pending) p->wait();
  const double world = static_cast<double>(comm_.world_size());
  for (size_t k = 0; k < buckets_.size(); ++k) {
    const Bucket& b = buckets_[k];
    if (buffers_[k].scalar_type() == b.dtype) {
      buffers_[k].div_(world);
      unpack_bucket(b, buffers_[k], grads);
    } else {
      // bf16 on the wire: back to fp32 first, so the division adds no second rounding.
      unpack_bucket(b, buffers_[k], grads);
      for (size_t m : b.members) grads[m].div_(world);
    }
  }
}

}  // namespace ibllm::dist
