// PEFT deltas of spec §3.4 as free functions over Dense layers: a projection with optional bias
// and LoRA (y = W x + b + s·B(A x), s = 1 in the reference) and the deployment merge W ← W + s·B·A.
// LoRA pairs are siblings of the base layer (`lora_wq_l1`, `lora_wq_l2`), as in the reference keys.
#pragma once

#include <string>

#include "models/common/dense.h"

namespace ibllm::models {

// x (..., in) -> (..., out). lora_a/lora_b may be empty handles (no LoRA).
at::Tensor project(const at::Tensor& x, Dense& base, Dense& lora_a, Dense& lora_b,
                   double lora_scale);

// Folds s·B·A into base.weight (computed in fp32, stored in the weight's dtype) and zeroes B, so
// the forward is unchanged up to rounding. No-op when the pair is empty.
void merge_lora_pair(Dense& base, Dense& lora_a, Dense& lora_b, double lora_scale);

// Registers `lora_<name>_l1` (in -> rank) and `lora_<name>_l2` (rank -> out) on `owner`
// (`options`: the delta dtype/device, fp32 in practice).
void register_lora_pair(torch::nn::Module& owner, const std::string& name, int64_t in, int64_t out,
                        int64_t rank, const at::TensorOptions& options, Dense& a, Dense& b);

// Reference LoRA init: A as torch.nn.Linear's default, B = 0.
void reset_lora_pair(Dense& a, Dense& b);

}  // namespace ibllm::models
