// RMSNorm: float32(x) · rsqrt(mean(x²) + eps), back to x's dtype, × weight (reference order).
#include "models/llama/rms_norm.h"

#include "models/common/dense.h"

namespace ibllm::models {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const at::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, options));
}

void RMSNormImpl::reset_parameters() {
  at::NoGradGuard guard;
  weight.fill_(1.0);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // x (..., D) -> (..., D)
  auto xf = x.to(at::kFloat);
  auto normed = xf * at::rsqrt(xf.pow(2).mean({-1}, /*keepdim=*/true) + eps_);
  return normed.to(x.scalar_type()) * as_dtype_of(weight, x);
}

}  // namespace ibllm::models
