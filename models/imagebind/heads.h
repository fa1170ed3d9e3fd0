// ImageBind heads and postprocessors (spec §1.5). Heads map trunk tokens to the joint space:
// LN(eps 1e-6) -> pick a token -> Linear(no bias). Their keys keep the reference nn.Sequential
// indices (`0` LN, `2`/`3` Linear, text `proj.0`/`proj.1`); the index-only entries (token select,
// Dropout) hold no state. Postprocessors L2-normalise and multiply by min(exp(log_scale), 100).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "models/common/dense.h"
#include "models/imagebind/layers.h"

namespace ibllm::models {

// Vision/audio/depth/thermal (linear at index 2), imu (index 3: a Dropout sits at 2), point
// (index 2, input already one vector: no token selection). Keys: 0.{weight,bias}, <i>.weight.
class TokenHeadImpl : public torch::nn::Module {
 public:
  TokenHeadImpl(int64_t dim, int64_t out_dim, int64_t linear_index, bool select_cls,
                const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B,L,D) or (B,D) -> (B,out)

  EncoderLayerNorm norm{nullptr};  // registered as "0"
  Dense proj{nullptr};             // registered as "<linear_index>"

 private:
  bool select_cls_;
};
TORCH_MODULE(TokenHead);

// Text: the token at argmax(ids) (the EOT id is the largest) -> proj.0 LN -> proj.1 Linear.
class TextHeadImpl : public torch::nn::Module {
 public:
  TextHeadImpl(int64_t dim, int64_t out_dim, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x, const at::Tensor& ids) const;  // (B,L,D),(B,L) -> (B,out)

  torch::nn::ModuleList proj{nullptr};

 private:
  EncoderLayerNorm norm_{nullptr};
  Dense linear_{nullptr};
};
TORCH_MODULE(TextHead);

// Normalize [-> scale]. Key: 1.log_logit_scale () — a parameter when learnable (text), else a
// buffer; no state at all when `scaled` is false (vision).
class PostprocessorImpl : public torch::nn::Module {
 public:
  PostprocessorImpl(bool scaled, double logit_scale, bool learnable,
                    const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B,out) -> (B,out)
  // min(exp(log_logit_scale), 100), or 1 without a scale.
  double scale() const;

  TensorHolder scale_holder{nullptr};  // registered as "1"

 private:
  double init_log_scale_;
};
TORCH_MODULE(Postprocessor);

}  // namespace ibllm::models
