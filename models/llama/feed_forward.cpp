// SwiGLU FFN; W2's LoRA takes the SwiGLU product as input, as in the reference.
#include "models/llama/feed_forward.h"

#include "models/kernels/fused_ops.h"
#include "models/llama/peft.h"

namespace ibllm::models {

FeedForwardImpl::FeedForwardImpl(const LlamaConfig& cfg, const at::TensorOptions& options)
    : lora_scale_(cfg.lora_scale()), fused_(cfg.fused_kernels) {
  const int64_t D = cfg.dim, F = cfg.ffn_hidden();
  w1 = register_module("w1", Dense(D, F, cfg.w_bias, options, at::kFloat));
  w2 = register_module("w2", Dense(F, D, cfg.w_bias, options, at::kFloat));
  w3 = register_module("w3", Dense(D, F, cfg.w_bias, options, at::kFloat));
  if (cfg.w_lora) {
    auto delta = options.dtype(at::kFloat);
    register_lora_pair(*this, "w1", D, F, cfg.lora_rank, delta, lora_w1_l1, lora_w1_l2);
    register_lora_pair(*this, "w2", F, D, cfg.lora_rank, delta, lora_w2_l1, lora_w2_l2);
    register_lora_pair(*this, "w3", D, F, cfg.lora_rank, delta, lora_w3_l1, lora_w3_l2);
  }
}

void FeedForwardImpl::reset_parameters() {
  for (auto* d : {&w1, &w2, &w3}) (*d)->reset_parameters();
}

void FeedForwardImpl::reset_delta_parameters() {
  at::NoGradGuard guard;
  for (auto* d : {&w1, &w2, &w3})
    if ((*d)->bias.defined()) (*d)->bias.zero_();
  reset_lora_pair(lora_w1_l1, lora_w1_l2);
  reset_lora_pair(lora_w2_l1, lora_w2_l2);
  reset_lora_pair(lora_w3_l1, lora_w3_l2);
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  // x (B,S,D) -> (B,S,D) via (B,S,F)
  auto a = project(x, w1, lora_w1_l1, lora_w1_l2, lora_scale_);
  auto up = project(x, w3, lora_w3_l1, lora_w3_l2, lora_scale_);
  auto h = fused_applies(fused_, a) && up.scalar_type() == a.scalar_type() ? fused_swiglu(a, up)
                                                                            : at::silu(a) * up;
  return project(h, w2, lora_w2_l1, lora_w2_l2, lora_scale_);
}

void FeedForwardImpl::merge_lora() {
  merge_lora_pair(w1, lora_w1_l1, lora_w1_l2, lora_scale_);
  merge_lora_pair(w2, lora_w2_l1, lora_w2_l2, lora_scale_);
  merge_lora_pair(w3, lora_w3_l1, lora_w3_l2, lora_scale_);
}

}  // namespace ibllm::models
