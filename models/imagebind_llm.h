// The ImageBind-LLM composite (spec §3.1): frozen ImageBind towers -> per-modality L2-normalised
// embeddings mixed with normalised user weights -> bind network -> per-layer adapter inputs
// a_l = T + prefix_query[l] injected through the zero-initialised gates of the LLaMA layers.
// State-dict keys are the reference ones: `image_bind.modality_…`, `image_bind_proj.weight`,
// `image_bind_f1_1.weight`, `prefix_query.weight`, `llama.layers.N.attention.gate`. Frozen towers
// take `frozen_dtype` (bf16 on CUDA); bind network, prefix and deltas are fp32 master weights.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/imagebind_llm_config.h"
#include "models/bind/bind_network.h"
#include "models/common/embedding.h"
#include "models/imagebind/imagebind_config.h"
#include "models/imagebind/imagebind_model.h"
#include "models/llama/config.h"
#include "models/llama/llama.h"

namespace ibllm::models {

// Bind widths filled from the towers; throws ModelError on inconsistent explicit values.
ImageBindLlmConfig resolve(ImageBindLlmConfig cfg);

// One conditioning input: an ImageBind modality ("vision"/"image"/"video" -> vision, "audio",
// "point", ...) with its tensor and mixing weight.
struct ModalityInput {
  std::string modality;
  at::Tensor input;
  double weight = 1.0;
};

// ImageBind modality name for a user-facing one ("Image", "video" -> "vision"; others lower-cased).
std::string imagebind_modality(const std::string& name);

class ImageBindLlmImpl : public torch::nn::Module {
 public:
  // Allocation only (no random numbers): call reset_parameters() or load weights.
  ImageBindLlmImpl(const ImageBindLlmConfig& cfg, at::Device device = at::kCPU,
                   at::ScalarType frozen_dtype = at::kFloat);
  // Reference init of everything (random towers and base: tests, benchmarks).
  void reset_parameters();
  // Reference init of the ImageBind-LLM additions only: bind network (nn defaults), prefix_query
  // N(0,1), gates / biases / LoRA B zero, LoRA A default. Call after loading base weights.
  void reset_added_parameters();

  // Unit embeddings of one modality, (B, out) fp32: F.normalize(ImageBind_m(x)) (no grad).
  at::Tensor embed(const std::string& modality, const at::Tensor& input) const;
  // Spec §3.1 step 2: f = Σ w_m/(Σw + eps) · e_m over unit embeddings (B, out); optional renorm.
  at::Tensor mix(const std::vector<std::pair<at::Tensor, double>>& embeddings) const;
  at::Tensor encode(const std::vector<ModalityInput>& inputs) const;  // embed + mix

  // f (B, out) -> one adapter input per LLaMA layer, (B,1,D) fp32 (undefined for layers without
  // injection). Rows where `has_visual` (B bool, optional) is false get a zero input, i.e. no
  // injection at all for text-only samples (the reference injects a zero image instead).
  std::vector<at::Tensor> adapter_inputs(const at::Tensor& f, const at::Tensor& has_visual = {});
  // tokens (B,S), f (B,out) or undefined (no conditioning) -> logits (B,S,V) fp32.
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& f,
                     const at::Tensor& has_visual = {});

  const ImageBindLlmConfig& config() const { return cfg_; }
  at::Device device() const { return device_; }
  at::ScalarType frozen_dtype() const { return frozen_dtype_; }

  ImageBindModel image_bind{nullptr};  // "image_bind" (absent when !build_imagebind)
  Llama llama{nullptr};                // "llama"
  BindNetwork bind{nullptr};           // registers image_bind_* at the top level
  TokenEmbedding prefix_query{nullptr};  // "prefix_query", (query_layers, D)

 private:
  ImageBindLlmConfig cfg_;
  at::Device device_;
  at::ScalarType frozen_dtype_;
};
TORCH_MODULE(ImageBindLlm);

}  // namespace ibllm::models
