// Loading official ImageBind weights by their own key names: imagebind_huge.pth (1311 entries),
// imagebind_w3D.pth (1476, + Point-Bind) or a safetensors conversion of either. Missing keys are
// always errors (the reference's Point-LLM path never checks them, spec §9.2); checkpoint entries
// of modalities this model was not built with are skipped and reported, anything else unexpected
// is an error.
#pragma once

#include <string>

#include "models/imagebind/imagebind_model.h"
#include "src/io/state_dict.h"

namespace ibllm::models {

// .pth / .pt (torch.save zip) or .safetensors. Throws CheckpointError listing every problem.
io::LoadReport load_imagebind_weights(ImageBindModelImpl& model, const std::string& path);
// Same for tensors already in memory (names as in the official state dict).
io::LoadReport load_imagebind_weights(ImageBindModelImpl& model,
                                      const std::map<std::string, at::Tensor>& tensors);

}  // namespace ibllm::models
