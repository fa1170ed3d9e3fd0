// Leaf layers of the frozen encoders (see layers.h). Parameters are allocated uninitialised with
// the caller's options; reset_parameters() gives torch-like default values.
#include "models/imagebind/layers.h"

#include "models/common/dense.h"
#include "src/core/error.h"

namespace ibllm::models {

EncoderLayerNormImpl::EncoderLayerNormImpl(int64_t dim, double eps,
                                           const at::TensorOptions& options)
    : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", at::empty({dim}, options));
  bias = register_parameter("bias", at::empty({dim}, options));
}

void EncoderLayerNormImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  weight.fill_(1.0);
  bias.zero_();
}

at::Tensor EncoderLayerNormImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {dim_}, weight, bias, eps_);
}

PatchConvImpl::PatchConvImpl(int64_t in, int64_t out, std::vector<int64_t> kernel,
                             std::vector<int64_t> stride, const at::TensorOptions& options)
    : kernel_(std::move(kernel)), stride_(std::move(stride)) {
  if ((kernel_.size() != 2 && kernel_.size() != 3) || stride_.size() != kernel_.size())
    throw ModelError("patch convolution needs a 2-D or 3-D kernel and a stride of the same rank");
  std::vector<int64_t> shape = {out, in};
  shape.insert(shape.end(), kernel_.begin(), kernel_.end());
  weight = register_parameter("weight", at::empty(shape, options));
}

void PatchConvImpl::reset_parameters() {
  at::Tensor none;
  init_fan_in_uniform(weight, none);
}

at::Tensor PatchConvImpl::forward(const at::Tensor& x) const {
  if (x.dim() != static_cast<int64_t>(kernel_.size()) + 2 || x.size(1) != weight.size(1))
    throw ModelError("patch convolution expects (B," + std::to_string(weight.size(1)) +
                     ",...) with " + std::to_string(kernel_.size()) + " spatial dims, got " +
                     std::to_string(x.dim()) + "-D input");
  if (kernel_.size() == 2) return at::conv2d(x, weight, {}, stride_);
  return at::conv3d(x, weight, {}, stride_);
}

TensorHolderImpl::TensorHolderImpl(const std::string& name, at::Tensor v, bool as_buffer) {
  value = as_buffer ? register_buffer(name, std::move(v)) : register_parameter(name, std::move(v));
}

PointConv1dImpl::PointConv1dImpl(int64_t in, int64_t out, const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out, in, 1}, options));
  bias = register_parameter("bias", at::empty({out}, options));
}

void PointConv1dImpl::reset_parameters() { init_fan_in_uniform(weight, bias); }

at::Tensor PointConv1dImpl::forward(const at::Tensor& x) const {
  return at::conv1d(x, weight, bias);
}

FrozenBatchNorm1dImpl::FrozenBatchNorm1dImpl(int64_t channels, const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({channels}, options));
  bias = register_parameter("bias", at::empty({channels}, options));
  running_mean = register_buffer("running_mean", at::empty({channels}, options));
  running_var = register_buffer("running_var", at::empty({channels}, options));
  num_batches_tracked =
      register_buffer("num_batches_tracked", at::zeros({}, options.dtype(at::kLong)));
}

void FrozenBatchNorm1dImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  weight.fill_(1.0);
  bias.zero_();
  running_mean.zero_();
  running_var.fill_(1.0);
}

at::Tensor FrozenBatchNorm1dImpl::forward(const at::Tensor& x) const {
  // nn.BatchNorm1d in eval(): (x - running_mean) / sqrt(running_var + 1e-5) * weight + bias
  return at::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false,
                        /*momentum=*/0.1, /*eps=*/1e-5, /*cudnn_enabled=*/true);
}

}  // namespace ibllm::models
