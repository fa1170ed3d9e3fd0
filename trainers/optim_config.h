// Optimizer settings and the reference learning-rate rule: lr = blr * effective_batch / 256 unless
// an absolute lr is given. The optimizer itself (AdamW with the reference no-decay groups) is built
// by the trainer from this struct.
#pragma once

#include <cstdint>
#include <string>

#include "src/config/section.h"

namespace ibllm::train {

struct OptimConfig {
  std::string kind = "adamw";
  double lr = 0.0;             // absolute peak LR; 0 means "scale blr by the effective batch"
  double blr = 1.0e-3;         // base LR per 256 samples (reference --blr)
  double weight_decay = 0.05;  // not applied to 1-D tensors and *.bias (reference rule)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1.0e-8;
  double clip_grad_norm = 0.0;  // global-norm clipping threshold; 0 disables it
  bool foreach = true;  // AdamW via at::_foreach_* (multi-tensor kernels on CUDA); false: per tensor
};

OptimConfig parse_optim_config(config::Section s);

// The peak LR actually used: `lr` if set, else blr * effective_batch / 256.
double effective_lr(const OptimConfig& c, int64_t effective_batch);

}  // namespace ibllm::train
