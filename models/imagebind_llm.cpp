// Composite forward: towers -> mixing -> bind network -> per-layer adapter inputs -> LLaMA.
#include "models/imagebind_llm.h"

#include <algorithm>
#include <cctype>

#include "src/core/error.h"
#include "src/core/modality.h"

namespace ibllm::models {

ImageBindLlmConfig resolve(ImageBindLlmConfig cfg) {
  auto fill = [](int64_t& v, int64_t want, const char* key) {
    if (v == 0) v = want;
    else if (v != want)
      throw ModelError(std::string("model.bind.") + key + " is " + std::to_string(v) +
                       " but the towers need " + std::to_string(want),
                       "leave it 0 to derive it from model.imagebind / model.llama");
  };
  fill(cfg.bind.in_dim, cfg.imagebind.out_dim, "in_dim");
  fill(cfg.bind.dim, cfg.llama.dim, "dim");
  if (cfg.query_layer < 0 || cfg.query_layer > cfg.llama.n_layers)
    throw ModelError("model.query_layer " + std::to_string(cfg.query_layer) + " outside [0, " +
                     std::to_string(cfg.llama.n_layers) + "]");
  if (cfg.query_layer == 0) cfg.query_layer = cfg.llama.n_layers;
  if (!cfg.llama.gated_injection)
    throw ModelError("model.llama.gated_injection must be true for ImageBind-LLM",
                     "the adapter input enters each layer through its zero-initialised gate");
  return cfg;
}

std::string imagebind_modality(const std::string& name) {
  std::string m = name;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto known = core::find_modality(m);
  return known ? core::modality_name(core::modality_info(*known).tower) : m;
}

ImageBindLlmImpl::ImageBindLlmImpl(const ImageBindLlmConfig& config, at::Device device,
                                   at::ScalarType frozen_dtype)
    : cfg_(resolve(config)), device_(device), frozen_dtype_(frozen_dtype) {
  const auto frozen = at::TensorOptions().device(device).dtype(frozen_dtype);
  const auto master = at::TensorOptions().device(device).dtype(at::kFloat);
  if (cfg_.build_imagebind)
    image_bind = register_module("image_bind", ImageBindModel(cfg_.imagebind, frozen));
  llama = register_module("llama", Llama(cfg_.llama, frozen));
  bind = BindNetwork(cfg_.bind, master);
  bind->attach(*this);
  prefix_query =
      register_module("prefix_query", TokenEmbedding(cfg_.query_layer, cfg_.llama.dim, master));
}

void ImageBindLlmImpl::reset_parameters() {
  if (image_bind) image_bind->reset_parameters();
  llama->reset_parameters();
  reset_added_parameters();
}

void ImageBindLlmImpl::reset_added_parameters() {
  bind->reset_parameters();
  prefix_query->reset_parameters();  // nn.Embedding: N(0, 1)
  llama->reset_delta_parameters();
}

at::Tensor ImageBindLlmImpl::embed(const std::string& modality, const at::Tensor& input) const {
  if (!image_bind)
    throw ModelError("this model was built without ImageBind towers (model.build_imagebind: "
                     "false); it takes precomputed embeddings only");
  at::NoGradGuard guard;
  auto x = input.to(device_);
  if (at::isFloatingType(x.scalar_type())) x = x.to(frozen_dtype_);
  auto e = image_bind->encode(imagebind_modality(modality), x).to(at::kFloat);
  // F.normalize(dim=-1): x / max(||x||, 1e-12)
  return e / e.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);
}

at::Tensor ImageBindLlmImpl::mix(const std::vector<std::pair<at::Tensor, double>>& embeddings) const {
  TORCH_CHECK(!embeddings.empty(), "mix: no embeddings");
  double total = 0.0;
  for (const auto& e : embeddings) total += e.second;
  at::Tensor f;
  for (const auto& [e, w] : embeddings) {
    auto term = e * (w / (total + cfg_.mixing.weight_eps));
    f = f.defined() ? f + term : term;
  }
  if (cfg_.mixing.renormalize) f = f / f.norm(2, {-1}, true).clamp_min(1e-12);
  return f;
}

at::Tensor ImageBindLlmImpl::encode(const std::vector<ModalityInput>& inputs) const {
  std::vector<std::pair<at::Tensor, double>> e;
  for (const auto& in : inputs) e.emplace_back(embed(in.modality, in.input), in.weight);
  return mix(e);
}

std::vector<at::Tensor> ImageBindLlmImpl::adapter_inputs(const at::Tensor& f,
                                                         const at::Tensor& has_visual) {
  // f (B,in) -> T (B,1,D); a_l = T + prefix_query[l]
  auto t = bind->forward(f.to(device_, at::kFloat));
  at::Tensor keep;  // (B,1,1) 1 = inject, 0 = text-only row
  if (has_visual.defined()) keep = has_visual.to(device_).to(at::kFloat).view({-1, 1, 1});
  const int64_t n = cfg_.llama.n_layers, first = n - cfg_.query_layer;
  std::vector<at::Tensor> a(static_cast<size_t>(n));
  auto prefix = prefix_query->weight;
  for (int64_t l = first; l < n; ++l) {
    auto al = t + prefix[l - first].view({1, 1, -1});
    if (keep.defined()) al = al * keep;
    a[static_cast<size_t>(l)] = al;
  }
  return a;
}

at::Tensor ImageBindLlmImpl::forward(const at::Tensor& tokens, const at::Tensor& f,
                                     const at::Tensor& has_visual) {
  // tokens (B,S), f (B,in) -> logits (B,S,V)
  auto tok = tokens.to(device_);
  if (!f.defined()) return llama->forward(tok);
  return llama->forward(tok, adapter_inputs(f, has_visual));
}

}  // namespace ibllm::models
