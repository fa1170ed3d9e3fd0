// TokenEmbedding: the one lookup table (V, D) of LLaMA's tokens, ImageBind-LLM's prefix queries and
// the CLIP text encoder's tokens. Created as zeros at a chosen dtype/device without drawing random
// numbers (values come from reset_parameters() or a checkpoint). The init's standard deviation is
// the one difference between its users (torch.nn.Embedding's 1, CLIP's 0.02), so it is an option.
// State-dict key: weight (V, D).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace ibllm::models {

class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab_size, int64_t dim, const at::TensorOptions& options = at::kFloat,
                     double init_std = 1.0);
  void reset_parameters();  // N(0, init_std); the default 1 is torch.nn.Embedding's
  // tokens (...) int64 -> (..., D) in the table's dtype
  at::Tensor forward(const at::Tensor& tokens) const;

  at::Tensor weight;  // (V, D)

 private:
  double init_std_;
};
TORCH_MODULE(TokenEmbedding);

}  // namespace ibllm::models
