// Point-Bind encoder (spec §7.3). Inference only: BatchNorm uses running statistics, drop-path is
// off. Grouping is the deterministic FPS/kNN of point_grouping.cpp.
#include "models/imagebind/point/point_encoder.h"

#include <cmath>

#include "models/imagebind/point/point_grouping.h"
#include "src/core/error.h"

namespace ibllm::models {

namespace {

// A module holding only submodules (the reference's `blocks` wrapper around `blocks.blocks`, and
// the `mlp` of a block).
class ContainerImpl : public torch::nn::Module {};
TORCH_MODULE(Container);

}  // namespace

PointNetEncoderImpl::PointNetEncoderImpl(const PointConfig& c, const at::TensorOptions& options) {
  conv1_ = PointConv1d(3, c.conv1_dim, options);
  bn1_ = FrozenBatchNorm1d(c.conv1_dim, options);
  conv2_ = PointConv1d(c.conv1_dim, c.conv2_dim, options);
  conv3_ = PointConv1d(2 * c.conv2_dim, c.conv3_dim, options);
  bn2_ = FrozenBatchNorm1d(c.conv3_dim, options);
  conv4_ = PointConv1d(c.conv3_dim, c.encoder_dims, options);
  first_conv = register_module("first_conv", torch::nn::ModuleList());
  first_conv->push_back(conv1_);
  first_conv->push_back(bn1_);
  first_conv->push_back(IndexPlaceholder());  // ReLU
  first_conv->push_back(conv2_);
  second_conv = register_module("second_conv", torch::nn::ModuleList());
  second_conv->push_back(conv3_);
  second_conv->push_back(bn2_);
  second_conv->push_back(IndexPlaceholder());  // ReLU
  second_conv->push_back(conv4_);
}

void PointNetEncoderImpl::reset_parameters() {
  conv1_->reset_parameters();
  bn1_->reset_parameters();
  conv2_->reset_parameters();
  conv3_->reset_parameters();
  bn2_->reset_parameters();
  conv4_->reset_parameters();
}

at::Tensor PointNetEncoderImpl::forward(const at::Tensor& groups) const {
  // (B,G,K,3) -> per group (BG,3,K) -> conv/bn/relu/conv -> (BG,c2,K) -> [max ; x] (BG,2c2,K)
  // -> conv/bn/relu/conv -> max over K -> (B,G,encoder_dims)
  const int64_t B = groups.size(0), G = groups.size(1), K = groups.size(2);
  at::Tensor x = groups.reshape({B * G, K, 3}).transpose(2, 1);
  x = conv2_->forward(at::relu(bn1_->forward(conv1_->forward(x))));
  at::Tensor global = std::get<0>(x.max(2, /*keepdim=*/true));
  x = at::cat({global.expand({-1, -1, K}), x}, 1);
  x = conv4_->forward(at::relu(bn2_->forward(conv3_->forward(x))));
  return std::get<0>(x.max(2)).reshape({B, G, -1});
}

PointAttentionImpl::PointAttentionImpl(int64_t dim, int64_t heads, const at::TensorOptions& options)
    : heads_(heads) {
  qkv = register_module("qkv", Dense(dim, 3 * dim, false, options, DenseInit::kTorchLinear));
  proj = register_module("proj", Dense(dim, dim, true, options, DenseInit::kTorchLinear));
}

at::Tensor PointAttentionImpl::forward(const at::Tensor& x) const {
  // (B,L,D) -> qkv (3,B,H,L,hd) -> softmax(q k^T * hd^-0.5) v -> (B,L,D) -> proj
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), hd = D / heads_;
  at::Tensor qkv_t = qkv->forward(x).reshape({B, L, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv_t[0], k = qkv_t[1], v = qkv_t[2];
  at::Tensor a = at::matmul(q, k.transpose(-2, -1)) * std::pow(static_cast<double>(hd), -0.5);
  at::Tensor out = at::matmul(at::softmax(a, -1), v).transpose(1, 2).reshape({B, L, D});
  return proj->forward(out);
}

PointBlockImpl::PointBlockImpl(int64_t dim, int64_t heads, const at::TensorOptions& options) {
  norm1 = register_module("norm1", EncoderLayerNorm(dim, 1e-5, options));
  attn = register_module("attn", PointAttention(dim, heads, options));
  norm2 = register_module("norm2", EncoderLayerNorm(dim, 1e-5, options));
  auto mlp = register_module("mlp", Container());
  fc1 = mlp->register_module("fc1", Dense(dim, 4 * dim, true, options, DenseInit::kTorchLinear));
  fc2 = mlp->register_module("fc2", Dense(4 * dim, dim, true, options, DenseInit::kTorchLinear));
}

void PointBlockImpl::reset_parameters() {
  norm1->reset_parameters();
  attn->qkv->reset_parameters();
  attn->proj->reset_parameters();
  norm2->reset_parameters();
  fc1->reset_parameters();
  fc2->reset_parameters();
}

at::Tensor PointBlockImpl::forward(const at::Tensor& x) const {
  at::Tensor h = x + attn->forward(norm1->forward(x));
  return h + fc2->forward(at::gelu(fc1->forward(norm2->forward(h))));
}

PointEncoderImpl::PointEncoderImpl(const PointConfig& c, const at::TensorOptions& options)
    : cfg_(c) {
  const int64_t D = c.trans_dim;
  cls_token = register_parameter("cls_token", at::empty({1, 1, D}, options));
  cls_pos = register_parameter("cls_pos", at::empty({1, 1, D}, options));
  encoder = register_module("encoder", PointNetEncoder(c, options));
  reduce_dim = register_module("reduce_dim",
                               Dense(c.encoder_dims, D, true, options, DenseInit::kTorchLinear));
  pos1_ = Dense(3, c.pos_hidden_dim, true, options, DenseInit::kTorchLinear);
  pos2_ = Dense(c.pos_hidden_dim, D, true, options, DenseInit::kTorchLinear);
  pos_embed = register_module("pos_embed", torch::nn::ModuleList());
  pos_embed->push_back(pos1_);
  pos_embed->push_back(IndexPlaceholder());  // GELU
  pos_embed->push_back(pos2_);
  auto outer = register_module("blocks", Container());
  auto list = outer->register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    block_list.push_back(PointBlock(D, c.num_heads, options));
    list->push_back(block_list.back());
  }
  norm = register_module("norm", EncoderLayerNorm(D, 1e-5, options));
}

void PointEncoderImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  cls_token.normal_(0.0, 0.02);
  cls_pos.normal_(0.0, 0.02);
  encoder->reset_parameters();
  reduce_dim->reset_parameters();
  pos1_->reset_parameters();
  pos2_->reset_parameters();
  for (auto& b : block_list) b->reset_parameters();
  norm->reset_parameters();
}

