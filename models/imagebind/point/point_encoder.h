// Point-Bind 3D branch (spec §7.3): Point-BERT PointTransformer (grouping -> mini-PointNet ->
// reduce_dim -> CLS + positional MLP -> transformer with the position added before every block ->
// LN -> [CLS, max] pooling) and the `pc_projection` matrix. Keys follow `point_trunk.*` of
// imagebind_w3D.pth; the ImageBind point head lives with the other heads.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "models/common/dense.h"
#include "models/imagebind/imagebind_config.h"
#include "models/imagebind/layers.h"

namespace ibllm::models {

// Mini-PointNet. Keys: first_conv.{0,1,3}.*, second_conv.{0,1,3}.* (index 2 = ReLU).
class PointNetEncoderImpl : public torch::nn::Module {
 public:
  PointNetEncoderImpl(const PointConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& groups) const;  // (B,G,K,3) -> (B,G,encoder_dims)

  torch::nn::ModuleList first_conv{nullptr};
  torch::nn::ModuleList second_conv{nullptr};

 private:
  PointConv1d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr};
  FrozenBatchNorm1d bn1_{nullptr}, bn2_{nullptr};
};
TORCH_MODULE(PointNetEncoder);

// Point-BERT attention: fused qkv Linear (no bias), scale hd^-0.5, proj Linear.
class PointAttentionImpl : public torch::nn::Module {
 public:
  PointAttentionImpl(int64_t dim, int64_t heads, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;  // (B,L,D) -> (B,L,D)

  Dense qkv{nullptr};
  Dense proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(PointAttention);

// Pre-LN block (LayerNorm eps 1e-5). Keys: norm1, attn.{qkv,proj}, norm2, mlp.{fc1,fc2}.
class PointBlockImpl : public torch::nn::Module {
 public:
  PointBlockImpl(int64_t dim, int64_t heads, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B,L,D) -> (B,L,D)

  EncoderLayerNorm norm1{nullptr};
  PointAttention attn{nullptr};
  EncoderLayerNorm norm2{nullptr};
  Dense fc1{nullptr};  // registered under mlp
  Dense fc2{nullptr};
};
TORCH_MODULE(PointBlock);

// Keys (under point_trunk.point_encoder): cls_token, cls_pos, encoder.*, reduce_dim.*,
// pos_embed.{0,2}.*, blocks.blocks.{i}.*, norm.*
class PointEncoderImpl : public torch::nn::Module {
 public:
  PointEncoderImpl(const PointConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& points) const;  // (B,N,3) -> (B, 2*trans_dim)

  at::Tensor cls_token;
  at::Tensor cls_pos;
  PointNetEncoder encoder{nullptr};
  Dense reduce_dim{nullptr};
  torch::nn::ModuleList pos_embed{nullptr};  // [Linear(3,h), GELU, Linear(h,D)]
  std::vector<PointBlock> block_list;
  EncoderLayerNorm norm{nullptr};

 private:
  PointConfig cfg_;
  Dense pos1_{nullptr}, pos2_{nullptr};
};
TORCH_MODULE(PointEncoder);

// Keys: point_encoder.*, pc_projection (2*trans_dim, proj_dim).
class PointTrunkImpl : public torch::nn::Module {
 public:
  PointTrunkImpl(const PointConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& points) const;  // (B,N,3) -> (B,proj_dim)

  PointEncoder point_encoder{nullptr};
  at::Tensor pc_projection;
};
TORCH_MODULE(PointTrunk);

}  // namespace ibllm::models
