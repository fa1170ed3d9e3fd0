// SwiGLU feed-forward (spec §2.2) with the optional bias/LoRA deltas of spec §3.4:
// W2'( SiLU(W1' x) ⊙ W3' x ), each Wn' x = Wn x + b_n + s·B_n A_n x.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/llama/config.h"
#include "models/common/dense.h"

namespace ibllm::models {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(const LlamaConfig& cfg, const at::TensorOptions& options = at::kFloat);
  void reset_parameters();  // base weights only (deltas: reset_delta_parameters)
  void reset_delta_parameters();
  // x (B,S,D) -> (B,S,D)
  at::Tensor forward(const at::Tensor& x);
  void merge_lora();  // w1, w2, w3

  Dense w1{nullptr}, w2{nullptr}, w3{nullptr};
  Dense lora_w1_l1{nullptr}, lora_w1_l2{nullptr}, lora_w2_l1{nullptr}, lora_w2_l2{nullptr};
  Dense lora_w3_l1{nullptr}, lora_w3_l2{nullptr};

 private:
  double lora_scale_;
  FusedKernels fused_;  // silu(w1 x) · w3 x through fused_swiglu on CUDA
};
TORCH_MODULE(FeedForward);

}  // namespace ibllm::models
