// Embedding: a lookup table (V, D) created as zeros at a chosen dtype/device without drawing
// random numbers (values come from reset_parameters() or a checkpoint). Used for LLaMA's token
// table and ImageBind-LLM's prefix queries. State-dict key: weight (V, D).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace ibllm::models {

class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab_size, int64_t dim,
                     const at::TensorOptions& options = at::kFloat);
  void reset_parameters();  // N(0, 1), as torch.nn.Embedding
  // tokens (B,S) int64 -> (B,S,D) in the table's dtype
  at::Tensor forward(const at::Tensor& tokens);

  at::Tensor weight;  // (V, D)
};
TORCH_MODULE(TokenEmbedding);

}  // namespace ibllm::models
