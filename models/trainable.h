// Which parameters train: glob patterns over reference key names (config data, never
// `if (phase == …)` in models). Presets reproduce the reference get_trainable_params (spec §3.5):
// pretrain = bind network + prefix_query + gates; finetune = every llama.* name containing norm,
// bias or lora. Trainable parameters become fp32 master weights; everything else is frozen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/core/choice_table.h"

namespace ibllm::config {
class Section;
}
namespace torch::nn {
class Module;
}

namespace ibllm::models {

// model.trainable.preset; kNone trains only what `include` selects.
enum class TrainablePreset { kPretrain, kFinetune, kNone };
const core::ChoiceTable<TrainablePreset>& trainable_preset_names();  // pretrain, finetune, none

struct TrainableConfig {
  TrainablePreset preset = TrainablePreset::kPretrain;
  std::vector<std::string> include;  // extra globs ('*' spans dots) added to the preset's
  std::vector<std::string> exclude;  // globs removed afterwards
};

TrainableConfig parse_trainable_config(config::Section s);
// The preset's patterns followed by `include`.
std::vector<std::string> trainable_patterns(const TrainableConfig& c);

struct TrainableReport {
  std::vector<std::string> names;  // trainable parameter names, registration order
  int64_t trainable_params = 0;
  int64_t frozen_params = 0;
  // One line per pattern with the tensors/values it selected, then the totals.
  std::string summary;
};

// Checks only (no change): which parameters the patterns select. Throws ConfigError when a
// pattern selects nothing (e.g. the finetune preset on a model built without bias/LoRA).
TrainableReport select_trainable(torch::nn::Module& model, const TrainableConfig& c);
// select_trainable + requires_grad on exactly that set (off elsewhere) and fp32 for the trainable
// floating-point tensors (frozen ones keep their dtype).
TrainableReport apply_trainable(torch::nn::Module& model, const TrainableConfig& c);

}  // namespace ibllm::models
