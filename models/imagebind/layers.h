// Parameter-holding leaf layers shared by the ImageBind and Point-Bind encoders: LayerNorm, a
// bias-free patch convolution (2-D or 3-D), a 1x1 Conv1d and an eval-mode BatchNorm1d (their
// Linear is models/common/dense.h with DenseInit::kTorchLinear, their token table
// models/common/embedding.h). Unlike torch::nn's modules they allocate with caller-given
// TensorOptions (meta/bf16/CUDA) and draw no random numbers at construction: values come from
// reset_parameters() or a checkpoint.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace ibllm::models {

// LayerNorm over the last dim with affine weight/bias. Keys: weight, bias.
class EncoderLayerNormImpl : public torch::nn::Module {
 public:
  EncoderLayerNormImpl(int64_t dim, double eps, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;
  at::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(EncoderLayerNorm);

// Bias-free convolution with kernel == given kernel and stride, no padding; 2-D or 3-D by the
// length of `kernel`. Key: weight (out, in, *kernel).
class PatchConvImpl : public torch::nn::Module {
 public:
  PatchConvImpl(int64_t in, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B,in,[T],H,W) -> (B,out,[T'],H',W')

  at::Tensor weight;
  const std::vector<int64_t>& kernel() const { return kernel_; }
  const std::vector<int64_t>& stride() const { return stride_; }

 private:
  std::vector<int64_t> kernel_;
  std::vector<int64_t> stride_;
};
TORCH_MODULE(PatchConv);

// Conv1d with kernel size 1 (a per-point Linear over channels). Keys: weight (out,in,1), bias.
class PointConv1dImpl : public torch::nn::Module {
 public:
  PointConv1dImpl(int64_t in, int64_t out, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B, in, N) -> (B, out, N)

  at::Tensor weight;
  at::Tensor bias;
};
TORCH_MODULE(PointConv1d);

// BatchNorm1d that only runs in inference mode (running statistics, eps 1e-5): the point encoder
// is frozen. Keys: weight, bias, running_mean, running_var, num_batches_tracked (int64 scalar).
class FrozenBatchNorm1dImpl : public torch::nn::Module {
 public:
  FrozenBatchNorm1dImpl(int64_t channels, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B, C, N) -> (B, C, N)

  at::Tensor weight;
  at::Tensor bias;
  at::Tensor running_mean;
  at::Tensor running_var;
  at::Tensor num_batches_tracked;
};
TORCH_MODULE(FrozenBatchNorm1d);

// A module that only holds one named tensor, for reference modules whose sole state is a tensor
// (`pos_embedding_helper.pos_embed`, the postprocessor's `1.log_logit_scale`).
class TensorHolderImpl : public torch::nn::Module {
 public:
  // as_buffer: register as a (persistent) buffer instead of a parameter
  TensorHolderImpl(const std::string& name, at::Tensor value, bool as_buffer);
  at::Tensor value;
};
TORCH_MODULE(TensorHolder);

// Parameter-free module that only occupies an index of a reference nn.Sequential (e.g. the
// PadIm2Video at `rgbt_stem.proj.0`), so the next module's keys get the official index.
class IndexPlaceholderImpl : public torch::nn::Module {};
TORCH_MODULE(IndexPlaceholder);

}  // namespace ibllm::models
