// Strict ImageBind weight loading (see imagebind_weights.h): the only tolerated extras are whole
// modalities that were left out of imagebind.modalities.
#include "models/imagebind/imagebind_weights.h"

#include "src/core/error.h"
#include "src/io/pth_reader.h"
#include "src/io/safetensors.h"

namespace ibllm::models {

io::LoadReport load_imagebind_weights(ImageBindModelImpl& model,
                                      const std::map<std::string, at::Tensor>& tensors) {
  io::StateDictOptions opts;
  opts.strict = true;
  for (const auto& m : core::tower_names()) {
    if (model.config().has(m)) continue;
    if (m == "point") opts.ignore_unexpected.push_back("point_trunk.*");
    for (const char* dict : {"modality_preprocessors.", "modality_trunks.", "modality_heads.",
                             "modality_postprocessors."})
      opts.ignore_unexpected.push_back(std::string(dict) + m + ".*");
  }
  return io::load_state_dict(model, tensors, opts);
}

io::LoadReport load_imagebind_weights(ImageBindModelImpl& model, const std::string& path) {
  const auto dot = path.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::map<std::string, at::Tensor> tensors;
  if (ext == "safetensors") {
    tensors = io::read_safetensors(path);
  } else if (ext == "pth" || ext == "pt") {
    tensors = io::read_pth(path);
  } else {
    throw CheckpointError("unknown ImageBind weight file type '" + path + "'",
                          "use the official .pth or a .safetensors conversion");
  }
  try {
    return load_imagebind_weights(model, tensors);
  } catch (const CheckpointError& e) {
    throw CheckpointError("loading ImageBind weights from '" + path + "': " + e.what(), e.hint());
  }
}

}  // namespace ibllm::models
