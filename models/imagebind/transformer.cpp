// ImageBind trunk: multi-head attention with torch.nn.MultiheadAttention semantics, MLP, blocks.
// The attention math is written out (no fused kernel) so add_bias_kv and the additive text mask
// behave exactly as in torch 1.13's F.multi_head_attention_forward.
#include "models/imagebind/transformer.h"

#include <cmath>

#include "src/core/error.h"

namespace ibllm::models {

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim, int64_t heads, bool add_bias_kv,
                                               const at::TensorOptions& options)
    : dim_(dim), heads_(heads) {
  if (heads < 1 || dim % heads != 0)
    throw ModelError("attention: " + std::to_string(heads) + " heads do not divide dim " +
                     std::to_string(dim));
  in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * dim, dim}, options));
  in_proj_bias = register_parameter("in_proj_bias", at::empty({3 * dim}, options));
  out_proj = register_module("out_proj", Dense(dim, dim, true, options, DenseInit::kTorchLinear));
  if (add_bias_kv) {
    bias_k = register_parameter("bias_k", at::empty({1, 1, dim}, options));
    bias_v = register_parameter("bias_v", at::empty({1, 1, dim}, options));
  }
}

void MultiheadAttentionImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  // As torch's MultiheadAttention: xavier-uniform in_proj_weight, zero biases, xavier-normal
  // bias_k/bias_v (values are replaced when a checkpoint is loaded).
  const double bound = std::sqrt(6.0 / static_cast<double>(dim_ + 3 * dim_));
  in_proj_weight.uniform_(-bound, bound);
  in_proj_bias.zero_();
  out_proj->reset_parameters();
  out_proj->bias.zero_();
  if (bias_k.defined()) {
    const double std = std::sqrt(2.0 / static_cast<double>(1 + dim_));
    bias_k.normal_(0.0, std);
    bias_v.normal_(0.0, std);
  }
}

at::Tensor MultiheadAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) const {
  // x: (B, L, D) -> (B, L, D)
  const int64_t B = x.size(0), L = x.size(1), hd = dim_ / heads_;
  auto qkv = at::linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);  // rows ordered [q; k; v]
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  at::Tensor attn_mask = mask;
  int64_t S = L;
  if (bias_k.defined()) {
    // add_bias_kv: one extra key/value in projected space, appended at the end of the keys.
    k = at::cat({k, bias_k.expand({B, 1, dim_})}, 1);
    v = at::cat({v, bias_v.expand({B, 1, dim_})}, 1);
    S = L + 1;
    if (attn_mask.defined()) attn_mask = at::constant_pad_nd(attn_mask, {0, 1}, 0.0);
  }
  auto split = [&](const at::Tensor& t, int64_t len) {
    return t.reshape({B, len, heads_, hd}).transpose(1, 2);  // (B, H, len, hd)
  };
  // torch scales q by 1/sqrt(hd) before the product (same as scaling the scores, up to rounding)
  at::Tensor qh = split(q, L) * (1.0 / std::sqrt(static_cast<double>(hd)));
  at::Tensor scores = at::matmul(qh, split(k, S).transpose(-2, -1));  // (B, H, L, S)
  if (attn_mask.defined()) scores = scores + attn_mask;
  at::Tensor probs = at::softmax(scores, -1);
  at::Tensor out = at::matmul(probs, split(v, S)).transpose(1, 2).reshape({B, L, dim_});
  return out_proj->forward(out);
}

TrunkMlpImpl::TrunkMlpImpl(int64_t dim, int64_t hidden, const at::TensorOptions& options) {
  fc1 = register_module("fc1", Dense(dim, hidden, true, options, DenseInit::kTorchLinear));
  fc2 = register_module("fc2", Dense(hidden, dim, true, options, DenseInit::kTorchLinear));
}

void TrunkMlpImpl::reset_parameters() {
  fc1->reset_parameters();
  fc2->reset_parameters();
}

at::Tensor TrunkMlpImpl::forward(const at::Tensor& x) const {
  return fc2->forward(at::gelu(fc1->forward(x)));  // nn.GELU() default: exact erf form
}

TrunkBlockImpl::TrunkBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, bool add_bias_kv,
                               const at::TensorOptions& options) {
  attn = register_module("attn", MultiheadAttention(dim, heads, add_bias_kv, options));
  norm_1 = register_module("norm_1", EncoderLayerNorm(dim, 1e-6, options));
  mlp = register_module("mlp", TrunkMlp(dim, dim * mlp_ratio, options));
  norm_2 = register_module("norm_2", EncoderLayerNorm(dim, 1e-6, options));
}

void TrunkBlockImpl::reset_parameters() {
  attn->reset_parameters();
  norm_1->reset_parameters();
  mlp->reset_parameters();
  norm_2->reset_parameters();
}

at::Tensor TrunkBlockImpl::forward(const at::Tensor& x, const at::Tensor& mask) const {
  // (B,L,D) -> (B,L,D); drop-path is training-only and the encoders are frozen
  at::Tensor h = x + attn->forward(norm_1->forward(x), mask);
  return h + mlp->forward(norm_2->forward(h));
}

TrunkImpl::TrunkImpl(int64_t dim, int64_t num_blocks, int64_t heads, int64_t mlp_ratio,
                     bool add_bias_kv, bool pre_layer_norm, const at::TensorOptions& options) {
  if (pre_layer_norm) {
    pre_transformer_layer = register_module("pre_transformer_layer", torch::nn::ModuleList());
    pre_norm_ = EncoderLayerNorm(dim, 1e-6, options);
    pre_transformer_layer->push_back(pre_norm_);
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_blocks; ++i) {
    block_list_.push_back(TrunkBlock(dim, heads, mlp_ratio, add_bias_kv, options));
    blocks->push_back(block_list_.back());
  }
}

void TrunkImpl::reset_parameters() {
  if (pre_norm_) pre_norm_->reset_parameters();
  for (auto& b : block_list_) b->reset_parameters();
}

at::Tensor TrunkImpl::forward(const at::Tensor& x, const at::Tensor& mask) const {
  // (B,L,D) -> (B,L,D)
  at::Tensor h = pre_norm_ ? pre_norm_->forward(x) : x;
  for (const auto& b : block_list_) h = b->forward(h, mask);
  return h;
}

}  // namespace ibllm::models
