// Dense layer: allocation without RNG, reference init on request, dtype-tolerant forward.
#include "models/llama/dense.h"

#include <cmath>

namespace ibllm::models {

DenseImpl::DenseImpl(int64_t in_features, int64_t out_features, bool with_bias,
                     const at::TensorOptions& options,
                     c10::optional<at::ScalarType> bias_dtype) {
  weight = register_parameter("weight", at::zeros({out_features, in_features}, options));
  if (with_bias) {
    auto bias_options = bias_dtype ? options.dtype(*bias_dtype) : options;
    bias = register_parameter("bias", at::zeros({out_features}, bias_options));
  }
}

void DenseImpl::reset_parameters() {
  at::NoGradGuard guard;
  const double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
  weight.uniform_(-bound, bound);
  if (bias.defined()) bias.zero_();
}

at::Tensor DenseImpl::forward(const at::Tensor& x) {
  // x (..., in) -> (..., out)
  return at::linear(x, as_dtype_of(weight, x),
                    bias.defined() ? as_dtype_of(bias, x) : at::Tensor());
}

}  // namespace ibllm::models

namespace ibllm::models {

TokenEmbeddingImpl::TokenEmbeddingImpl(int64_t vocab_size, int64_t dim,
                                       const at::TensorOptions& options) {
  weight = register_parameter("weight", at::zeros({vocab_size, dim}, options));
}

void TokenEmbeddingImpl::reset_parameters() {
  at::NoGradGuard guard;
  weight.normal_(0.0, 1.0);
}

at::Tensor TokenEmbeddingImpl::forward(const at::Tensor& tokens) {
  // tokens (B,S) -> (B,S,D)
  TORCH_CHECK(tokens.scalar_type() == at::kLong, "token ids must be int64, got ",
              tokens.scalar_type());
  return at::embedding(weight, tokens);
}

}  // namespace ibllm::models
