// Embedding table: zero allocation without RNG, N(0, init_std) on request (see embedding.h).
#include "models/common/embedding.h"

namespace ibllm::models {

TokenEmbeddingImpl::TokenEmbeddingImpl(int64_t vocab_size, int64_t dim,
                                       const at::TensorOptions& options, double init_std)
    : init_std_(init_std) {
  weight = register_parameter("weight", at::zeros({vocab_size, dim}, options));
}

void TokenEmbeddingImpl::reset_parameters() {
  at::NoGradGuard guard;
  weight.normal_(0.0, init_std_);
}

at::Tensor TokenEmbeddingImpl::forward(const at::Tensor& tokens) const {
  // tokens (...) -> (..., D)
  TORCH_CHECK(tokens.scalar_type() == at::kLong, "token ids must be int64, got ",
              tokens.scalar_type());
  return at::embedding(weight, tokens);
}

}  // namespace ibllm::models
