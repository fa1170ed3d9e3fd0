// Dense: a linear layer y = x·Wᵀ (+ b) whose parameters are created at a chosen dtype/device
// without drawing random numbers (torch::nn::Linear initialises in its constructor, which would
// cost minutes for a 7B model that is about to be overwritten by a checkpoint). Parameters that
// differ in dtype from the input (fp32 deltas next to bf16 activations) are cast on use.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace ibllm::models {

class DenseImpl : public torch::nn::Module {
 public:
  // The bias (when present) uses `bias_dtype` if given: tuned biases stay fp32 next to bf16 weights.
  DenseImpl(int64_t in_features, int64_t out_features, bool with_bias,
            const at::TensorOptions& options = at::kFloat,
            c10::optional<at::ScalarType> bias_dtype = c10::nullopt);
  // torch.nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for the weight; bias zero (the
  // reference zero-initialises every tuned bias).
  void reset_parameters();
  // x (..., in) -> (..., out) in x's dtype.
  at::Tensor forward(const at::Tensor& x);

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }

  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out) or undefined
};
TORCH_MODULE(Dense);

// `t` in dtype `like` (no copy when it already matches).
inline at::Tensor as_dtype_of(const at::Tensor& t, const at::Tensor& like) {
  return t.scalar_type() == like.scalar_type() ? t : t.to(like.scalar_type());
}

}  // namespace ibllm::models

namespace ibllm::models {

// Token embedding table (V, D) with the same no-RNG construction; key segment `weight`.
class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab_size, int64_t dim, const at::TensorOptions& options = at::kFloat);
  void reset_parameters();  // N(0, 1), as torch.nn.Embedding
  // tokens (B,S) int64 -> (B,S,D) in the table's dtype
  at::Tensor forward(const at::Tensor& tokens);

  at::Tensor weight;  // (V, D)
};
TORCH_MODULE(TokenEmbedding);

}  // namespace ibllm::models
