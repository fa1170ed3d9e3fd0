// Bucketed gradient averaging; see grad_sync.h. The flat buffers are allocated once and reused
// every step; all buckets are packed, then reduced together (one collective each, overlapped).
#include "src/distributed/grad_sync.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "src/core/error.h"
#include "src/distributed/dist_error.h"

namespace ibllm::dist {

GradSync::GradSync(Communicator& comm, std::vector<at::Tensor> params, const DistConfig& cfg)
    : comm_(comm), params_(std::move(params)) {
  const auto bytes = static_cast<int64_t>(cfg.bucket_mb * 1024.0 * 1024.0);
  buckets_ = plan_buckets(params_, std::max<int64_t>(bytes, 1));
  if (comm_.world_size() <= 1) return;  // nothing is ever communicated
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
}

int64_t GradSync::comm_bytes() const {
  int64_t total = 0;
  for (const auto& b : buffers_) total += b.numel() * static_cast<int64_t>(b.element_size());
  return total;
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
  if (comm_.world_size() <= 1) return;
  for (size_t k = 0; k < buckets_.size(); ++k) pack_bucket(buckets_[k], grads, buffers_[k]);
  comm_.all_reduce_sum(buffers_);
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
