// One decoder per ImageBind modality — file (or text) -> the tensor the tower takes — with the
// transform sizes taken from the model config, shared by `ibllm embed` and `ibllm generate`.
// vision ("image") uses the eval image transform, "video" the clip sampler (vision tower), "audio",
// "depth", "thermal", "imu", "point" their loaders, "text" the CLIP BPE tokenizer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "src/core/modality.h"
#include "trainers/run_config.h"

namespace ibllm::data {
class ClipTokenizer;
}

namespace ibllm::train {

using ModalityDecoder = std::function<at::Tensor(const std::string& path_or_text)>;

// Throws ConfigError when the config cannot serve the modality (sizes, text vocabulary), and
// UsageError for text without a BPE vocabulary.
ModalityDecoder make_modality_decoder(core::Modality modality, const RunConfig& cfg,
                                      std::shared_ptr<const data::ClipTokenizer> bpe);

}  // namespace ibllm::train
