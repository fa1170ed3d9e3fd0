// Embedding table: zero allocation without RNG, N(0, 1) on request (see embedding.h).
#include "models/common/embedding.h"

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
