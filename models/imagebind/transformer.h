// ImageBind's trunk (spec §1.2): pre-LN blocks `x += Attn(LN1 x); x += MLP(LN2 x)` around a
// re-statement of torch.nn.MultiheadAttention (packed [q;k;v] projection, contiguous heads,
// optional add_bias_kv = one learned key/value appended after projection). Works batch-first;
// the reference's (L,B,D) layout change is a transpose with no numeric effect.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "models/common/dense.h"
#include "models/imagebind/layers.h"

namespace ibllm::models {

// Keys: in_proj_weight (3D,D), in_proj_bias (3D), out_proj.{weight,bias}, [bias_k, bias_v (1,1,D)].
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t dim, int64_t heads, bool add_bias_kv,
                         const at::TensorOptions& options);
  void reset_parameters();
  // x (B,L,D); mask: additive (L,L) or undefined -> (B,L,D)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;

  at::Tensor in_proj_weight;
  at::Tensor in_proj_bias;
  Dense out_proj{nullptr};
  at::Tensor bias_k;  // undefined without add_bias_kv
  at::Tensor bias_v;

 private:
  int64_t dim_;
  int64_t heads_;
};
TORCH_MODULE(MultiheadAttention);

// Keys: fc1.{weight,bias} (H,D), fc2.{weight,bias} (D,H); exact (erf) GELU between.
class TrunkMlpImpl : public torch::nn::Module {
 public:
  TrunkMlpImpl(int64_t dim, int64_t hidden, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;

  Dense fc1{nullptr};
  Dense fc2{nullptr};
};
TORCH_MODULE(TrunkMlp);

// BlockWithMasking. Keys: norm_1, attn, norm_2, mlp (LayerNorm eps 1e-6).
class TrunkBlockImpl : public torch::nn::Module {
 public:
  TrunkBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, bool add_bias_kv,
                 const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;  // (B,L,D) -> (B,L,D)

  EncoderLayerNorm norm_1{nullptr};
  MultiheadAttention attn{nullptr};
  EncoderLayerNorm norm_2{nullptr};
  TrunkMlp mlp{nullptr};
};
TORCH_MODULE(TrunkBlock);

// SimpleTransformer. Keys: [pre_transformer_layer.0.{weight,bias}] (vision), blocks.{i}.*
class TrunkImpl : public torch::nn::Module {
 public:
  TrunkImpl(int64_t dim, int64_t num_blocks, int64_t heads, int64_t mlp_ratio, bool add_bias_kv,
            bool pre_layer_norm, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;  // (B,L,D) -> (B,L,D)

  torch::nn::ModuleList pre_transformer_layer{nullptr};  // null unless pre_layer_norm
  torch::nn::ModuleList blocks{nullptr};

 private:
  EncoderLayerNorm pre_norm_{nullptr};
  std::vector<TrunkBlock> block_list_;
};
TORCH_MODULE(Trunk);

}  // namespace ibllm::models
