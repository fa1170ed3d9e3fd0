// RMSNorm (spec §2.2): statistics in fp32, result cast back to the input dtype, then × weight.
// Shared by the LLaMA blocks and the bind network. The weight is applied in the input dtype so a
// bf16 activation stays bf16 even when the (trainable) weight is kept in fp32. With a fused-kernels
// mode other than off, CUDA inputs go through our fused kernel (models/kernels/fused_ops.h).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/llama/config.h"

namespace ibllm::models {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const at::TensorOptions& options = at::kFloat,
              FusedKernels fused = FusedKernels::kOff);
  void reset_parameters();  // weight = 1
  // x (..., D) -> (..., D) in x's dtype
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;  // (D)

 private:
  double eps_;
  FusedKernels fused_;
};
TORCH_MODULE(RMSNorm);

}  // namespace ibllm::models