at::Tensor PointEncoderImpl::forward(const at::Tensor& points) const {
  // (B,N,3) -> groups (B,G,K,3) -> tokens (B,1+G,D) -> blocks -> [CLS ; max over groups] (B,2D)
  if (points.dim() != 3 || points.size(2) != 3)
    throw ModelError("point encoder expects points (B,N,3), got " + std::to_string(points.dim()) +
                     "-D input");
  if (!at::isfinite(points).all().item<bool>())
    throw ModelError("point cloud contains NaN or infinite coordinates",
                     "clean the input (the loader rejects such files)");
  // grouping in fp32 whatever the parameter dtype (bf16 distances would reorder neighbours)
  PointGroups g = group_points(points.to(at::kFloat), cfg_.num_group, cfg_.group_size);
  const auto dtype = cls_token.scalar_type();
  at::Tensor tokens = reduce_dim->forward(encoder->forward(g.neighborhoods.to(dtype)));  // (B,G,D)
  const int64_t B = tokens.size(0), D = tokens.size(2);
  at::Tensor pos = pos2_->forward(at::gelu(pos1_->forward(g.centers.to(dtype))));
  at::Tensor x = at::cat({cls_token.expand({B, 1, D}), tokens}, 1);
  pos = at::cat({cls_pos.expand({B, 1, D}), pos}, 1);
  for (const auto& b : block_list) x = b->forward(x + pos);  // position added before every block
  x = norm->forward(x);
  at::Tensor pooled = std::get<0>(x.narrow(1, 1, x.size(1) - 1).max(1));
  return at::cat({x.select(1, 0), pooled}, -1);
}

PointTrunkImpl::PointTrunkImpl(const PointConfig& c, const at::TensorOptions& options) {
  point_encoder = register_module("point_encoder", PointEncoder(c, options));
  pc_projection =
      register_parameter("pc_projection", at::empty({2 * c.trans_dim, c.proj_dim}, options));
}

void PointTrunkImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  point_encoder->reset_parameters();
  pc_projection.normal_(0.0, std::pow(static_cast<double>(pc_projection.size(0)), -0.5));
}

at::Tensor PointTrunkImpl::forward(const at::Tensor& points) const {
  return at::matmul(point_encoder->forward(points), pc_projection);  // (B,2D) @ (2D,P) -> (B,P)
}

}  // namespace ibllm::models
