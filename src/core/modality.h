// The modalities ImageBind-LLM knows, listed once. Every other list derives from this table: the
// ImageBind towers that can be built (model.imagebind.modalities, weight keys), the inputs a user
// can give (`ibllm generate --audio`, request keys, `ibllm embed --modality`), the extra path
// columns of a dataset row, and the decoders of modality_inputs. Adding a modality adds one row
// here (then its tower, transform and decoder, which the compiler asks for through the switches).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ibllm::core {

enum class Modality { kVision, kVideo, kText, kAudio, kDepth, kThermal, kImu, kPoint };

struct ModalityInfo {
  Modality id;
  std::string name;   // config, weights, request keys, CLI flags ("--audio")
  Modality tower;     // the ImageBind tower that encodes it (video: the vision tower)
  bool row_key;       // a dataset row may carry a path for it (the image has its own column)
};

// In the order of the table (the reference's order of towers, then video/point).
const std::vector<ModalityInfo>& modality_table();
const ModalityInfo& modality_info(Modality m);
const std::string& modality_name(Modality m);
// By name; "image" is accepted for "vision" (the name users and the reference's requests use).
std::optional<Modality> find_modality(std::string_view name);

// Derived lists (names, table order).
const std::vector<std::string>& tower_names();        // vision text audio depth thermal imu point
const std::vector<std::string>& input_names();        // every modality
const std::vector<std::string>& row_modality_names(); // video audio depth thermal imu point

}  // namespace ibllm::core
