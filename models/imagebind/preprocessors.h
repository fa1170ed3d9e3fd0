// ImageBind modality preprocessors (spec §1.3): stem -> tokens (B,N,D) -> [stem LN] -> CLS ->
// + positional embedding. Vision keeps the reference Sequential `rgbt_stem.proj = [PadIm2Video,
// Conv3d]` (key `proj.1.weight`) and, for still images, can use the exact Conv2d equivalent
// (kernel summed over its 2 time slices) instead of repeating the frame.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "models/common/dense.h"
#include "models/common/embedding.h"
#include "models/imagebind/imagebind_config.h"
#include "models/imagebind/layers.h"

namespace ibllm::models {

// Stem: proj (conv or linear) then optional LayerNorm (eps 1e-5). Keys: proj.weight or
// proj.1.weight (vision), [norm_layer.{weight,bias}].
class PatchStemImpl : public torch::nn::Module {
 public:
  // kind: "video" (Conv3d behind an index-0 placeholder), "conv2d", "linear"
  PatchStemImpl(const std::string& kind, const ModalityConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  // (B,C,...) -> (B,N,D) tokens in row-major (t,h,w) order
  at::Tensor forward(const at::Tensor& x, bool image_conv2d) const;

  torch::nn::ModuleList proj_list{nullptr};  // vision: [placeholder, conv]
  PatchConv conv{nullptr};                   // vision/audio/depth/thermal
  Dense linear{nullptr};                     // imu
  EncoderLayerNorm norm_layer{nullptr};

 private:
  std::string kind_;
};
TORCH_MODULE(PatchStem);

// Vision / audio / depth / thermal. Keys: cls_token (1,1,D), <stem>.*, pos_embedding_helper.pos_embed.
class RgbdtPreprocessorImpl : public torch::nn::Module {
 public:
  RgbdtPreprocessorImpl(const std::string& modality, const ModalityConfig& c,
                        const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x, bool image_conv2d) const;  // -> (B, 1+N, D)

  PatchStem stem{nullptr};  // registered as rgbt_stem or depth_stem
  at::Tensor cls_token;
  TensorHolder pos_embedding_helper{nullptr};  // .pos_embed (1, 1+N, D)

 private:
  std::string modality_;
  std::vector<int64_t> expected_;  // per-sample input shape (C,[T],H,W)
};
TORCH_MODULE(RgbdtPreprocessor);

// IMU: (B,C,T) cut into windows -> (B,T/w,C*w) -> Linear(no bias) + LN -> CLS -> + pos_embed.
// Keys: cls_token, pos_embed (not under pos_embedding_helper), imu_stem.{proj,norm_layer}.
class ImuPreprocessorImpl : public torch::nn::Module {
 public:
  ImuPreprocessorImpl(const ModalityConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x) const;  // (B,C,T) -> (B, 1+T/w, D)

  PatchStem imu_stem{nullptr};
  at::Tensor cls_token;
  at::Tensor pos_embed;

 private:
  int64_t channels_, samples_, window_;
};
TORCH_MODULE(ImuPreprocessor);

// Text: token embedding + pos_embed (no CLS); the causal additive mask is a persistent buffer.
// Keys: token_embedding.weight (V,D), pos_embed (1,L,D), mask (L,L).
class TextPreprocessorImpl : public torch::nn::Module {
 public:
  TextPreprocessorImpl(const ModalityConfig& c, const at::TensorOptions& options);
  void reset_parameters();
  at::Tensor forward(const at::Tensor& ids) const;  // (B,L) int64 -> (B,L,D)

  TokenEmbedding token_embedding{nullptr};
  at::Tensor pos_embed;
  at::Tensor mask;

 private:
  int64_t vocab_, context_;
};
TORCH_MODULE(TextPreprocessor);

}  // namespace ibllm::models
