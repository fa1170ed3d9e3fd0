// ImageBind encoder set: construction per configured modality, multi-clip reduction and dispatch.
// Heads/postprocessors per spec §1.5 (vision unscaled, text learnable, fixed buffers otherwise).
#include "models/imagebind/imagebind_model.h"

#include "src/core/error.h"

namespace ibllm::models {

ImageBindModelImpl::ImageBindModelImpl(const ImageBindConfig& config,
                                       const at::TensorOptions& options)
    : config_(config) {
  validate_imagebind_config(config_);
  modality_preprocessors = register_module("modality_preprocessors", torch::nn::ModuleDict());
  modality_trunks = register_module("modality_trunks", torch::nn::ModuleDict());
  modality_heads = register_module("modality_heads", torch::nn::ModuleDict());
  modality_postprocessors = register_module("modality_postprocessors", torch::nn::ModuleDict());
  const int64_t out = config_.out_dim;
  // Build in the reference's modality order whatever the order of the config list.
  for (const auto& m : core::tower_names()) {
    if (!config_.has(m)) continue;
    if (m == "point") {
      const PointConfig& p = config_.point;
      point_trunk = register_module("point_trunk", PointTrunk(p, options));
      TokenHead head(p.proj_dim, out, /*linear_index=*/2, /*select_cls=*/false, options);
      token_heads_.emplace(m, head);
      modality_heads->update({{m, head.ptr()}});
      Postprocessor post(true, 1.0, false, options);
      post_.emplace(m, post);
      modality_postprocessors->update({{m, post.ptr()}});
      continue;
    }
    const ModalityConfig& c = config_.modality(m);
    if (m == "text") {
      text_ = TextPreprocessor(c, options);
      modality_preprocessors->update({{m, text_.ptr()}});
    } else if (m == "imu") {
      imu_ = ImuPreprocessor(c, options);
      modality_preprocessors->update({{m, imu_.ptr()}});
    } else {
      RgbdtPreprocessor pre(m, c, options);
      rgbdt_.emplace(m, pre);
      modality_preprocessors->update({{m, pre.ptr()}});
    }
    Trunk trunk(c.embed_dim, c.num_blocks, c.num_heads, c.mlp_ratio, c.add_bias_kv,
                /*pre_layer_norm=*/m == "vision", options);
    trunks_.emplace(m, trunk);
    modality_trunks->update({{m, trunk.ptr()}});
    if (m == "text") {
      text_head_ = TextHead(c.embed_dim, out, options);
      modality_heads->update({{m, text_head_.ptr()}});
    } else {
      TokenHead head(c.embed_dim, out, m == "imu" ? 3 : 2, true, options);
      token_heads_.emplace(m, head);
      modality_heads->update({{m, head.ptr()}});
    }
    Postprocessor post(m != "vision", c.logit_scale, c.learnable_logit_scale, options);
    post_.emplace(m, post);
    modality_postprocessors->update({{m, post.ptr()}});
  }
  for (auto& p : parameters()) p.set_requires_grad(false);  // frozen encoder
  eval();
}

void ImageBindModelImpl::reset_parameters() {
  for (auto& [m, p] : rgbdt_) p->reset_parameters();
  if (imu_) imu_->reset_parameters();
  if (text_) text_->reset_parameters();
  for (auto& [m, t] : trunks_) t->reset_parameters();
  for (auto& [m, h] : token_heads_) h->reset_parameters();
  if (text_head_) text_head_->reset_parameters();
  for (auto& [m, p] : post_) p->reset_parameters();
  if (point_trunk) point_trunk->reset_parameters();
}

at::Tensor ImageBindModelImpl::encode_single(const std::string& m, const at::Tensor& x,
                                             ImageBindTrace* trace) const {
  // x: one clip per row -> (B', out) post-processed
  at::Tensor head;
  if (m == "point") {
    head = token_heads_.at(m)->forward(point_trunk->forward(x));
  } else {
    at::Tensor tokens, mask;
    if (m == "text") {
      tokens = text_->forward(x);
      mask = text_->mask;
    } else if (m == "imu") {
      tokens = imu_->forward(x);
    } else {
      tokens = rgbdt_.at(m)->forward(x, config_.image_conv2d_stem);
    }
    at::Tensor out = trunks_.at(m)->forward(tokens, mask);
    head = m == "text" ? text_head_->forward(out, x) : token_heads_.at(m)->forward(out);
    if (trace) {
      trace->tokens = tokens;
      trace->trunk = out;
    }
  }
  if (trace) trace->head = head;
  return post_.at(m)->forward(head);
}

at::Tensor ImageBindModelImpl::encode(const std::string& m, const at::Tensor& input,
                                      ImageBindTrace* trace) const {
  if (!post_.count(m)) {
    std::string built;
    for (const auto& [name, p] : post_) built += (built.empty() ? "" : ", ") + name;
    throw ModelError("modality '" + m + "' is not built in this ImageBind model (built: " + built +
                         ")",
                     "add it to imagebind.modalities");
  }
  at::NoGradGuard no_grad;
  at::Tensor x = input;
  if (m != "text") {
    // float inputs follow the parameter dtype/device (fp32 on CPU, bf16 on GPU); point clouds stay
    // fp32 so FPS/kNN pick the same neighbours as in fp32 (the encoder casts after grouping)
    const at::Tensor ref = parameters().front();
    x = x.to(ref.device(), m == "point" ? at::kFloat : ref.scalar_type());
  } else {
    x = x.to(text_->pos_embed.device());
  }
  const bool multi = x.dim() >= 5;
  if (!multi) return encode_single(m, x, trace);
  const int64_t B = x.size(0), S = x.size(1);
  std::vector<int64_t> flat = {B * S};
  for (int64_t d = 2; d < x.dim(); ++d) flat.push_back(x.size(d));
  at::Tensor f = encode_single(m, x.reshape(flat), trace);
  return f.reshape({B, S, -1}).mean(1);  // mean of post-processed clip embeddings, not renormalised
}

std::map<std::string, at::Tensor> ImageBindModelImpl::forward(
    const std::map<std::string, at::Tensor>& inputs) const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [m, x] : inputs) out[m] = encode(m, x);
  return out;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ImageBindModelImpl::key_shapes() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& kv : named_parameters()) out.emplace_back(kv.key(), kv.value().sizes().vec());
  for (const auto& kv : named_buffers()) out.emplace_back(kv.key(), kv.value().sizes().vec());
  return out;
}

}  // namespace ibllm::models
