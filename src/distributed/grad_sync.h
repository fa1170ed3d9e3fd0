// Data-parallel gradient averaging: the C++ replacement for DDP's reducer. Gradients are packed
// into dtype-homogeneous flat buckets (fixed at construction from the parameter list, so every
// rank's plan is identical), one all-reduce SUM per bucket, then divided by the world size (Gloo
// has no AVG). With bf16_grad_comm, fp32 buckets travel as bf16 and are divided after unpacking.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "src/distributed/buckets.h"
#include "src/distributed/communicator.h"
#include "src/distributed/dist_config.h"

namespace ibllm::dist {

class GradSync {
 public:
  GradSync(Communicator& comm, std::vector<at::Tensor> params, const DistConfig& cfg);
  // In place. `grads[i]` belongs to params[i]: defined (zero-filled when unused), same shape,
  // dtype and device. One call per optimizer step, on every rank.
  void average(const std::vector<at::Tensor>& grads);

  size_t num_buckets() const { return buckets_.size(); }
  int64_t comm_bytes() const;  // bytes all-reduced per call

 private:
  Communicator& comm_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<at::Tensor> buffers_;  // one flat buffer per bucket, in the communication dtype
};

}  // namespace ibllm::dist
