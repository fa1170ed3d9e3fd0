// Dense layer: zero allocation without RNG, the chosen reference init on request, dtype-tolerant
// forward (see dense.h).
#include "models/common/dense.h"

#include <algorithm>
#include <cmath>

namespace ibllm::models {

void init_fan_in_uniform(at::Tensor& weight, at::Tensor& bias) {
  at::NoGradGuard no_grad;
  int64_t fan_in = 1;  // elements of one output row: in (Linear), in * kernel (Conv)
  for (int64_t d = 1; d < weight.dim(); ++d) fan_in *= weight.size(d);
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  weight.uniform_(-bound, bound);
  if (bias.defined()) bias.uniform_(-bound, bound);
}

DenseImpl::DenseImpl(int64_t in_features, int64_t out_features, bool with_bias,
                     const at::TensorOptions& options, c10::optional<at::ScalarType> bias_dtype,
                     DenseInit init)
    : init_(init) {
  weight = register_parameter("weight", at::zeros({out_features, in_features}, options));
  if (with_bias) {
    auto bias_options = bias_dtype ? options.dtype(*bias_dtype) : options;
    bias = register_parameter("bias", at::zeros({out_features}, bias_options));
  }
}

void DenseImpl::reset_parameters() {
  at::NoGradGuard guard;
  if (init_ == DenseInit::kTorchLinear) {
    init_fan_in_uniform(weight, bias);
    return;
  }
  at::Tensor no_bias;
  init_fan_in_uniform(weight, no_bias);
  if (bias.defined()) bias.zero_();
}

at::Tensor DenseImpl::forward(const at::Tensor& x) const {
  // x (..., in) -> (..., out)
  return at::linear(x, as_dtype_of(weight, x),
                    bias.defined() ? as_dtype_of(bias, x) : at::Tensor());
}

}  // namespace ibllm::models
