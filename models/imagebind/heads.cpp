// ImageBind heads and postprocessors (spec §1.5); see heads.h for the key layout.
#include "models/imagebind/heads.h"

#include <cmath>

#include "src/core/error.h"

namespace ibllm::models {

TokenHeadImpl::TokenHeadImpl(int64_t dim, int64_t out_dim, int64_t linear_index, bool select_cls,
                             const at::TensorOptions& options)
    : select_cls_(select_cls) {
  norm = register_module("0", EncoderLayerNorm(dim, 1e-6, options));
  proj = register_module(std::to_string(linear_index),
                         Dense(dim, out_dim, false, options, DenseInit::kTorchLinear));
}

void TokenHeadImpl::reset_parameters() {
  norm->reset_parameters();
  proj->reset_parameters();
}

at::Tensor TokenHeadImpl::forward(const at::Tensor& x) const {
  // (B,L,D) -> LN -> token 0 (CLS) -> (B,out); point: (B,D) -> (B,out). Dropout: eval identity.
  at::Tensor h = norm->forward(x);
  if (select_cls_) h = h.select(1, 0);
  return proj->forward(h);
}

TextHeadImpl::TextHeadImpl(int64_t dim, int64_t out_dim, const at::TensorOptions& options) {
  proj = register_module("proj", torch::nn::ModuleList());
  norm_ = EncoderLayerNorm(dim, 1e-6, options);
  linear_ = Dense(dim, out_dim, false, options, DenseInit::kTorchLinear);
  proj->push_back(norm_);
  proj->push_back(linear_);
}

void TextHeadImpl::reset_parameters() {
  norm_->reset_parameters();
  linear_->reset_parameters();
}

at::Tensor TextHeadImpl::forward(const at::Tensor& x, const at::Tensor& ids) const {
  // x (B,L,D), ids (B,L) -> (B,out): the EOT position is argmax(ids) (first maximum)
  const int64_t B = x.size(0), D = x.size(2);
  at::Tensor pos = ids.argmax(-1).view({B, 1, 1}).expand({B, 1, D});
  at::Tensor eot = x.gather(1, pos).squeeze(1);  // (B,D)
  return linear_->forward(norm_->forward(eot));
}

PostprocessorImpl::PostprocessorImpl(bool scaled, double logit_scale, bool learnable,
                                     const at::TensorOptions& options)
    : init_log_scale_(std::log(logit_scale)) {
  if (!scaled) return;
  scale_holder = register_module(
      "1", TensorHolder("log_logit_scale", at::empty({}, options), /*as_buffer=*/!learnable));
  if (options.device().type() != at::kMeta) reset_parameters();
}

void PostprocessorImpl::reset_parameters() {
  if (!scale_holder) return;
  at::NoGradGuard no_grad;
  scale_holder->value.fill_(init_log_scale_);
}

double PostprocessorImpl::scale() const {
  if (!scale_holder) return 1.0;
  return std::min(std::exp(scale_holder->value.item<double>()), 100.0);
}

at::Tensor PostprocessorImpl::forward(const at::Tensor& x) const {
  // F.normalize(x, p=2, dim=-1, eps=1e-12), then clip(exp(log_logit_scale), max=100) * x
  at::Tensor n = x / x.norm(2, -1, true).clamp_min(1e-12);
  if (!scale_holder) return n;
  return n * scale_holder->value.exp().clamp_max(100.0);
}

}  // namespace ibllm::models
