// Torch-free configuration of the ImageBind-LLM composite: the towers, the bind network, the
// modality mixing, the injection depth, and where the weights come from (`model.init`). Included
// by the run config and the CLI without the torch headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/bind/bind_config.h"
#include "models/imagebind/imagebind_config.h"
#include "models/llama/config.h"

namespace ibllm::config {
class Section;
}

namespace ibllm::models {

struct ImageBindLlmConfig {
  LlamaConfig llama;
  ImageBindConfig imagebind;
  BindConfig bind;
  MixingConfig mixing;
  int64_t query_layer = 0;      // injection into the last N layers (0: all, the reference)
  bool build_imagebind = true;  // false: no towers (training from cached embeddings)
};

// YAML `model.init` (spec §6 assembly order).
struct ModelInitConfig {
  std::string imagebind;   // imagebind_w3D.pth / .safetensors; "" = random towers
  std::string llama;       // base weights: consolidated.*.pth (or dir), HF safetensors/bin
  std::string checkpoint;  // ImageBind-LLM weights (7B.pth, exports, checkpoint dirs)
  std::vector<std::string> allow_missing;  // globs of delta keys the checkpoint may lack
  bool random_base = false;  // required to run without `imagebind`/`llama` files (tests, bench)
};

ModelInitConfig parse_model_init_config(config::Section s);

}  // namespace ibllm::models
