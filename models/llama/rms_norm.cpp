// RMSNorm: float32(x) · rsqrt(mean(x²) + eps), back to x's dtype, × weight (reference order).
#include "models/llama/rms_norm.h"

#include "models/common/dense.h"
#include "models/kernels/fused_ops.h"

namespace ibllm::models {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const at::TensorOptions& options,
                         FusedKernels fused)
    : eps_(eps), fused_(fused) {
  weight = register_parameter("weight", at::ones({dim}, options));
}

void RMSNormImpl::reset_parameters() {
  at::NoGradGuard guard;
  weight.fill_(1.0);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // x (..., D) -> (..., D)
  if (fused_applies(fused_, x))  // the kernel takes an fp32 weight or one in x's dtype
    return fused_rms_norm(x, weight.scalar_type() == at::kFloat ? weight : as_dtype_of(weight, x),
                          eps_);
  auto xf = x.to(at::kFloat);
  auto normed = xf * at::rsqrt(xf.pow(2).mean({-1}, /*keepdim=*/true) + eps_);
  return normed.to(x.scalar_type()) * as_dtype_of(weight, x);
}

}  // namespace ibllm::models
