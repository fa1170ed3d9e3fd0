// Shifted next-token cross-entropy with an ignore index.
#include "models/llama/lm_loss.h"

namespace ibllm::models {

TokenLoss lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index) {
  // logits (B,S,V), labels (B,S) -> scalars
  TORCH_CHECK(logits.dim() == 3 && labels.dim() == 2 && logits.size(0) == labels.size(0) &&
                  logits.size(1) == labels.size(1),
              "lm loss: logits (B,S,V) and labels (B,S) expected, got ", logits.sizes(), " and ",
              labels.sizes());
  const int64_t V = logits.size(2);
  auto pred = logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, V}).to(at::kFloat);
  auto target = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1});
  TokenLoss out;
  out.sum = at::cross_entropy_loss(pred, target, {}, at::Reduction::Sum, ignore_index);
  out.count = target.ne(ignore_index).sum();
  return out;
}

at::Tensor reference_lm_loss(const at::Tensor& logits, const at::Tensor& labels,
                             int64_t ignore_index) {
  auto parts = lm_loss_sum(logits, labels, ignore_index);
  if (parts.count.item<int64_t>() == 0) return logits.mean() * 0;
  return parts.sum / parts.count.to(at::kFloat);
}

}  // namespace ibllm::models
