// The ImageBind encoder set (spec §1.1): per modality preprocessor -> trunk -> head ->
// postprocessor, registered in four dicts whose keys are the official ones
// (`modality_preprocessors.vision.rgbt_stem.proj.1.weight`, ...), plus the Point-Bind
// `point_trunk`. Only configured modalities are allocated. Frozen: parameters never require grad.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/imagebind/heads.h"
#include "models/imagebind/imagebind_config.h"
#include "models/imagebind/point/point_encoder.h"
#include "models/imagebind/preprocessors.h"
#include "models/imagebind/transformer.h"

namespace ibllm::models {

// Intermediate values of one encode() call (golden tests compare them to the reference).
struct ImageBindTrace {
  at::Tensor tokens;  // preprocessor output (B',L,D) (not for point)
  at::Tensor trunk;   // trunk output (B',L,D) (not for point)
  at::Tensor head;    // head output before normalisation (B',out)
};

class ImageBindModelImpl : public torch::nn::Module {
 public:
  // options: dtype/device of the parameters (kMeta builds the key layout without memory).
  explicit ImageBindModelImpl(const ImageBindConfig& config,
                              const at::TensorOptions& options = at::TensorOptions());
  // Deterministic default init for tests/random models (checkpoints overwrite everything).
  void reset_parameters();

  // One modality -> post-processed embeddings (B,out). Shapes (single clip / multi-clip):
  //   vision (B,3,H,W) image or (B,S,3,T,H,W) clips, (B,S,3,H,W) several images;
  //   text (B,L) int64; audio (B,S,1,H,W) or (B,1,H,W); depth/thermal (B,1,H,W);
  //   imu (B,6,T); point (B,N,3).
  // Inputs with ndim >= 5 are multi-clip: encoded as (B*S, ...), post-processed, averaged over S
  // (not re-normalised), as the reference does. Runs without autograd.
  at::Tensor encode(const std::string& modality, const at::Tensor& input,
                    ImageBindTrace* trace = nullptr) const;
  // All given modalities: {name: input} -> {name: (B,out)}.
  std::map<std::string, at::Tensor> forward(const std::map<std::string, at::Tensor>& inputs) const;

  // Every state-dict entry (parameters and buffers) with its shape, in registration order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> key_shapes() const;
  const ImageBindConfig& config() const { return config_; }

  torch::nn::ModuleDict modality_preprocessors{nullptr};
  torch::nn::ModuleDict modality_trunks{nullptr};
  torch::nn::ModuleDict modality_heads{nullptr};
  torch::nn::ModuleDict modality_postprocessors{nullptr};
  PointTrunk point_trunk{nullptr};

 private:
  at::Tensor encode_single(const std::string& m, const at::Tensor& x, ImageBindTrace* trace) const;

  ImageBindConfig config_;
  std::map<std::string, RgbdtPreprocessor> rgbdt_;
  ImuPreprocessor imu_{nullptr};
  TextPreprocessor text_{nullptr};
  std::map<std::string, Trunk> trunks_;
  std::map<std::string, TokenHead> token_heads_;
  TextHead text_head_{nullptr};
  std::map<std::string, Postprocessor> post_;
};
TORCH_MODULE(ImageBindModel);

}  // namespace ibllm::models
