// Bias/LoRA projection, LoRA registration/init and the exact deployment merge.
#include "models/llama/peft.h"

namespace ibllm::models {

at::Tensor project(const at::Tensor& x, Dense& base, Dense& lora_a, Dense& lora_b,
                   double lora_scale) {
  // x (..., in) -> (..., out)
  auto y = base->forward(x);
  if (!lora_a.is_empty()) {
    auto delta = lora_b->forward(lora_a->forward(x));
    y = lora_scale == 1.0 ? y + delta : y + delta * lora_scale;
  }
  return y;
}

void merge_lora_pair(Dense& base, Dense& lora_a, Dense& lora_b, double lora_scale) {
  if (lora_a.is_empty()) return;
  at::NoGradGuard guard;
  auto delta = at::matmul(lora_b->weight.to(at::kFloat), lora_a->weight.to(at::kFloat));
  if (lora_scale != 1.0) delta = delta * lora_scale;
  base->weight.copy_((base->weight.to(at::kFloat) + delta.to(base->weight.device()))
                         .to(base->weight.scalar_type()));
  lora_b->weight.zero_();
}

void register_lora_pair(torch::nn::Module& owner, const std::string& name, int64_t in,
                        int64_t out, int64_t rank, const at::TensorOptions& options, Dense& a,
                        Dense& b) {
  a = owner.register_module("lora_" + name + "_l1", Dense(in, rank, false, options));
  b = owner.register_module("lora_" + name + "_l2", Dense(rank, out, false, options));
}

void reset_lora_pair(Dense& a, Dense& b) {
  if (a.is_empty()) return;
  a->reset_parameters();
  at::NoGradGuard guard;
  b->weight.zero_();
}

}  // namespace ibllm::models
