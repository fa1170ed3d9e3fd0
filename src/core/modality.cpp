// The modality table; see modality.h.
#include "src/core/modality.h"

#include <stdexcept>

namespace ibllm::core {

const std::vector<ModalityInfo>& modality_table() {
  using M = Modality;
  static const std::vector<ModalityInfo> table = {
      {M::kVision, "vision", M::kVision, false},  {M::kText, "text", M::kText, false},
      {M::kAudio, "audio", M::kAudio, true},      {M::kDepth, "depth", M::kDepth, true},
      {M::kThermal, "thermal", M::kThermal, true}, {M::kImu, "imu", M::kImu, true},
      {M::kPoint, "point", M::kPoint, true},      {M::kVideo, "video", M::kVision, true},
  };
  return table;
}

const ModalityInfo& modality_info(Modality m) {
  for (const auto& row : modality_table())
    if (row.id == m) return row;
  throw std::logic_error("modality without a row in modality_table()");
}

const std::string& modality_name(Modality m) { return modality_info(m).name; }

std::optional<Modality> find_modality(std::string_view name) {
  if (name == "image") return Modality::kVision;
  for (const auto& row : modality_table())
    if (row.name == name) return row.id;
  return std::nullopt;
}

namespace {

template <class Keep>
std::vector<std::string> names_where(Keep keep) {
  std::vector<std::string> out;
  for (const auto& row : modality_table())
    if (keep(row)) out.push_back(row.name);
  return out;
}

}  // namespace

const std::vector<std::string>& tower_names() {
  static const auto names = names_where([](const ModalityInfo& r) { return r.tower == r.id; });
  return names;
}

const std::vector<std::string>& input_names() {
  static const auto names = names_where([](const ModalityInfo&) { return true; });
  return names;
}

const std::vector<std::string>& row_modality_names() {
  static const auto names = names_where([](const ModalityInfo& r) { return r.row_key; });
  return names;
}

}  // namespace ibllm::core
