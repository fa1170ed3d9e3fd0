// Next-token cross-entropy of spec §3.7 step 6: logits[:, :-1] against labels[:, 1:], label 0
// ignored. Returned as (sum, count) so a trainer can normalise by valid tokens across micro-batches
// and ranks; reference_lm_loss() is the reference's per-batch mean (0 when no label is valid).
#pragma once

#include <ATen/ATen.h>

namespace ibllm::models {

struct TokenLoss {
  at::Tensor sum;    // scalar fp32: summed cross-entropy over valid targets
  at::Tensor count;  // scalar int64: number of valid targets
};

// logits (B,S,V), labels (B,S) int64 -> TokenLoss
TokenLoss lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index = 0);

// The reference's CrossEntropyLoss(ignore_index=0) mean; 0 (with a graph) when nothing is valid.
at::Tensor reference_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                             int64_t ignore_index = 0);

}  // namespace ibllm::models
